package forklift

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
)

// Job is one forklift configuration made ready: the config validated, both clusters connected and
// every table's two schemas loaded and checked, once. Plan, Run, Verify, Repair and Status all
// work from that; Close releases the sessions Open made. A Job's methods may be called one after
// another (plan, run, verify, repair) and are safe for concurrent use, though two concurrent Runs of
// one run id would share checkpoints.
type Job struct {
	cfg      Config
	src, dst *gocql.Session
	own      bool // Open made the sessions: Close closes them
	tables   []*table
	log      *slog.Logger
	m        *metrics

	mu    sync.Mutex
	store CheckpointStore // nil until first needed: Plan writes nothing
}

// Option configures Open.
type Option func(*options)

type options struct {
	src, dst *gocql.Session
	log      *slog.Logger
	reg      prometheus.Registerer
	store    CheckpointStore
}

// WithSessions makes the Job use the caller's sessions instead of connecting from the config's
// source and destination (whose hosts may then be empty). The caller keeps them: Close does not
// close them. Statements name their keyspace, so the sessions' own keyspace does not matter.
func WithSessions(source, destination *gocql.Session) Option {
	return func(o *options) { o.src, o.dst = source, destination }
}

// WithLogger sends the Job's structured logs to l (default: none).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers forklift's metrics with reg (default: none). Several Jobs may share one
// registry: they share its series.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithCheckpoints keeps Run's checkpoints in store instead of the destination's
// <checkpoint_keyspace>.forklift_progress table.
func WithCheckpoints(store CheckpointStore) Option { return func(o *options) { o.store = store } }

// Open validates cfg (defaults applied to Open's copy, never to the caller's), connects to both
// clusters (or takes WithSessions'), and loads and compares every table's schemas, refusing
// incompatible tables before any data moves. Errors wrap ErrConfig, ErrUnreachable,
// ErrTableNotFound, ErrIncompatibleSchema, ErrUnknownResolver or ErrAccess (a role without
// SELECT on a table; checked before anything is read).
func Open(ctx context.Context, cfg Config, opts ...Option) (*Job, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if (o.src == nil) != (o.dst == nil) {
		return nil, fmt.Errorf("%w: WithSessions needs both a source and a destination session", ErrConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(o.src == nil); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.reg)
	if err != nil {
		return nil, err
	}
	j := &Job{cfg: cfg, src: o.src, dst: o.dst, log: o.log, m: m, store: o.store}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	if j.src == nil {
		if j.src, err = connect("source", cfg.Source); err != nil {
			return nil, err
		}
		if j.dst, err = connect("destination", cfg.Destination); err != nil {
			j.src.Close()
			return nil, err
		}
		j.own = true
	}
	if j.tables, err = loadTables(ctx, &j.cfg, j.src, j.dst); err != nil {
		j.Close()
		return nil, err
	}
	if err := j.checkGrants(ctx, false); err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

// Config is the Job's configuration with every default applied.
func (j *Job) Config() Config { return j.cfg.withDefaults() }

// Close closes the sessions Open made (not those given WithSessions).
func (j *Job) Close() error {
	if j.own {
		j.src.Close()
		j.dst.Close()
		j.own = false
	}
	return nil
}

// checkpoints returns the store, creating the destination's checkpoint table on first use.
func (j *Job) checkpoints(ctx context.Context) (CheckpointStore, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.store == nil {
		if err := ensureKeyspace(ctx, j.dst, j.cfg.CheckpointKeyspace, j.cfg.CheckpointRF, j.cfg.Destination.LocalDC, j.cfg.CheckpointReplication); err != nil {
			return nil, err
		}
		s, err := NewCassandraCheckpoints(ctx, j.dst, j.cfg.CheckpointKeyspace, j.cfg.CheckpointRF)
		if err != nil {
			return nil, err
		}
		j.store = s
	}
	return j.store, nil
}
