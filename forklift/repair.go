package forklift

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RepairOptions are the knobs of one Repair.
type RepairOptions struct {
	// Found is a VerifyReport from an earlier Verify of this Job; nil: Repair verifies first.
	Found *VerifyReport
	// Shard limits the verify Repair runs first to this shard's ranges (zero value: every range).
	Shard Shard
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end of the
	// re-copy.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called.
	ProgressInterval time.Duration
}

// RepairReport is the result of Repair: what verify found, what was re-copied, and the verify after.
type RepairReport struct {
	Before *VerifyReport `json:"before"`
	Copied *RunReport    `json:"copied"`
	After  *VerifyReport `json:"after"`
}

// Repair re-copies, through the table's resolver, every subrange in which verify found a missing
// or mismatched cell, then verifies those subranges again. It keeps no checkpoints: a subrange is
// small, and a stopped repair is simply repaired again. Like Run it is idempotent: repairing twice
// writes nothing new. The error wraps ErrDifferences when differences remain after the repair.
func (j *Job) Repair(ctx context.Context, opts RepairOptions) (*RepairReport, error) {
	if err := j.checkGrants(ctx, true); err != nil {
		return nil, err
	}
	found := opts.Found
	if found == nil {
		var err error
		found, err = j.verify(ctx, opts.Shard.orOnly(), progressOptions{}, nil, false)
		if err != nil && found == nil {
			return nil, err
		}
	}
	shard := opts.Shard.orOnly()
	rep := &RepairReport{Before: found, Copied: &RunReport{RunID: j.cfg.RunID + "-repair",
		Shard: fmt.Sprintf("%d/%d", shard.Index, shard.Count), Started: time.Now().UTC()}}
	only := map[string][]TokenRange{}
	var items []*work
	byName := map[string]*table{}
	for _, t := range j.tables {
		byName[t.Name()] = t
	}
	stats := map[*table]*tableStats{}
	for _, tv := range found.Tables {
		t := byName[tv.Table]
		if t == nil || len(tv.DifferingRanges) == 0 {
			continue
		}
		stats[t] = &tableStats{}
		only[t.Name()] = tv.DifferingRanges
		for _, r := range tv.DifferingRanges {
			items = append(items, &work{t: t, stats: stats[t], r: r, from: r.Start})
		}
	}
	if len(items) == 0 {
		rep.After = found
		rep.Copied.Finished = time.Now().UTC()
		if !found.Clean {
			// Only partitions left in flight by a killed run remain: a resumed run repairs them.
			return rep, fmt.Errorf("%w: partitions left half-written by a killed run remain (in_flight): run --resume repairs them", ErrDifferences)
		}
		return rep, nil
	}
	c, err := j.newCopier(ctx, "repair", len(items), rep.Copied.Started.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	err = c.copyAll(ctx, items, progressOptions{opts.Progress, opts.ProgressInterval},
		func(context.Context, *work, int64, int64, bool) error { return nil })
	rep.Copied.Finished = time.Now().UTC()
	rep.Copied.Seconds = rep.Copied.Finished.Sub(rep.Copied.Started).Seconds()
	for t, st := range stats {
		tr := st.report(t, len(only[t.Name()]))
		rep.Copied.Tables = append(rep.Copied.Tables, tr)
		rep.Copied.Rows += tr.Rows
	}
	if rep.Copied.Seconds > 0 {
		rep.Copied.RowsPerSec = float64(rep.Copied.Rows) / rep.Copied.Seconds
	}
	sortTableReports(rep.Copied.Tables)
	if err != nil {
		return rep, fmt.Errorf("forklift: repair: %w", err)
	}
	rep.After, err = j.verify(ctx, Shard{0, 1}, progressOptions{}, only, true)
	if rep.After == nil || err != nil && !errors.Is(err, ErrDifferences) {
		return rep, err
	}
	// What the re-copy with the source's own timestamps did not bring back is shadowed by a newer
	// deletion in the destination: record it (see ShadowStore) and verify once more.
	ss := j.shadows()
	recorded := 0
	for i := range rep.After.Tables {
		tv := &rep.After.Tables[i]
		if len(tv.remaining) == 0 || ss == nil {
			continue
		}
		ids := make([]string, 0, len(tv.remaining))
		for _, d := range tv.remaining {
			if id := d.id(); id != "" { // a key-only row: unprovable, never recorded
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		if err := ss.SaveShadowed(ctx, j.cfg.RunID, tv.Table, ids); err != nil {
			return rep, err
		}
		recorded += len(ids)
		j.log.Info("repair: differences a re-copy with the source's timestamps did not clear are shadowed by newer deletions in the destination; recorded, reported as superseded from now on",
			"table", tv.Table, "shadowed", len(ids))
	}
	if recorded == 0 {
		return rep, err
	}
	rep.After, err = j.verify(ctx, Shard{0, 1}, progressOptions{}, only, false)
	return rep, err
}
