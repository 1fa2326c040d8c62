package forklift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// RunOptions are the knobs of one Run that are not part of the dataset's config.
type RunOptions struct {
	// Resume continues the run's checkpoints; without it every range of this shard starts over.
	Resume bool
	// Shard makes this process one of N sharing the run (zero value: the only one).
	Shard Shard
	// Logger receives structured logs; nil = quiet.
	Logger *slog.Logger
	// Registerer receives forklift's metrics; nil = none.
	Registerer prometheus.Registerer
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called.
	ProgressInterval time.Duration
	// Checkpoints overrides the store (default: forklift_progress in the destination).
	Checkpoints CheckpointStore
}

func (o *RunOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// work is one token range of one table to copy, from Last.
type work struct {
	t     *table
	stats *tableStats
	r     TokenRange
	from  int64
	rows  int64
	rs    *rangeState
}

// Run copies (and merges) every configured table from the source to the destination. Schemas are
// checked for every table before any data moves. Each token range's progress is checkpointed after
// every page; with opts.Resume a killed run redoes at most one page per range. A cancelled ctx
// (SIGINT/SIGTERM in the program) stops the workers after their current page: the report then has
// Interrupted set and the error wraps ErrInterrupted.
func Run(ctx context.Context, cfg Config, opts RunOptions) (*RunReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Shard.Count == 0 {
		opts.Shard = Shard{0, 1}
	}
	log := opts.logger()
	s, err := openSides(&cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	tables, err := loadTables(ctx, &cfg, s)
	if err != nil {
		return nil, err
	}
	store := opts.Checkpoints
	if store == nil {
		if store, err = NewCassandraCheckpoints(ctx, s.dst, cfg.CheckpointKeyspace, cfg.CheckpointRF); err != nil {
			return nil, err
		}
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
	report := &RunReport{RunID: cfg.RunID, Shard: fmt.Sprintf("%d/%d", opts.Shard.Index, opts.Shard.Count),
		Resumed: opts.Resume, Started: time.Now().UTC()}
	var items []*work
	stats := make([]*tableStats, len(tables))
	owned := 0
	for ti, t := range tables {
		stats[ti] = &tableStats{}
		for i, r := range ranges {
			if !opts.Shard.Owns(i) {
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
	log.Info("forklift run starting", "run", cfg.RunID, "tables", len(tables), "ranges", owned,
		"to_do", len(items), "resume", opts.Resume, "shard", report.Shard, "workers", cfg.Workers)
	eng := &engine{cfg: &cfg, s: s, m: newMetrics(opts.Registerer), lim: newLimiter(cfg.RateLimit),
		tr: newTracker("run", owned), log: log, markerTS: report.Started.UnixMicro()}
	eng.tr.done.Store(int64(owned - len(items)))
	if eng.quar, err = needQuarantine(ctx, tables, s, &cfg); err != nil {
		return nil, err
	}
	defer eng.quar.Close()
	runErr := eng.copyAll(ctx, items, opts, func(sctx context.Context, w *work, last, rows int64, done bool) error {
		return store.Save(sctx, Checkpoint{Run: cfg.RunID, Table: w.t.Name(), Range: w.r, Last: last, Rows: rows, Done: done})
	})
	report.Finished = time.Now().UTC()
	report.Seconds = report.Finished.Sub(report.Started).Seconds()
	for ti, t := range tables {
		report.Tables = append(report.Tables, stats[ti].report(t, owned/len(tables)))
		report.Rows += stats[ti].Rows.Load()
	}
	sortTableReports(report.Tables)
	if report.Seconds > 0 {
		report.RowsPerSec = float64(report.Rows) / report.Seconds
	}
	if runErr != nil {
		report.Interrupted = errors.Is(runErr, ErrInterrupted)
		log.Error("forklift run stopped", "run", cfg.RunID, "err", runErr, "rows", report.Rows)
		return report, runErr
	}
	log.Info("forklift run finished", "run", cfg.RunID, "rows", report.Rows, "seconds", report.Seconds)
	return report, nil
}

func loadTables(ctx context.Context, cfg *Config, s *sides) ([]*table, error) {
	tcs, err := resolveTables(ctx, cfg, s.src)
	if err != nil {
		return nil, err
	}
	var tables []*table
	for _, tc := range tcs {
		t, err := loadTable(ctx, tc, s)
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

func needQuarantine(ctx context.Context, tables []*table, s *sides, cfg *Config) (*quarantineSink, error) {
	for _, t := range tables {
		if !t.blind {
			return newQuarantineSink(ctx, s.dst, cfg)
		}
	}
	return nil, nil
}

// engine runs copy work over a bounded pool of workers.
type engine struct {
	cfg      *Config
	s        *sides
	m        *metrics
	lim      *limiter
	tr       *tracker
	log      *slog.Logger
	quar     *quarantineSink
	markerTS int64
}

// copyAll copies every work item, Workers at a time, reporting progress; save records a page or a
// range finished. Saves run on a context that outlives cancellation (for 10s), so a page written
// before SIGTERM is also checkpointed.
func (e *engine) copyAll(ctx context.Context, items []*work, opts RunOptions, save func(ctx context.Context, w *work, last, rows int64, done bool) error) error {
	copiers := map[*table]*copier{}
	for _, w := range items {
		w.rs = &rangeState{weight: ringShare(w.r)}
		e.tr.advance(w.rs, w.r, w.from)
		if copiers[w.t] == nil {
			copiers[w.t] = &copier{t: w.t, cfg: e.cfg, s: e.s, m: e.m, lim: e.lim, tr: e.tr, stats: w.stats, quar: e.quar, markerTS: e.markerTS}
		}
	}
	e.tr.startFr = e.tr.snapshot().Fraction
	stopProgress := e.reportProgress(opts)
	defer stopProgress()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.Workers)
	for _, w := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			c := copiers[w.t]
			saveCtx := func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
			}
			err := c.copyRange(gctx, w.r, w.from, func(last, rows int64) error {
				w.rows += rows
				e.tr.advance(w.rs, w.r, last)
				sctx, cancel := saveCtx()
				defer cancel()
				return save(sctx, w, last, w.rows, false)
			})
			if err != nil {
				return err
			}
			sctx, cancel := saveCtx()
			defer cancel()
			if err := save(sctx, w, w.r.End, w.rows, true); err != nil {
				return err
			}
			w.stats.RangesDone.Add(1)
			e.tr.done.Add(1)
			e.m.ranges.WithLabelValues(w.t.Name()).Inc()
			e.log.Debug("range done", "table", w.t.Name(), "range", w.r.String(), "rows", w.rows)
			return nil
		})
	}
	err := g.Wait()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %v", ErrInterrupted, ctx.Err())
	}
	return err
}

// reportProgress calls opts.Progress every interval until the returned stop is called, then once
// more with the final figures.
func (e *engine) reportProgress(opts RunOptions) (stop func()) {
	if opts.Progress == nil {
		return func() {}
	}
	every := opts.ProgressInterval
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				opts.Progress(e.tr.snapshot())
				return
			case <-tick.C:
				opts.Progress(e.tr.snapshot())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
