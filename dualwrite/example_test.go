package dualwrite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/dualwrite"
)

// Adopting dualwrite is a change at session construction: the application keeps gocql's
// Query(…).WithContext(ctx).Exec() and Scan, and every write now lands in both keyspaces with
// one client timestamp. A follower write that fails is kept in the replay log (here a directory)
// and replayed with its original timestamp until it lands.
func Example() {
	ctx := context.Background()
	island := gocql.NewCluster("cassandra-eu-island.example.internal")
	island.Keyspace = "island"
	global := gocql.NewCluster("cassandra-global.example.internal")
	global.Keyspace = "global"

	session, err := dualwrite.Open(ctx, island, global,
		dualwrite.WithName("profiles"),
		dualwrite.WithPhase(dualwrite.Dual), // write both, read the island
		dualwrite.WithReplayDir("/var/lib/app/replay"),
		dualwrite.WithLogger(slog.Default()),
		dualwrite.WithRegisterer(prometheus.DefaultRegisterer))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	if err := session.Query("UPDATE profiles SET plan = ? WHERE id = ?", "gold", 42).WithContext(ctx).Exec(); err != nil {
		log.Fatal(err)
	}
	var plan string
	if err := session.Query("SELECT plan FROM profiles WHERE id = ?", 42).WithContext(ctx).Scan(&plan); err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan)
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
