package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/globalcloud/islands/forklift"
)

// runStatus: forklift status. Reads the run's checkpoints.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("status", stderr)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	rep, err := forklift.Status(ctx, cfg, nil)
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
	if len(rep.Tables) == 0 {
		fmt.Fprintf(stdout, "run %s has no checkpoints\n", rep.RunID)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRANGES DONE\tROWS\tPROGRESS\tLAST UPDATE")
	for _, t := range rep.Tables {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%.1f%%\t%s\n", t.Table, t.RangesDone, t.Ranges, t.Rows, 100*t.Fraction, t.LastUpdated.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
