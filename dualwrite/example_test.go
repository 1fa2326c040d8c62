package dualwrite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/dualwrite"
)

// Example is the README's dualwrite example, compiled by `go test` so it cannot drift. Adopting
// dualwrite changes where the session is built (Open with both cluster configs instead of
// CreateSession) and its type (*dualwrite.Session); the query code stays as it is. The session
// starts in primary-only unless WithPhase says otherwise.
func Example() {
	ctx := context.Background()
	island := gocql.NewCluster("10.0.1.1") // your existing cluster configs
	global := gocql.NewCluster("10.0.2.1")
	session, err := dualwrite.Open(ctx, island, global,
		dualwrite.WithReplayDir("/var/lib/myapp/dualwrite"),              // durable replay log (required by the default policy)
		dualwrite.WithKeyspaceMap(map[string]string{"island": "global"}), // for statements that name their keyspace
		dualwrite.WithFollowerBudget(200*time.Millisecond),               // the default: what a slow follower may cost a caller
		dualwrite.WithPhase(dualwrite.Dual),                              // the default is primary-only: dual-write once decided
		dualwrite.WithName("profiles"),                                   // label of its metrics (several sessions, one registry)
		dualwrite.WithShadowReads(0.01), dualwrite.WithLogger(slog.Default()), dualwrite.WithRegisterer(prometheus.DefaultRegisterer))
	if err != nil {
		log.Fatal(err) // e.g. errors.Is(err, dualwrite.ErrNoKeyspace): names the side and the keyspace
	}
	defer session.Close()

	plan, id, title, pos := "premium", int64(42), int64(7), int64(120)
	err = session.Query(`UPDATE profiles SET plan = ? WHERE member_id = ?`, plan, id).WithContext(ctx).Exec()
	var name string
	err = session.Query(`SELECT name FROM profiles WHERE member_id = ?`, id).WithContext(ctx).Consistency(gocql.LocalQuorum).Scan(&name)
	b := session.NewBatch(gocql.UnloggedBatch)
	b.Query(`INSERT INTO bookmarks (member_id, title_id, position_s) VALUES (?, ?, ?)`, id, title, pos)
	err = session.ExecuteBatch(b.WithContext(ctx))
	_ = err
}

// A migration moves through the phases at run time, without a restart. SetPhaseWait returns once
// the new phase holds for every write that starts after it; a flip towards the secondary waits
// until the replay backlog to it is empty.
func ExampleSession_SetPhaseWait() {
	ctx := context.Background()
	primary, secondary := gocql.NewCluster("island.example.internal"), gocql.NewCluster("global.example.internal")
	session, err := dualwrite.Open(ctx, primary, secondary, dualwrite.WithReplayDir("/var/lib/app/replay"))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	for _, p := range []dualwrite.Phase{dualwrite.Dual, dualwrite.DualFlipped, dualwrite.SecondaryOnly} {
		if err := session.SetPhaseWait(ctx, p); err != nil {
			log.Fatalf("to %s: %v", p, err)
		}
		n, age := session.Backlog()
		fmt.Printf("phase %s, replay backlog %d (oldest %s)\n", p, n, age)
	}
}

// Phases have the names the configuration, the metrics' phase label and the operator's tools use.
func ExampleParsePhase() {
	for _, name := range []string{"primary-only", "dual", "dual-flipped", "secondary-only", "both"} {
		p, err := dualwrite.ParsePhase(name)
		if err != nil {
			fmt.Println(name, "refused:", errors.Is(err, dualwrite.ErrUnknownPhase))
			continue
		}
		fmt.Println(int(p), p)
	}
	// Output:
	// 0 primary-only
	// 1 dual
	// 2 dual-flipped
	// 3 secondary-only
	// both refused: true
}
