package main

import (
	"context"
	"fmt"
	"io"

	"github.com/globalcloud/islands/forklift"
)

// forklift repair [--shard i/N]. Verifies, re-copies the differing subranges, verifies them again.
func init() {
	register(command{name: "repair", sharded: true, setup: noFlags(act(
		func(ctx context.Context, j *forklift.Job, e env) (*forklift.RepairReport, error) {
			return j.Repair(ctx, forklift.RepairOptions{Shard: e.shard, Progress: e.progress})
		}, newRepairOutput))})
}

type repairOutput struct{ *forklift.RepairReport }

func newRepairOutput(r *forklift.RepairReport) repairOutput { return repairOutput{r} }

func (o repairOutput) print(w io.Writer) {
	fmt.Fprintln(w, "before:")
	verifyOutput{o.Before}.print(w)
	if o.Copied != nil && len(o.Copied.Tables) > 0 {
		fmt.Fprintln(w, "re-copied:")
		runOutput{o.Copied}.print(w)
	}
	if o.After != nil {
		fmt.Fprintln(w, "after:")
		verifyOutput{o.After}.print(w)
	}
}
