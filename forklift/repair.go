package forklift

import (
	"context"
	"fmt"
	"time"
)

// RepairReport is the result of Repair: what verify found, what was re-copied, and the verify after.
type RepairReport struct {
	Before *VerifyReport `json:"before"`
	Copied *RunReport    `json:"copied"`
	After  *VerifyReport `json:"after"`
}

// Repair re-copies, through the table's resolver, every subrange in which verify found a missing
// or mismatched cell, then verifies those subranges again. found is a VerifyReport from an earlier
// Verify (nil: Repair verifies first). Like Run it is idempotent: repairing twice writes nothing
// new. The error wraps ErrDifferences when differences remain after the repair.
func Repair(ctx context.Context, cfg Config, found *VerifyReport, opts RunOptions) (*RepairReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := openSides(&cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	tables, err := loadTables(ctx, &cfg, s)
	if err != nil {
		return nil, err
	}
	vopts := VerifyOptions{Shard: opts.Shard, Logger: opts.Logger, Registerer: opts.Registerer}
	if found == nil {
		found, err = verifyTables(ctx, &cfg, s, tables, vopts, nil)
		if err != nil && found == nil {
			return nil, err
		}
	}
	rep := &RepairReport{Before: found, Copied: &RunReport{RunID: cfg.RunID + "-repair", Started: time.Now().UTC()}}
	only := map[string][]TokenRange{}
	var items []*work
	byName := map[string]*table{}
	for _, t := range tables {
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
		return rep, nil
	}
	eng := &engine{cfg: &cfg, s: s, m: newMetrics(opts.Registerer), lim: newLimiter(cfg.RateLimit),
		tr: newTracker("repair", len(items)), log: opts.logger(), markerTS: rep.Copied.Started.UnixMicro()}
	if eng.quar, err = needQuarantine(ctx, tables, s, &cfg); err != nil {
		return nil, err
	}
	defer eng.quar.Close()
	err = eng.copyAll(ctx, items, opts, func(context.Context, *work, int64, int64, bool) error { return nil })
	rep.Copied.Finished = time.Now().UTC()
	rep.Copied.Seconds = rep.Copied.Finished.Sub(rep.Copied.Started).Seconds()
	for t, st := range stats {
		tr := st.report(t, len(only[t.Name()]))
		rep.Copied.Tables = append(rep.Copied.Tables, tr)
		rep.Copied.Rows += tr.Rows
	}
	sortTableReports(rep.Copied.Tables)
	if err != nil {
		return rep, fmt.Errorf("forklift: repair: %w", err)
	}
	rep.After, err = verifyTables(ctx, &cfg, s, tables, vopts, only)
	return rep, err
}
