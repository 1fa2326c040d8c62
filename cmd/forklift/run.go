package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/globalcloud/islands/forklift"
)

// runRun: forklift run [--resume] [--shard i/N]. SIGINT/SIGTERM cancel ctx: workers stop after the
// page in hand, checkpoints hold, and the report says interrupted.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("run", stderr)
	resume := c.fs.Bool("resume", false, "continue the run's checkpoints (redoes at most one page per range)")
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
	rep, err := forklift.Run(ctx, cfg, forklift.RunOptions{Resume: *resume, Shard: shard, Logger: log,
		Registerer: c.registry(log), Progress: draw})
	done()
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := c.writeReport(b); werr != nil && err == nil {
			err = werr
		}
		if c.jsonOut {
			fmt.Fprintln(stdout, string(b))
		} else {
			printRun(stdout, rep)
		}
	}
	return err
}

func printRun(w io.Writer, rep *forklift.RunReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRESOLVER\tRANGES DONE\tROWS\tPARTITIONS\tSTATEMENTS\tCONFLICTS\tQUARANTINED")
	for _, t := range rep.Tables {
		var conflicts int64
		for _, n := range t.Conflicts {
			conflicts += n
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\n", t.Table, t.Resolver, t.RangesDone, t.Ranges, t.Rows,
			t.Partitions, t.Statements, conflicts, t.Quarantined)
	}
	tw.Flush()
	state := "finished"
	if rep.Interrupted {
		state = "interrupted (checkpoints saved: run again with --resume)"
	}
	fmt.Fprintf(w, "run %s shard %s %s: %d rows in %.1fs (%.0f rows/s)\n", rep.RunID, rep.Shard, state, rep.Rows, rep.Seconds, rep.RowsPerSec)
}
