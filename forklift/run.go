package forklift

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RunOptions are the knobs of one Run that are not part of the dataset's config.
type RunOptions struct {
	// Resume continues the run's checkpoints; without it every range of this shard starts over.
	Resume bool
	// Shard makes this process one of N sharing the run (zero value: the only one).
	Shard Shard
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called.
	ProgressInterval time.Duration
	// NoReadAhead makes each worker read a page only once the one before is written, as forklift
	// did before its copy was pipelined: for measuring, or for a source that must not be read while
	// the destination is written. Default: read one page ahead.
	NoReadAhead bool
	// Force starts a run whose config names a migration even though not every live instance
	// dual-writes (logged). See MigrationConfig.
	Force bool
	gated bool // runGated checked the migration's fleet
}

// Run copies (and merges) every table of the Job from the source to the destination. Each token
// range's progress is checkpointed after every page; with opts.Resume a killed run redoes at most
// one page per range. A cancelled ctx (SIGINT/SIGTERM in the program) stops the workers after
// their current page: the report then has Interrupted set and the error wraps ErrInterrupted.
func (j *Job) Run(ctx context.Context, opts RunOptions) (*RunReport, error) {
	if j.cfg.Migration.Name != "" && !opts.gated {
		return j.runGated(ctx, opts)
	}
	cfg := &j.cfg
	shard := opts.Shard.orOnly()
	if err := j.checkGrants(ctx, true); err != nil {
		return nil, err
	}
	store, err := j.checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	ranges := FullRing.Split(cfg.Ranges)
	saved := map[string]Checkpoint{}
	if opts.Resume {
		cps, err := store.Load(ctx, cfg.RunID)
		if err != nil {
			return nil, err
		}
		for _, cp := range cps {
			saved[cpKey(cp)] = cp
		}
	}
	report := &RunReport{RunID: cfg.RunID, Shard: fmt.Sprintf("%d/%d", shard.Index, shard.Count),
		Resumed: opts.Resume, Started: time.Now().UTC()}
	var items []*work
	stats := make([]*tableStats, len(j.tables))
	owned := 0
	for ti, t := range j.tables {
		stats[ti] = &tableStats{}
		for i, r := range ranges {
			if !shard.Owns(i) {
				continue
			}
			owned++
			cp := Checkpoint{Run: cfg.RunID, Table: t.Name(), Range: r, Last: r.Start}
			if old, ok := saved[cpKey(cp)]; ok {
				if old.Range.End != r.End {
					return nil, fmt.Errorf("%w: %s range starting at %d ends at %d in the checkpoints but %d now: resume with the ranges the run started with",
						ErrRangesChanged, t.Name(), r.Start, old.Range.End, r.End)
				}
				cp = old
			} else if opts.Resume && len(saved) > 0 {
				return nil, fmt.Errorf("%w: no checkpoint for %s %s in run %s: resume with the ranges and tables the run started with (or run without --resume)",
					ErrRangesChanged, t.Name(), r, cfg.RunID)
			} else if err := store.Save(ctx, cp); err != nil {
				return nil, err
			}
			if cp.Done {
				stats[ti].RangesDone.Add(1)
				continue
			}
			items = append(items, &work{t: t, stats: stats[ti], r: r, from: cp.Last, rows: cp.Rows})
		}
	}
	j.log.Info("forklift run starting", "run", cfg.RunID, "tables", len(j.tables), "ranges", owned,
		"to_do", len(items), "resume", opts.Resume, "shard", report.Shard, "workers", cfg.Workers)
	c, err := j.newCopier(ctx, "run", owned, report.Started.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.noReadAhead = opts.NoReadAhead
	c.tr.done.Store(int64(owned - len(items)))
	runErr := c.copyAll(ctx, items, progressOptions{opts.Progress, opts.ProgressInterval}, func(sctx context.Context, w *work, last, rows int64, done bool) error {
		return store.Save(sctx, Checkpoint{Run: cfg.RunID, Table: w.t.Name(), Range: w.r, Last: last, Rows: rows, Done: done})
	})
	report.Finished = time.Now().UTC()
	report.Seconds = report.Finished.Sub(report.Started).Seconds()
	for ti, t := range j.tables {
		report.Tables = append(report.Tables, stats[ti].report(t, owned/len(j.tables)))
		report.Rows += stats[ti].Rows.Load()
	}
	sortTableReports(report.Tables)
	if report.Seconds > 0 {
		report.RowsPerSec = float64(report.Rows) / report.Seconds
	}
	if runErr != nil {
		report.Interrupted = errors.Is(runErr, ErrInterrupted)
		j.log.Error("forklift run stopped", "run", cfg.RunID, "err", runErr, "rows", report.Rows)
		return report, runErr
	}
	j.log.Info("forklift run finished", "run", cfg.RunID, "rows", report.Rows, "seconds", report.Seconds)
	return report, nil
}
