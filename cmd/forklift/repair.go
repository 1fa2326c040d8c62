package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/globalcloud/islands/forklift"
)

// runRepair: forklift repair. Verifies, re-copies the differing subranges, verifies them again.
func runRepair(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("repair", stderr)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	shard, err := forklift.ParseShard(c.shard)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	rep, err := forklift.Repair(ctx, cfg, nil, forklift.RunOptions{Shard: shard, Logger: log, Registerer: c.registry(log)})
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := c.writeReport(b); werr != nil && err == nil {
			err = werr
		}
		if c.jsonOut {
			fmt.Fprintln(stdout, string(b))
		} else {
			fmt.Fprintln(stdout, "before:")
			printVerify(stdout, rep.Before)
			if rep.Copied != nil && len(rep.Copied.Tables) > 0 {
				fmt.Fprintln(stdout, "re-copied:")
				printRun(stdout, rep.Copied)
			}
			if rep.After != nil {
				fmt.Fprintln(stdout, "after:")
				printVerify(stdout, rep.After)
			}
		}
	}
	return err
}
