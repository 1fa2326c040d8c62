package forklift_test

import (
	"context"
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
