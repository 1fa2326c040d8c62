package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/globalcloud/islands/forklift"
)

// runVerify: forklift verify. Exit 0 only when no table has a missing or mismatched cell.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("verify", stderr)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	shard, err := forklift.ParseShard(c.shard)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	draw, done := progressPrinter(stderr, log)
	rep, err := forklift.Verify(ctx, cfg, forklift.VerifyOptions{Shard: shard, Logger: log, Registerer: c.registry(log), Progress: draw})
	done()
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := c.writeReport(b); werr != nil && err == nil {
			err = werr
		}
		if c.jsonOut {
			fmt.Fprintln(stdout, string(b))
		} else {
			printVerify(stdout, rep)
		}
	}
	return err
}

func printVerify(w io.Writer, rep *forklift.VerifyReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRESOLVER\tSOURCE ROWS\tSUBRANGES EQUAL\tMISSING\tMISMATCHED\tSUPERSEDED\tQUARANTINED")
	for _, t := range rep.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%d\t%d\t%d\t%d\n", t.Table, t.Resolver, t.SourceRows, t.SubrangesEqual, t.Subranges,
			t.Missing, t.Mismatched, t.Superseded, t.Quarantined)
	}
	tw.Flush()
	for _, t := range rep.Tables {
		for _, d := range t.Samples {
			fmt.Fprintf(w, "  %s %s key (%s) clustering (%s) column %s: source %s destination %s\n",
				t.Table, d.Kind, d.Key, d.Clustering, d.Column, orDash(d.Source), orDash(d.Destination))
		}
	}
	verdict := "clean: no missing or mismatched cell"
	if !rep.Clean {
		verdict = fmt.Sprintf("DIFFERENT: %d missing, %d mismatched (forklift repair re-copies them)", rep.Missing, rep.Mismatch)
	}
	fmt.Fprintf(w, "verify %s in %.1fs: %s\n", rep.RunID, rep.Seconds, verdict)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
