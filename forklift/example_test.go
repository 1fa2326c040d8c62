package forklift_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/forklift"
)

// Example is the README's "In Go: the Job handle" example, compiled by `go test` so it cannot
// drift: a forklift pass in-process over the application's own sessions.
func Example() {
	run := func(ctx context.Context, cfg forklift.Config, usSession, euSession *gocql.Session, logger *slog.Logger) error {
		job, err := forklift.Open(ctx, cfg,
			forklift.WithSessions(usSession, euSession), // or none: Open connects from cfg.source/destination
			forklift.WithLogger(logger), forklift.WithRegisterer(prometheus.DefaultRegisterer))
		if err != nil { // ErrConfig, ErrUnreachable, ErrTableNotFound, ErrIncompatibleSchema, ErrUnknownResolver
			return err
		}
		defer job.Close() // closes only the sessions Open made

		plan, err := job.Plan(ctx, forklift.PlanOptions{Sample: 200}) // writes nothing
		rep, err := job.Run(ctx, forklift.RunOptions{Resume: true, Shard: forklift.Shard{Index: 0, Count: 1}})
		ver, err := job.Verify(ctx, forklift.VerifyOptions{})           // errors.Is(err, forklift.ErrDifferences)
		fix, err := job.Repair(ctx, forklift.RepairOptions{Found: ver}) // re-copies what verify found
		st, err := job.Status(ctx)                                      // the run's checkpoints
		_, _, _, _ = plan, rep, fix, st
		return err
	}
	_ = run
}

// N processes share one run by shard: each owns the token ranges i, i+N, i+2N, … of the run's
// split of the ring, and all of them checkpoint into the same table.
func ExampleParseShard() {
	ranges := forklift.FullRing.Split(8)
	for _, spec := range []string{"0/4", "1/4", "3/4", "4/4"} {
		s, err := forklift.ParseShard(spec)
		if err != nil {
			fmt.Println(spec, "refused, a configuration error:", errors.Is(err, forklift.ErrConfig))
			continue
		}
		var owned []int
		for i := range ranges {
			if s.Owns(i) {
				owned = append(owned, i)
			}
		}
		fmt.Println(spec, "owns ranges", owned)
	}
	// Output:
	// 0/4 owns ranges [0 4]
	// 1/4 owns ranges [1 5]
	// 3/4 owns ranges [3 7]
	// 4/4 refused, a configuration error: true
}
