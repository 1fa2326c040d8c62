package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/globalcloud/islands/forklift"
)

// runPlan: forklift plan [--sample N]. Writes nothing to either cluster.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("plan", stderr)
	sample := c.fs.Int("sample", 0, "per table, sample N source partitions and count keys on both sides and conflicting cells per column")
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	shard, err := forklift.ParseShard(c.shard)
	if err != nil {
		return err
	}
	rep, err := forklift.Plan(ctx, cfg, forklift.PlanOptions{Sample: *sample, Shard: shard})
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := c.writeReport(b); err != nil {
		return err
	}
	if c.jsonOut {
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	printPlan(stdout, rep)
	return nil
}

func printPlan(w io.Writer, rep *forklift.PlanReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tDESTINATION\tRESOLVER\tMODE\tRANGES\tEST PARTITIONS\tEST BYTES")
	for _, t := range rep.Tables {
		mode := "read-merge-write"
		if t.Blind {
			mode = "blind"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Table, t.Destination, t.Resolver, mode, t.Ranges, est(t.EstPartitions), est(t.EstBytes))
	}
	tw.Flush()
	for _, t := range rep.Tables {
		if t.Sample == nil {
			continue
		}
		s := t.Sample
		fmt.Fprintf(w, "\n%s: sampled %d partitions, %d on both sides; rows on both %d, only in source %d, conflicting %d\n",
			t.Table, s.Partitions, s.OnBothSides, s.RowsOnBothSides, s.RowsOnlySource, s.ConflictingRows)
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
	return strings.TrimSpace(fmt.Sprintf("%d", n))
}
