package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/globalcloud/islands/forklift"
)

// forklift run [--resume] [--shard i/N]. SIGINT/SIGTERM cancel ctx: workers stop after the page in
// hand, checkpoints hold, and the report says interrupted.
func init() {
	register(command{name: "run", sharded: true, setup: func(fs *flag.FlagSet) action {
		resume := fs.Bool("resume", false, "continue the run's checkpoints (redoes at most one page per range)")
		force := fs.Bool("force", false, "start even though the config's migration has instances that do not dual-write yet (logged)")
		return act(func(ctx context.Context, j *forklift.Job, e env) (*forklift.RunReport, error) {
			return j.Run(ctx, forklift.RunOptions{Resume: *resume, Shard: e.shard, Progress: e.progress, Force: *force})
		}, newRunOutput)
	}})
}

type runOutput struct{ *forklift.RunReport }

func newRunOutput(r *forklift.RunReport) runOutput { return runOutput{r} }

func (o runOutput) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRESOLVER\tRANGES DONE\tROWS\tPARTITIONS\tSTATEMENTS\tCONFLICTS\tQUARANTINED")
	for _, t := range o.Tables {
		var conflicts int64
		for _, n := range t.Conflicts {
			conflicts += n
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\n", t.Table, t.Resolver, t.RangesDone, t.Ranges, t.Rows,
			t.Partitions, t.Statements, conflicts, t.Quarantined)
	}
	tw.Flush()
	state := "finished"
	if o.Interrupted {
		state = "interrupted (checkpoints saved: run again with --resume)"
	}
	fmt.Fprintf(w, "run %s shard %s %s: %d rows in %.1fs (%.0f rows/s)\n", o.RunID, o.Shard, state, o.Rows, o.Seconds, o.RowsPerSec)
}
