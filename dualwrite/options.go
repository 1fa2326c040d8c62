package dualwrite

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures a Session.
type Option func(*config)

type config struct {
	openCtx          context.Context // Open's: opening waits for writes owed to the authoritative side no longer
	openWait         time.Duration   // WithOpenWait
	phase            Phase
	policy           Policy
	replayDir        string
	replayLimit      int64
	log              ReplayLog
	keyspaces        map[string]string
	shadow           float64
	logger           *slog.Logger
	reg              prometheus.Registerer
	asyncQueue       int
	asyncWorkers     int
	allowND          bool
	replayWorkers    int
	replayBackoffMax time.Duration
	deadLetterMinAge time.Duration
	now              func() time.Time
	budget           time.Duration
	background       int
	healAfter        time.Duration
	name             string
	execHook         func(ctx context.Context, sd side, op *writeOp) (bool, error)
	columnKinds      func(ctx context.Context, keyspace, table, column string) (columnKind, error)
	healthTick       time.Duration
	healthEvery      time.Duration
	migration        *migrationConfig // WithMigration (migration.go)
	handoff          *handoffConfig   // WithHandoff (handoff.go)
}

// DefaultFollowerBudget is how long a caller waits for the follower side by default.
const DefaultFollowerBudget = 200 * time.Millisecond

// WithFollowerBudget bounds how long a write waits for the follower side in the dual phases
// (default DefaultFollowerBudget, counted from the start of the write; the caller's context
// deadline bounds it too). A follower that has not answered by then is kept in the replay log and
// the caller returns; its request finishes in the background. Under Strict there is no budget:
// the caller waits for both sides (bounded by its context).
func WithFollowerBudget(d time.Duration) Option { return func(c *config) { c.budget = d } }

// WithName names the session in its metrics (label session) and logs, so several sessions can
// share one Prometheus registry (default "default"; sessions with the same name share series).
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithPhase sets the phase the session starts in (default PrimaryOnly: a service that adopts
// dualwrite writes the primary alone until someone decides to dual-write, with WithPhase(Dual) at
// start or SetPhase(Dual) at run time).
func WithPhase(p Phase) Option { return func(c *config) { c.phase = p } }

// WithPolicy sets what a follower failure does (default PrimaryAuthoritative).
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// WithReplayDir keeps the replay log as segment files in dir (a FileLog). Required by
// PrimaryAuthoritative and Async unless WithReplayLog is given. Use a directory on a persistent
// volume, one per process.
func WithReplayDir(dir string) Option { return func(c *config) { c.replayDir = dir } }

// WithReplayLimit bounds the replay log in bytes (default DefaultReplayLimit, 1 GiB).
func WithReplayLimit(bytes int64) Option { return func(c *config) { c.replayLimit = bytes } }

// WithReplayLog uses a ReplayLog of the caller's (for example NewMemLog in tests).
func WithReplayLog(l ReplayLog) Option { return func(c *config) { c.log = l } }

// WithKeyspaceMap rewrites keyspace-qualified names in statements sent to the secondary, e.g.
// {"island": "global"} turns island.profiles into global.profiles. Statements without a keyspace
// use each session's own keyspace.
func WithKeyspaceMap(primaryToSecondary map[string]string) Option {
	return func(c *config) { c.keyspaces = primaryToSecondary }
}

// WithShadowReads compares a fraction (0..1) of reads on both sides in the background.
func WithShadowReads(fraction float64) Option { return func(c *config) { c.shadow = fraction } }

// WithLogger logs follower failures, replays, shadow and LWT mismatches (nil = quiet).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithRegisterer registers the session's Prometheus metrics (nil = none).
func WithRegisterer(r prometheus.Registerer) Option { return func(c *config) { c.reg = r } }

// WithAsyncQueue sizes the Async policy's queue (default 10000) and its workers (default 32).
func WithAsyncQueue(size, workers int) Option {
	return func(c *config) { c.asyncQueue, c.asyncWorkers = size, workers }
}

// WithAllowNonDeterministic lets every statement call now(), uuid() and the like, accepting that
// the two sides store different values.
func WithAllowNonDeterministic() Option { return func(c *config) { c.allowND = true } }

// WithReplayWorkers sets how many replay log entries are applied at once (default 16).
func WithReplayWorkers(n int) Option { return func(c *config) { c.replayWorkers = n } }

// WithClock replaces time.Now for timestamps (tests).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// withOpenContext is how Open passes its context to newSession (openAuthority).
func withOpenContext(ctx context.Context) Option { return func(c *config) { c.openCtx = ctx } }

// DefaultOpenWait is how long New and Open wait, by default, for the replayer to deliver the
// writes a replay directory holds for the primary before opening in a phase that makes it
// authoritative (WithOpenWait).
const DefaultOpenWait = 5 * time.Second

// WithOpenWait sets how long New and Open (bounded by its context too) wait for the replayer to
// deliver the writes the replay log holds for the primary before opening in primary-only or dual,
// which make it authoritative: past it they fail with ErrAuthorityBacklog. Default DefaultOpenWait.
func WithOpenWait(d time.Duration) Option { return func(c *config) { c.openWait = d } }
