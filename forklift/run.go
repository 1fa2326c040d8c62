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
	report := &RunReport{RunID: cfg.RunID, Shard: fmt.Sprintf("%d/%d", shard.Index, shard.Count),
		Resumed: opts.Resume, Started: time.Now().UTC()}
	items, stats, owned, err := planRun(ctx, store, cfg.RunID, j.tables, cfg.Ranges, shard, opts.Resume)
	if err != nil {
		return nil, err
	}
	j.log.Info("forklift run starting", "run", cfg.RunID, "tables", len(j.tables), "ranges", owned,
		"to_do", len(items), "resume", opts.Resume, "shard", report.Shard, "workers", cfg.Workers)
	c, err := j.newCopier(ctx, "run", owned, report.Started.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.noReadAhead = opts.NoReadAhead
	if fs, ok := store.(InFlightStore); ok {
		c.inflight, c.run = fs, cfg.RunID
		if opts.Resume {
			if c.recover, err = loadRecovery(ctx, fs, cfg.RunID, j.tables); err != nil {
				return nil, err
			}
			if n := len(c.recover); n > 0 {
				j.log.Warn("forklift run resumes over partitions a killed run left half-written; they are repaired by union when reached",
					"run", cfg.RunID, "partitions", n)
			}
		}
	}
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

// planRun lists the work of one shard of a run: every range of every table the shard owns, from
// its checkpoint. Checkpoint checks are per shard, per range, so N shards may start (and be killed
// and restarted) in any order, each with resume:
//
//   - a saved checkpoint must fit the ranges of this run: one whose start is not the start of a
//     range of the split, or whose end differs, means the run was started with other ranges
//     (ErrRangesChanged), which would copy some tokens twice and, worse, lose a checkpoint's
//     meaning; tables no longer configured are ignored;
//   - an owned range without a checkpoint starts at its beginning (and its checkpoint is saved):
//     another shard may not have started yet, this shard may have been killed before saving its
//     first checkpoints, or the shard count may have changed — ranges, not shards, carry progress;
//   - without resume every owned range starts over.
func planRun(ctx context.Context, store CheckpointStore, run string, tables []*table, nranges int, shard Shard, resume bool) (items []*work, stats []*tableStats, owned int, err error) {
	ranges := FullRing.Split(nranges)
	saved := map[string]Checkpoint{}
	if resume {
		cps, err := store.Load(ctx, run)
		if err != nil {
			return nil, nil, 0, err
		}
		starts := map[int64]int64{}
		for _, r := range ranges {
			starts[r.Start] = r.End
		}
		configured := map[string]bool{}
		for _, t := range tables {
			configured[t.Name()] = true
		}
		for _, cp := range cps {
			if !configured[cp.Table] {
				continue
			}
			if end, ok := starts[cp.Range.Start]; !ok || end != cp.Range.End {
				return nil, nil, 0, fmt.Errorf("%w: %s has a checkpoint for range %s in run %s, which is not a range of a split into %d: resume with the ranges the run started with",
					ErrRangesChanged, cp.Table, cp.Range, run, nranges)
			}
			saved[cpKey(cp)] = cp
		}
	}
	stats = make([]*tableStats, len(tables))
	for ti, t := range tables {
		stats[ti] = &tableStats{}
		for i, r := range ranges {
			if !shard.Owns(i) {
				continue
			}
			owned++
			cp := Checkpoint{Run: run, Table: t.Name(), Range: r, Last: r.Start}
			if old, ok := saved[cpKey(cp)]; ok {
				cp = old
			} else if err := store.Save(ctx, cp); err != nil {
				return nil, nil, 0, err
			}
			if cp.Done {
				stats[ti].RangesDone.Add(1)
				continue
			}
			items = append(items, &work{t: t, stats: stats[ti], r: r, from: cp.Last, rows: cp.Rows})
		}
	}
	return items, stats, owned, nil
}
