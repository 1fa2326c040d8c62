package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/globalcloud/islands/forklift"
)

// forklift status: the run's checkpoints.
func init() {
	register(command{name: "status", setup: noFlags(act(
		func(ctx context.Context, j *forklift.Job, _ env) (*forklift.StatusReport, error) {
			return j.Status(ctx)
		}, newStatusOutput))})
}

type statusOutput struct{ *forklift.StatusReport }

func newStatusOutput(r *forklift.StatusReport) statusOutput { return statusOutput{r} }

func (o statusOutput) print(w io.Writer) {
	if len(o.Tables) == 0 {
		fmt.Fprintf(w, "run %s has no checkpoints\n", o.RunID)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRANGES DONE\tROWS\tPROGRESS\tLAST UPDATE")
	for _, t := range o.Tables {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%.1f%%\t%s\n", t.Table, t.RangesDone, t.Ranges, t.Rows, 100*t.Fraction, t.LastUpdated.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}
