package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/globalcloud/islands/forklift"
)

// forklift plan [--sample N]: schemas compared, ranges, size, sampled conflicts. Writes nothing.
func init() {
	register(command{name: "plan", setup: func(fs *flag.FlagSet) action {
		sample := fs.Int("sample", 0, "per table, sample N source partitions and count keys on both sides and conflicting cells per column")
		return act(func(ctx context.Context, j *forklift.Job, _ env) (*forklift.PlanReport, error) {
			return j.Plan(ctx, forklift.PlanOptions{Sample: *sample})
		}, newPlanOutput)
	}})
}

type planOutput struct{ *forklift.PlanReport }

func newPlanOutput(r *forklift.PlanReport) planOutput { return planOutput{r} }

func (o planOutput) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tDESTINATION\tRESOLVER\tMODE\tRANGES\tEST PARTITIONS\tEST BYTES")
	for _, t := range o.Tables {
		mode := "read-merge-write"
		if t.Blind {
			mode = "blind"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Table, t.Destination, t.Resolver, mode, t.Ranges, est(t.EstPartitions), est(t.EstBytes))
	}
	tw.Flush()
	for _, t := range o.Tables {
		if t.EstPartitions < 0 {
			fmt.Fprintln(w, "\nunknown: the source has no system.size_estimates for the table yet (Cassandra computes them every few"+
				" minutes, from flushed data only); run `nodetool refreshsizeestimates` (after `nodetool flush`) on a source node,"+
				" or plan again later")
			break
		}
	}
	for _, t := range o.Tables {
		if t.Sample == nil {
			continue
		}
		s := t.Sample
		fmt.Fprintf(w, "\n%s: sampled %d partitions, %d on both sides; rows on both %d, only in source %d, conflicting %d\n",
			t.Table, s.Partitions, s.OnBothSides, s.RowsOnBothSides, s.RowsOnlySource, s.ConflictingRows)
		if s.Partitions > 0 && s.OnBothSides == 0 {
			fmt.Fprintf(w, "  none of the %d sampled partitions exists in the destination: all source-only, nothing to merge "+
				"(a first copy writes them as they are)\n", s.Partitions)
		}
		fmt.Fprintf(w, "  resolver %s would write %d partitions and quarantine %d\n", t.Resolver, s.ResolverWrites, s.Quarantined)
		cols := make([]string, 0, len(s.Conflicts))
		for col := range s.Conflicts {
			cols = append(cols, col)
		}
		sort.Strings(cols)
		if len(cols) == 0 {
			fmt.Fprintln(w, "  no conflicting cells")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  COLUMN\tCONFLICTS\tSOURCE NEWER")
		for _, col := range cols {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", col, s.Conflicts[col], s.NewerInSource[col])
		}
		tw.Flush()
	}
}

func est(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d", n)
}
