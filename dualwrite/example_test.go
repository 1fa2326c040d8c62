package dualwrite_test

import (
	"context"
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
