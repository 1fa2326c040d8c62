package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/globalcloud/islands/forklift"
)

// forklift verify [--shard i/N]. Exit 0 only when no table has a missing or mismatched cell.
func init() {
	register(command{name: "verify", sharded: true, setup: noFlags(act(
		func(ctx context.Context, j *forklift.Job, e env) (*forklift.VerifyReport, error) {
			return j.Verify(ctx, forklift.VerifyOptions{Shard: e.shard, Progress: e.progress})
		}, newVerifyOutput))})
}

type verifyOutput struct{ *forklift.VerifyReport }

func newVerifyOutput(r *forklift.VerifyReport) verifyOutput { return verifyOutput{r} }

func (o verifyOutput) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRESOLVER\tSOURCE ROWS\tSUBRANGES EQUAL\tMISSING\tMISMATCHED\tSUPERSEDED\tQUARANTINED")
	for _, t := range o.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%d\t%d\t%d\t%d\n", t.Table, t.Resolver, t.SourceRows, t.SubrangesEqual, t.Subranges,
			t.Missing, t.Mismatched, t.Superseded, t.Quarantined)
	}
	tw.Flush()
	for _, t := range o.Tables {
		for _, d := range t.Samples {
			col := "column " + d.Column
			if d.Column == "" {
				col = "whole row" // a row missing from the destination: Source lists its cells
			}
			fmt.Fprintf(w, "  %s %s key (%s) clustering (%s) %s: source %s destination %s\n",
				t.Table, d.Kind, d.Key, d.Clustering, col, orDash(d.Source), orDash(d.Destination))
			if d.Note != "" {
				fmt.Fprintf(w, "    %s\n", d.Note)
			}
		}
	}
	verdict := "clean: no missing or mismatched cell"
	if !o.Clean {
		verdict = fmt.Sprintf("DIFFERENT: %d missing, %d mismatched (forklift repair re-copies them)", o.Missing, o.Mismatch)
	}
	fmt.Fprintf(w, "verify %s in %.1fs: %s\n", o.RunID, o.Seconds, verdict)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
