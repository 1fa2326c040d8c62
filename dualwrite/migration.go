package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/internal/private"
	"github.com/globalcloud/islands/migration"
)

// A session opened WithMigration takes its phase from the migration's control keyspace (package
// migration) instead of from its own SetPhase calls.
//
// Invariants (migration's invariant 3 is this file's promise):
//   - Open registers the instance (a heartbeat at epoch -1, whose TTL covers Open's whole deadline)
//     before it reads the phase, keeps the registration alive while it retries the read, reads
//     the phase at SERIAL (a LOCAL_QUORUM read on a lagging replica may miss an epoch committed
//     before the registration), and returns only once the instance's row has lived without a
//     lapse from the read it applied until the heartbeat after it landed: no write of the session
//     runs in a phase the fleet cannot see. The row's life has one bound, liveUntil: from when the
//     last heartbeat that landed was SENT (the row may have landed at once), the shortest TTL of
//     every heartbeat sent, answered or not (a timed-out acknowledgement may have landed and
//     replaced the registration with the running TTL). A read answered after the bound taken
//     before it was sent is not applied, and a heartbeat after the read answered after it does
//     not end Open (landedInTime): Open reads again, heartbeating meanwhile. It retries the
//     heartbeat until its deadline, then fails. A state file that cannot be written returns Open
//     unacknowledged (see the acknowledgement rule below), under the same bound.
//   - Only the watcher switches the phase (SetPhase/SetPhaseWait refuse, WithPhase is ignored),
//     and always through the owed-writes check, the state file's phase included.
//   - The watcher acknowledges an epoch (heartbeat, Migration().Epoch) only after SetPhaseWait to
//     its phase returned AND the state file holds it: every write that begins after the
//     acknowledgement runs in that phase, and a restart never runs an older one. A state file that
//     cannot be written leaves the phase applied in memory but unacknowledged (the heartbeat keeps
//     the older epoch, so an operator's --wait waits), the error in the heartbeat's last error and
//     the state-file-errors metric; every poll retries it. Open then returns unacknowledged.
//     The applied epoch only grows, across restarts too (the state file's epoch is Open's floor);
//     a control keyspace that shows an older epoch is reported, never applied. An epoch is the
//     pair (number, phase): the applied number in another phase (another history, a control
//     keyspace restored and set forward) is refused and reported the same way, and the heartbeat
//     carries the phase so that the fleet's Wait and forklift's gate count it as not applied.
//   - Open falls back to the state file only when the control keyspace cannot be read for the
//     whole of Open's deadline: a failed registration is retried like a failed read (register,
//     every min(poll, heartbeat interval)), never a reason by itself; an epoch it read but could
//     not apply (ErrAuthorityBacklog) fails Open with that error.
//   - A session that cannot read the control keyspace keeps the phase it applied last, and says so:
//     Migration().LastError, the control-read-age metric, a warning log. It never guesses.
//   - A running instance's row never lapses while the process lives and the control keyspace takes
//     its writes: heartbeats go out every heartbeat interval from a goroutine of their own (never
//     behind a control read, a flip or the poll interval), one at a time, each bounded by
//     beatTimeout; Open refuses a TTL under three heartbeat intervals, so one lost heartbeat
//     leaves the row alive until the next one lands (see beatTimeout).
//   - Close leaves the fleet (deletes the heartbeat) only after the hand-off (WithHandoff) has put
//     what the replay log owed into the shared store, and heartbeats until then: a Wait for an
//     epoch that moves authority sees either this instance behind it or the owed writes in the
//     store, never neither. While the instance still owes writes after it (owed.go's one notion:
//     replay backlog, dead letters and uncertain writes, as the authority checks count them) and
//     no hand-off confirmed them stored (it failed, or there is none), Close does not delete the
//     row: it writes it a last time with what it owes and a last error, and lets it expire after
//     its TTL (then the writes are on this instance's disk only; the error log says so).

// ErrMigrationUnknown: Open could not read the migration's phase from the control keyspace and
// knows no earlier one (MigrationStateFile), so it cannot know which sides to write.
var ErrMigrationUnknown = errors.New("dualwrite: migration phase unknown")

// MigrationOption tunes WithMigration.
type MigrationOption func(*migrationConfig)

type migrationConfig struct {
	cluster   *gocql.ClusterConfig
	name      string
	instance  string
	keyspace  string
	region    string
	poll      time.Duration
	beat      time.Duration
	ttl       time.Duration
	open      time.Duration
	stateFile string
	control   controlPlane // tests; nil = a migration.Store on cluster
	w         *watcher     // the running watcher, shared by the config copies
}

// Defaults of WithMigration.
const (
	DefaultMigrationPoll      = 500 * time.Millisecond
	DefaultMigrationHeartbeat = 2 * time.Second
	DefaultMigrationTTL       = 15 * time.Second
)

// WithMigration makes the session one instance of a fleet whose phase is set by the operator in
// the control keyspace (`islands migration set NAME PHASE`): control reaches the cluster that
// holds it (the global cluster; its keyspace is MigrationKeyspace, default islands_control), name
// is the migration, instance this process's unique name (a pod name). Open registers the
// instance, reads the phase before the first write and fails with ErrMigrationUnknown when it
// cannot (and MigrationStateFile knows no earlier phase); then a watcher reads the phase every
// DefaultMigrationPoll, applies each new epoch through SetPhaseWait, and heartbeats the epoch
// applied, the replay backlog and dead letters (TTL DefaultMigrationTTL). WithPhase is ignored, and
// SetPhase/SetPhaseWait fail with ErrPhaseControlled: the control keyspace owns the phase.
// Close removes the instance's heartbeat, after the hand-off of its replay backlog (WithHandoff).
func WithMigration(control *gocql.ClusterConfig, name, instance string, opts ...MigrationOption) Option {
	mc := &migrationConfig{cluster: control, name: name, instance: instance, poll: DefaultMigrationPoll,
		beat: DefaultMigrationHeartbeat, ttl: DefaultMigrationTTL, open: 30 * time.Second}
	for _, o := range opts {
		o(mc)
	}
	return func(c *config) { c.migration = mc }
}

// MigrationKeyspace names the control keyspace (default migration.DefaultKeyspace).
func MigrationKeyspace(ks string) MigrationOption {
	return func(m *migrationConfig) { m.keyspace = ks }
}

// MigrationRegion names the instance's region in its heartbeat (default: the datacenter of the
// control node it talks to).
func MigrationRegion(r string) MigrationOption { return func(m *migrationConfig) { m.region = r } }

// MigrationPoll sets how often the control keyspace is read (default DefaultMigrationPoll): the
// time from `set` to this instance's acknowledgement is at most about one poll.
func MigrationPoll(d time.Duration) MigrationOption { return func(m *migrationConfig) { m.poll = d } }

// MigrationHeartbeat sets how often the heartbeat is written and its TTL, after which an instance
// that stopped heartbeating drops out of the fleet (defaults DefaultMigrationHeartbeat,
// DefaultMigrationTTL). Choose ttl longer than any pause an instance survives; Open refuses a ttl
// under three heartbeat intervals (one slow or lost heartbeat must not drop a live instance).
// Heartbeats go out on their own schedule, whatever MigrationPoll is and however slow a control
// read: the poll interval may exceed the TTL.
func MigrationHeartbeat(every, ttl time.Duration) MigrationOption {
	return func(m *migrationConfig) { m.beat, m.ttl = every, ttl }
}

// MigrationOpenTimeout bounds Open's registration and first read (default 30s): both are retried
// within it (every poll interval, at most every heartbeat interval), and only a control keyspace
// that could not be registered with or read for the whole of it lets Open start from the state file.
func MigrationOpenTimeout(d time.Duration) MigrationOption {
	return func(m *migrationConfig) { m.open = d }
}

// MigrationStateFile keeps the migration's name and its last applied epoch and phase in path (a
// persistent volume), so that Open can start in that phase when the control keyspace cannot be
// read. Open refuses a file of another migration (ErrMigrationStateFile); a file in the old
// format (no name) is refused when its epoch is ahead of the migration's (it may be another's). The instance is then
// not visible to the fleet until its heartbeats land: an operator's `set --wait` meanwhile does
// not wait for it. Without it such an Open fails with ErrMigrationUnknown. The file's phase is
// applied through the owed-writes check (ErrAuthorityBacklog), and its epoch is Open's floor: a
// control read showing an older epoch is read again, never applied.
func MigrationStateFile(path string) MigrationOption {
	return func(m *migrationConfig) { m.stateFile = path }
}

// controlPlane is what the watcher needs of the control keyspace (migration.Store in production).
type controlPlane interface {
	Phase(ctx context.Context, name string) (phase string, epoch int64, err error)
	WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error
	DeleteHeartbeat(ctx context.Context, name, instance string) error
}

// MigrationState is what a session WithMigration knows of its migration.
type MigrationState struct {
	Name, Instance, Region string
	// Epoch is the epoch applied, persisted (MigrationStateFile) and acknowledged in the
	// heartbeat; -1 before the first. Phase() is its phase, or a newer epoch's applied in memory
	// while the state file cannot be written (LastError says so).
	Epoch int64
	// LastRead is when the control keyspace was last read successfully.
	LastRead time.Time
	// Flips counts the phase changes applied from the control keyspace.
	Flips int64
	// Reads counts the control keyspace reads (successful or not).
	Reads int64
	// LastError is the watcher's last error since its last success ("" = none).
	LastError string
}

// Migration returns the session's migration state (the zero value without WithMigration).
func (s *Session) Migration() MigrationState {
	if s.cfg.migration == nil || s.cfg.migration.w == nil {
		return MigrationState{}
	}
	w := s.cfg.migration.w
	w.mu.Lock()
	defer w.mu.Unlock()
	return MigrationState{Name: w.mc.name, Instance: w.mc.instance, Region: w.mc.region, Epoch: w.epoch.Load(),
		LastRead: w.lastRead, Flips: w.flips.Load(), Reads: w.reads.Load(), LastError: w.lastErr}
}

// watcher follows the control keyspace for one session.
type watcher struct {
	s     *Session
	mc    *migrationConfig
	cp    controlPlane
	close func() // the control session, when the watcher opened it

	epoch    atomic.Int64 // applied and persisted: the epoch the heartbeat acknowledges
	applied  atomic.Int64 // applied in memory (>= epoch; > epoch while the state file fails)
	flips    atomic.Int64
	reads    atomic.Int64
	fails    atomic.Int64
	saveErrs atomic.Int64

	// Open only (set before the watcher's loop starts): the epoch of the state file, below which
	// a read is stale and read again; and whether poll checks that the registration was live.
	floor   int64
	legacy  bool // the state file is in the old format, which names no migration
	opening bool
	// openUntil (Open only): liveUntil as it was when the last read was sent; see poll.
	openUntil time.Time
	// readNotApplied is the error that kept Open from applying an epoch it read (the control
	// keyspace was readable): Open then fails with it and never falls back to the state file,
	// which is only for a control keyspace that cannot be read.
	readNotApplied error

	beatMu sync.Mutex // held while a heartbeat is written

	mu        sync.Mutex
	ackPhase  Phase // the phase of epoch
	lastRead  time.Time
	lastErr   string
	lastBeat  time.Time // when the last heartbeat that landed was SENT
	beatEpoch int64     // the epoch that heartbeat carried
	// rowTTL is the TTL the row may have now: the shortest TTL of every heartbeat SENT so far,
	// whatever its answer (a write that timed out may have landed and replaced the row). With
	// lastBeat it bounds the row's life: see liveUntil.
	rowTTL    time.Duration
	warnedAt  time.Time
	cancelCtx context.CancelFunc

	leaving chan struct{} // closed by leave: the heartbeater stops
	left    chan struct{} // closed by the heartbeater when it has stopped
}

// startMigration is newSession's last step for a session WithMigration: registration, the first
// read (or the state file), the first acknowledgement, and the watcher.
func (s *Session) startMigration() error {
	mc := s.cfg.migration
	if mc == nil {
		return nil
	}
	if mc.name == "" || mc.instance == "" {
		return fmt.Errorf("dualwrite: WithMigration needs a migration name and an instance name (got %q, %q)", mc.name, mc.instance)
	}
	if mc.beat <= 0 || mc.ttl < 3*mc.beat {
		return fmt.Errorf("dualwrite: WithMigration: the heartbeat TTL %s must be at least three heartbeat intervals (%s): "+
			"one lost heartbeat must not let the row of a live instance expire (MigrationHeartbeat)", mc.ttl, mc.beat)
	}
	if mc.poll <= 0 || mc.open <= 0 {
		return fmt.Errorf("dualwrite: WithMigration: the poll interval (%s) and the open timeout (%s) must be positive", mc.poll, mc.open)
	}
	ctx, cancel := context.WithTimeout(context.Background(), mc.open)
	defer cancel()
	w := &watcher{s: s, mc: mc, cp: mc.control, close: func() {}, floor: -1, opening: true, beatEpoch: -1}
	w.epoch.Store(-1)
	w.applied.Store(-1)
	known, haveState := w.loadState()
	if haveState && !known.legacy && known.name != mc.name {
		return fmt.Errorf("%w: migration %q: the state file %s belongs to migration %q (epoch %d, %s): give each "+
			"migration its own MigrationStateFile path, or remove the file once migration %q is over",
			ErrMigrationStateFile, mc.name, mc.stateFile, known.name, known.epoch, known.phase, known.name)
	}
	if haveState {
		w.floor = known.epoch // the applied epoch only grows, across restarts too
		w.legacy = known.legacy
	}
	if w.cp == nil {
		if mc.cluster == nil {
			return fmt.Errorf("dualwrite: WithMigration needs the control cluster's config")
		}
		cs, err := connect(ctx, mc.cluster)
		if err != nil {
			if haveState {
				return w.startFromState(ctx, known, fmt.Errorf("connecting to the control cluster %v: %w", mc.cluster.Hosts, err))
			}
			return fmt.Errorf("%w: %q: connecting to the control cluster %v: %w", ErrMigrationUnknown, mc.name, mc.cluster.Hosts, err)
		}
		if mc.region == "" {
			_ = cs.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&mc.region)
		}
		cc := newControlConn(w, cs)
		w.cp, w.close = cc, cc.close
	}
	mc.w = w
	// Registration first (invariant 1): an operator's Wait that misses it started before it, so
	// the read below sees that operator's epoch. A failed registration is retried like a failed
	// read, within Open's deadline: the state file is the fallback only when the control keyspace
	// could not be used for the whole of it (invariant 4), never after one timeout.
	retry := min(mc.poll, mc.beat) // a poll far longer than Open still retries within it
	var prev error                 // the last failure before the one at hand
	for {
		err := w.register(ctx)
		if err == nil {
			if err = w.poll(ctx); err == nil {
				break
			}
		}
		if errors.Is(err, errNotPersisted) {
			// Applied in memory, not acknowledged (invariant 3): the fleet sees the older epoch
			// and this error; the watcher retries the state file every poll. The row must show
			// it without a lapse since the read (landedInTime): else Open reads again.
			w.opening = false // the heartbeat TTL of a running instance from now on
			herr := w.heartbeat(ctx, err.Error())
			w.opening = true
			if herr = w.landedInTime(herr, w.openUntil); herr == nil {
				w.opening = false
				w.s.logger.Warn("dualwrite: migration epoch applied but not acknowledged", "migration", mc.name, "err", err)
				break
			}
			err = fmt.Errorf("%w (%w)", err, herr)
		}
		if errors.Is(err, ErrMigrationStateFile) {
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = w.cp.DeleteHeartbeat(dctx, mc.name, mc.instance)
			dcancel()
			w.close()
			return err
		}
		if a := w.applied.Load(); a >= 0 && ctx.Err() != nil {
			// A phase applied but never heartbeated: the fleet cannot see it (invariant 1).
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = w.cp.DeleteHeartbeat(dctx, mc.name, mc.instance)
			dcancel()
			w.close()
			return fmt.Errorf("%w: %q: epoch %d (%s) applied but not acknowledged within Open's deadline %s: %w",
				ErrMigrationUnknown, mc.name, a, w.s.Phase(), mc.open, err)
		}
		if ctx.Err() != nil || errors.Is(err, migration.ErrNotFound) || errors.Is(err, ErrUnknownPhase) {
			if w.readNotApplied != nil {
				// The control keyspace was readable and gave an epoch at or past the state file's
				// that could not be applied (ErrAuthorityBacklog): the state file's older phase
				// would run every write of this session behind an operator's returned --wait.
				err = w.readNotApplied
			}
			if ctx.Err() != nil && prev != nil && !errors.Is(err, ErrAuthorityBacklog) {
				err = fmt.Errorf("%w (before Open's deadline: %v)", err, prev)
			}
			if haveState && !errors.Is(err, migration.ErrNotFound) && w.readNotApplied == nil {
				return w.startFromState(ctx, known, err)
			}
			// Leave the fleet: the registration would block every operator's --wait until its TTL.
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = w.cp.DeleteHeartbeat(dctx, mc.name, mc.instance)
			dcancel()
			w.close()
			return fmt.Errorf("%w: %q: %w", ErrMigrationUnknown, mc.name, err)
		}
		prev = err
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
		// Keep the registration alive while the read is retried (invariant 1): a registration
		// that lapsed lets an operator's --wait return without this instance. poll checks it
		// was live through the read it applies. One that never landed is retried by register.
		w.mu.Lock()
		due := !w.lastBeat.IsZero() && time.Since(w.lastBeat) >= w.mc.beat
		w.mu.Unlock()
		if due && ctx.Err() == nil {
			_ = w.heartbeat(ctx, errString(err))
		}
	}
	w.opening = false
	w.run()
	return nil
}

// register writes Open's registration (invariant 1) unless a heartbeat of this Open landed
// already: until one lands, no read is applied (liveUntil gives a bound in the past), and a
// failed one is retried by Open's loop as a failed read is.
func (w *watcher) register(ctx context.Context) error {
	w.mu.Lock()
	landed := !w.lastBeat.IsZero()
	w.mu.Unlock()
	if landed {
		return nil
	}
	if err := w.heartbeat(ctx, ""); err != nil {
		err = fmt.Errorf("registering instance %s: %w", w.mc.instance, err)
		w.setErr(err)
		return err
	}
	return nil
}

// errStaleRead: during Open, a read that cannot be applied yet (the registration may have lapsed
// before it, or it shows an epoch older than the state file's); Open reads again.
var errStaleRead = errors.New("dualwrite: control keyspace read not applicable yet")

// serialPhaser is a control plane that can read the phase at SERIAL (migration.Store): it sees
// the latest committed epoch, which a LOCAL_QUORUM read on a lagging replica may not.
type serialPhaser interface {
	PhaseSerial(ctx context.Context, name string) (phase string, epoch int64, err error)
}

// startFromState starts the session in the phase of the state file after the control keyspace
// could not be read (cause), and watches on. The phase goes through the owed-writes check of
// SetPhaseWait (waiting while ctx lasts): Open fails with ErrAuthorityBacklog rather than make a
// side authoritative while the replay log owes it writes.
func (w *watcher) startFromState(ctx context.Context, st savedState, cause error) error {
	var err error
	if ctx.Err() == nil {
		err = w.s.setPhase(ctx, st.phase, true)
	} else {
		err = w.s.setPhase(context.Background(), st.phase, false)
	}
	if err != nil {
		if w.cp != nil {
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = w.cp.DeleteHeartbeat(dctx, w.mc.name, w.mc.instance)
			dcancel()
		}
		w.close()
		return fmt.Errorf("dualwrite: migration %q: the control keyspace is unreadable (%v) and the phase of the state file "+
			"(epoch %d, %s) cannot be applied: %w", w.mc.name, cause, st.epoch, st.phase, err)
	}
	w.epoch.Store(st.epoch)
	w.applied.Store(st.epoch)
	w.mu.Lock()
	w.ackPhase = st.phase
	w.mu.Unlock()
	w.opening = false
	w.setErr(cause)
	w.s.logger.Warn("dualwrite: control keyspace unreadable at Open: starting in the phase of the state file",
		"migration", w.mc.name, "epoch", st.epoch, "phase", st.phase.String(), "state_file", w.mc.stateFile, "err", cause)
	if st.legacy {
		w.s.logger.Warn("dualwrite: the state file is in the old format, which names no migration: it is taken to be this "+
			"migration's (as the release that wrote it did) until the control keyspace can be read",
			"migration", w.mc.name, "state_file", w.mc.stateFile)
	}
	w.mc.w = w
	if w.cp == nil { // never connected: the watcher keeps trying
		cc := newControlConn(w, nil)
		w.cp, w.close = cc, cc.close
	}
	w.run()
	return nil
}

// run starts the watcher's two loops. The poller reads the phase every poll and applies a new
// epoch (owned by the session's healWG: it ends at Close's stop). The heartbeater writes the
// heartbeat every beat on its own ticker, whatever the poller is doing: a poll interval longer
// than the TTL, or a control read that takes seconds, never holds a heartbeat back (invariant 5).
// It is owned by the watcher and ends at leave.
func (w *watcher) run() {
	w.registerMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	w.cancelCtx = cancel
	w.s.healWG.Add(1)
	go func() {
		defer w.s.healWG.Done()
		go func() { <-w.s.stop; cancel() }()
		t := time.NewTicker(w.mc.poll)
		defer t.Stop()
		for {
			select {
			case <-w.s.stop:
				return
			case <-t.C:
			}
			if err := w.poll(ctx); err != nil && ctx.Err() == nil {
				w.warn(err)
			}
		}
	}()
	// The heartbeater outlives stop: Close hands the replay backlog off first, then leave stops
	// it and deletes the row (invariant 6).
	bctx, bcancel := context.WithCancel(context.Background())
	w.leaving, w.left = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.left)
		defer bcancel()
		t := time.NewTicker(w.mc.beat)
		defer t.Stop()
		for {
			select {
			case <-w.leaving:
				return
			case <-t.C:
			}
			if err := w.heartbeat(bctx, ""); err != nil && bctx.Err() == nil {
				w.warn(err)
			}
		}
	}()
}

// leave is Close's last step of the migration, after the hand-off (Session.leaveMigration): it
// stops the heartbeater, deletes the instance's row — the session leaves the fleet at once
// instead of after the TTL — and closes the control session. Until then the row keeps showing the
// epoch applied and the backlog: an operator's Wait never sees the instance gone while its owed
// writes are in neither its row nor the shared store (invariant 6). What it owes is owed.go's one
// notion (owedHere: replay backlog, dead letters and uncertain writes, as the authority checks
// count them). So when it still owes writes and no hand-off confirmed them stored (the hand-off
// failed — handoffErr — or there is none), leave does not delete the row: it writes it a last time
// with the backlog and a last error saying why, and lets it expire after its TTL. Until then `set
// --wait` and status see the instance behind the epoch it could not apply; after it the writes are
// on this instance's disk only (the next session on its replay directory replays them, and its
// authority checks count its dead letters and uncertain writes), which the error log line says.
func (w *watcher) leave(handoffErr error) {
	if w.leaving == nil { // never ran: Open failed and cleaned up itself
		return
	}
	close(w.leaving)
	<-w.left // no heartbeat of ours is in flight to land after the delete
	owed := w.s.owedHere()
	if n := owed[primarySide] + owed[secondarySide]; n > 0 && (w.s.ho == nil || handoffErr != nil) {
		cause := "no hand-off configured (WithHandoff)"
		if handoffErr != nil {
			cause = handoffErr.Error()
		}
		msg := fmt.Sprintf("closed owing %d writes to the primary and %d to the secondary (replay backlog, dead letters, "+
			"uncertain writes) kept on this instance only (%s): this row expires after its TTL (%s); from then on they "+
			"are on this instance's disk only, until a session opens its replay directory again",
			owed[primarySide], owed[secondarySide], cause, w.mc.ttl)
		bctx, bcancel := context.WithTimeout(context.Background(), w.beatTimeout())
		err := w.heartbeat(bctx, msg)
		bcancel()
		w.s.logger.Error("dualwrite: migration: closing with writes still owed in the local replay log: the heartbeat row "+
			"is left to expire (not deleted) so that `islands migration set --wait` and status see them until its TTL; "+
			"after it they are on this instance's disk only", "migration", w.mc.name, "instance", w.mc.instance,
			"owed_primary", owed[primarySide], "owed_secondary", owed[secondarySide], "ttl", w.mc.ttl.String(),
			"cause", cause, "heartbeat_err", errString(err))
		w.close()
		return
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = w.cp.DeleteHeartbeat(dctx, w.mc.name, w.mc.instance)
	dcancel()
	w.close()
}

// leaveMigration: see watcher.leave (no-op without WithMigration).
func (s *Session) leaveMigration(handoffErr error) {
	if mc := s.cfg.migration; mc != nil && mc.w != nil {
		mc.w.leave(handoffErr)
	}
}

// poll reads the phase once and applies a newer epoch; after a flip it heartbeats at once.
func (w *watcher) poll(ctx context.Context) error {
	until, rowTTL := w.liveUntil()
	if w.opening {
		w.openUntil = until
	}
	rctx, cancel := context.WithTimeout(ctx, max(w.mc.poll*4, 2*time.Second))
	var (
		name  string
		epoch int64
		err   error
	)
	if sp, ok := w.cp.(serialPhaser); ok && w.opening {
		// Open reads the latest committed epoch (invariant 1): a LOCAL_QUORUM read on a replica
		// that missed the operator's LWT (committed at QUORUM across the datacenters) could
		// show the epoch before it, although that LWT preceded the registration.
		name, epoch, err = sp.PhaseSerial(rctx, w.mc.name)
	} else {
		name, epoch, err = w.cp.Phase(rctx, w.mc.name)
	}
	cancel()
	w.reads.Add(1)
	if err != nil {
		w.fails.Add(1)
		w.setErr(fmt.Errorf("reading the control keyspace: %w", err))
		return err
	}
	if w.opening {
		switch {
		case !time.Now().Before(until):
			err = fmt.Errorf("%w: the instance's row, written %s ago, may have expired (its TTL may be %s) before "+
				"this read of epoch %d", errStaleRead, (time.Since(until) + rowTTL).Truncate(time.Millisecond), rowTTL, epoch)
		case epoch < w.floor && w.legacy:
			// An old-format file names no migration: ahead of the row (read at SERIAL), it may
			// be another migration's as well as this one's from before a restore. Refused.
			err = fmt.Errorf("%w: migration %q is at epoch %d (%s) but the state file %s, in the old format that names "+
				"no migration, records epoch %d: it may belong to another migration; if it does, remove it (this "+
				"session then rewrites it with the migration's name), if not the control keyspace went back: set the "+
				"migration forward past epoch %d", ErrMigrationStateFile, w.mc.name, epoch, name, w.mc.stateFile, w.floor, w.floor)
		case epoch < w.floor:
			err = fmt.Errorf("%w: the control keyspace shows epoch %d (%s), older than the epoch %d of the state file",
				errStaleRead, epoch, name, w.floor)
		}
		if err != nil {
			w.setErr(err)
			return err
		}
	}
	w.mu.Lock()
	w.lastRead = time.Now()
	w.mu.Unlock()
	applied := w.applied.Load()
	switch {
	case epoch == applied && name != w.s.Phase().String():
		// An epoch is (number, phase): the row's epoch with another phase than the one applied is
		// that number of another history (the control keyspace restored from a backup and set
		// forward to this epoch). Refused and reported like an older epoch: it is not the one
		// applied, and the heartbeat's phase shows the fleet (Wait, ForkliftGate) it differs.
		err := fmt.Errorf("the control keyspace shows epoch %d (%s), the epoch applied but in another phase than the "+
			"%s applied (another history: the control keyspace went back and was set forward): kept %s; set the "+
			"migration forward past epoch %d", epoch, name, w.s.Phase(), w.s.Phase(), applied)
		w.setErr(err)
		return err
	case epoch == applied && w.epoch.Load() < applied:
		// Applied in memory, the state file failed: retry it, then acknowledge.
		return w.landedInTime(w.persistAndAck(ctx, epoch, w.s.Phase()), until)
	case epoch == applied:
		w.setErr(nil)
		w.mu.Lock()
		acked := w.beatEpoch == applied
		w.mu.Unlock()
		if !acked { // the acknowledging heartbeat failed: retry it
			return w.landedInTime(w.heartbeat(ctx, ""), until)
		}
		return nil
	case epoch < applied:
		err := fmt.Errorf("the control keyspace shows epoch %d (%s), older than the epoch %d applied: kept %s", epoch, name, applied, w.s.Phase())
		w.setErr(err)
		return err
	}
	p, err := ParsePhase(name)
	if err != nil {
		w.setErr(err)
		return err
	}
	// The barrier (SetPhaseWait) holds writes only while it switches; while the side gaining
	// authority still has replay backlog it waits without holding them, and we heartbeat meanwhile.
	actx, cancel := context.WithTimeout(ctx, w.mc.beat)
	err = w.s.setPhase(actx, p, true)
	cancel()
	if err != nil {
		err = fmt.Errorf("applying epoch %d (%s): %w", epoch, p, err)
		w.setErr(err)
		if w.opening {
			w.readNotApplied = err
		}
		return err
	}
	old := w.applied.Swap(epoch)
	w.flips.Add(1)
	w.s.logger.Info("dualwrite: migration epoch applied", "migration", w.mc.name, "from_epoch", old, "epoch", epoch, "phase", p.String())
	return w.landedInTime(w.persistAndAck(ctx, epoch, p), until)
}

// errNotPersisted: an epoch applied in memory whose state file could not be written; it is not
// acknowledged (invariant 3) and the watcher retries.
var errNotPersisted = errors.New("dualwrite: migration epoch applied but not persisted")

// persistAndAck writes epoch to the state file and only then makes it the acknowledged epoch and
// heartbeats it (invariant 3).
func (w *watcher) persistAndAck(ctx context.Context, epoch int64, p Phase) error {
	if err := w.saveState(epoch, p); err != nil {
		w.saveErrs.Add(1)
		err = fmt.Errorf("%w: epoch %d (%s) not acknowledged: saving the state file %s: %w",
			errNotPersisted, epoch, p, filepath.Clean(w.mc.stateFile), err)
		w.setErr(err)
		return err
	}
	w.mu.Lock()
	w.ackPhase = p
	w.mu.Unlock()
	w.epoch.Store(epoch)
	w.setErr(nil)
	return w.heartbeat(ctx, "")
}

// registrationTTL is the TTL of the heartbeats at epoch -1 written during Open: the registration
// outlives Open's whole deadline, so however slow its write's reply, the reads Open applies fall
// inside it while no shorter-TTL heartbeat was sent (liveUntil). A process that dies in Open blocks
// an operator's --wait for at most that long.
func (w *watcher) registrationTTL() time.Duration { return max(w.mc.ttl, w.mc.open) }

// liveUntil returns until when the instance's row is known to live, and the TTL that bound uses:
// the last heartbeat that landed was sent at lastBeat (it landed no earlier), and every write sent
// since — answered or not, it may have landed — has a TTL of at least rowTTL, the shortest TTL of
// every heartbeat sent. So whichever write the row holds, it landed at lastBeat or later and lives
// until lastBeat+rowTTL at least. This is the one age bound of a read (invariant 1): a read sent
// after it was taken and answered before until was taken while the row lived, since registration.
func (w *watcher) liveUntil() (time.Time, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastBeat.Add(w.rowTTL), w.rowTTL
}

// landedInTime is Open's check of the heartbeat that follows the read it applies (err is that
// heartbeat's outcome, until the row's bound taken before the read, see liveUntil): the read
// showed the phase while the row lived, but an operator's Wait reading the heartbeats after the
// row lapsed and before this heartbeat landed would not see the instance. So a heartbeat answered
// after until does not end Open: it reads again (errStaleRead). Outside Open it returns err.
func (w *watcher) landedInTime(err error, until time.Time) error {
	if err != nil || !w.opening || time.Now().Before(until) {
		return err
	}
	return fmt.Errorf("%w: the heartbeat after the read landed when the instance's row may have expired (known live "+
		"until %s ago)", errStaleRead, time.Since(until).Truncate(time.Millisecond))
}

// beatTimeout bounds one heartbeat's write: at least one interval, up to 2s while the TTL allows
// it. Open accepts ttl >= 3*beat, so beatTimeout <= ttl/3: heartbeats go out at most beatTimeout
// apart (a slow write delays the next by at most that), each lands within beatTimeout of its
// sending or not at all, and the row written at s lives until s+ttl >= s+3*beatTimeout, by when
// the heartbeat after the next one has landed: one lost or abandoned heartbeat never drops a live
// instance (invariant 5).
func (w *watcher) beatTimeout() time.Duration {
	return max(w.mc.beat, min(2*time.Second, w.mc.ttl/3))
}

// heartbeat writes the instance's row (TTL) with the epoch applied now.
func (w *watcher) heartbeat(ctx context.Context, lastErr string) error {
	n, age := w.s.Backlog()
	w.mu.Lock()
	readAge := time.Duration(0)
	if !w.lastRead.IsZero() {
		readAge = time.Since(w.lastRead)
	}
	if lastErr == "" {
		lastErr = w.lastErr
	}
	w.mu.Unlock()
	epoch := w.epoch.Load()
	phase := ""
	w.mu.Lock()
	if epoch >= 0 {
		phase = w.ackPhase.String()
	}
	region := w.mc.region
	w.mu.Unlock()
	h := migration.Heartbeat{Migration: w.mc.name, Instance: w.mc.instance, Region: region, Epoch: epoch,
		Phase: phase, Backlog: n, BacklogAge: age, DeadLetters: w.s.stats.deadLettered.Load(), LastError: lastErr,
		ControlReadAge: readAge, Flips: w.flips.Load(), Updated: time.Now().UTC()}
	ttl := w.mc.ttl
	if w.opening && epoch < 0 {
		ttl = w.registrationTTL()
	}
	w.beatMu.Lock() // one heartbeat at a time: a later one never lands before an earlier one
	defer w.beatMu.Unlock()
	hctx, cancel := context.WithTimeout(ctx, w.beatTimeout())
	defer cancel()
	w.mu.Lock()
	if w.rowTTL == 0 || ttl < w.rowTTL {
		w.rowTTL = ttl // sent: it may land, whatever its answer, and replace the row with this TTL
	}
	w.mu.Unlock()
	sent := time.Now() // the row may land at once: its TTL runs from no later than this
	if err := w.cp.WriteHeartbeat(hctx, h, ttl); err != nil {
		return err
	}
	w.mu.Lock()
	w.lastBeat, w.beatEpoch = sent, epoch
	w.mu.Unlock()
	return nil
}

func (w *watcher) setErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastErr = errString(err)
}

// warn logs a watcher error at most every 10 seconds: a session cut off from the control
// keyspace says so without flooding the log.
func (w *watcher) warn(err error) {
	w.mu.Lock()
	last := w.lastRead
	if time.Since(w.warnedAt) < 10*time.Second {
		w.mu.Unlock()
		return
	}
	w.warnedAt = time.Now()
	w.mu.Unlock()
	w.s.logger.Warn("dualwrite: migration control keyspace: keeping the phase applied",
		"migration", w.mc.name, "epoch", w.epoch.Load(), "phase", w.s.Phase().String(),
		"last_read_ago", time.Since(last).Truncate(time.Millisecond).String(), "err", err)
}

// registerMetrics exports the applied epoch, the seconds since the control keyspace was last
// read, the flips applied and the failed reads.
func (w *watcher) registerMetrics() {
	reg := w.s.cfg.reg
	if reg == nil {
		return
	}
	lbl := prometheus.Labels{"session": w.s.cfg.name, "migration": w.mc.name}
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "islands_dualwrite_migration_epoch",
		Help: "Epoch of the migration applied by the session (-1: none yet).", ConstLabels: lbl},
		func() float64 { return float64(w.epoch.Load()) }))
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "islands_dualwrite_migration_control_read_age_seconds",
		Help: "Seconds since the control keyspace was last read successfully.", ConstLabels: lbl},
		func() float64 {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.lastRead.IsZero() {
				return -1
			}
			return time.Since(w.lastRead).Seconds()
		}))
	register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "islands_dualwrite_migration_flips_total",
		Help: "Phase changes applied from the control keyspace.", ConstLabels: lbl},
		func() float64 { return float64(w.flips.Load()) }))
	register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "islands_dualwrite_migration_control_reads_total",
		Help: "Reads of the control keyspace.", ConstLabels: lbl},
		func() float64 { return float64(w.reads.Load()) }))
	register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "islands_dualwrite_migration_state_file_errors_total",
		Help: "Failed writes of the migration state file (the epoch applied stays unacknowledged).", ConstLabels: lbl},
		func() float64 { return float64(w.saveErrs.Load()) }))
	register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "islands_dualwrite_migration_control_errors_total",
		Help: "Failed reads of the control keyspace.", ConstLabels: lbl},
		func() float64 { return float64(w.fails.Load()) }))
}

// controlConn is the control keyspace through a gocql session of the watcher's own: connected on
// first use when Open could not, and rebuilt when its pool has emptied (gocql does not bring a
// single host back into an empty pool, apache/cassandra-gocql-driver#915) once it has failed that
// way for a second: a session cut off by a partition reads again after the heal.
type controlConn struct {
	w            *watcher
	mu           sync.Mutex
	sess         *gocql.Session
	store        *migration.Store
	failingSince time.Time
}

func newControlConn(w *watcher, sess *gocql.Session) *controlConn {
	c := &controlConn{w: w}
	if sess != nil {
		c.sess, c.store = sess, migration.NewStore(sess, w.mc.keyspace)
	}
	return c
}

// get returns the store, connecting first when there is none.
func (c *controlConn) get(ctx context.Context) (*migration.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		return c.store, nil
	}
	return c.reconnect(ctx)
}

// reconnect replaces the session (c.mu held).
func (c *controlConn) reconnect(ctx context.Context) (*migration.Store, error) {
	cs, err := connect(ctx, c.w.mc.cluster)
	if err != nil {
		return nil, fmt.Errorf("connecting to the control cluster %v: %w", c.w.mc.cluster.Hosts, err)
	}
	var dc string
	if cs.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&dc) == nil {
		c.w.mu.Lock()
		if c.w.mc.region == "" {
			c.w.mc.region = dc
		}
		c.w.mu.Unlock()
	}
	if c.sess != nil {
		c.sess.Close()
	}
	c.sess, c.store, c.failingSince = cs, migration.NewStore(cs, c.w.mc.keyspace), time.Time{}
	return c.store, nil
}

// note records the outcome of a request and rebuilds a session whose pool stays empty.
func (c *controlConn) note(ctx context.Context, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil || !noConnections(err) {
		c.failingSince = time.Time{}
		return
	}
	if c.failingSince.IsZero() {
		c.failingSince = time.Now()
		return
	}
	if time.Since(c.failingSince) >= time.Second {
		if _, rerr := c.reconnect(ctx); rerr == nil {
			c.w.s.logger.Info("dualwrite: control keyspace session rebuilt", "migration", c.w.mc.name)
		}
	}
}

func (c *controlConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil {
		c.sess.Close()
		c.sess, c.store = nil, nil
	}
}

func (c *controlConn) Phase(ctx context.Context, name string) (string, int64, error) {
	st, err := c.get(ctx)
	if err != nil {
		return "", 0, err
	}
	p, e, err := st.Phase(ctx, name)
	c.note(ctx, err)
	return p, e, err
}

// PhaseSerial reads the phase at SERIAL (serialPhaser).
func (c *controlConn) PhaseSerial(ctx context.Context, name string) (string, int64, error) {
	st, err := c.get(ctx)
	if err != nil {
		return "", 0, err
	}
	p, e, err := st.PhaseSerial(ctx, name)
	c.note(ctx, err)
	return p, e, err
}

func (c *controlConn) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	st, err := c.get(ctx)
	if err != nil {
		return err
	}
	err = st.WriteHeartbeat(ctx, h, ttl)
	c.note(ctx, err)
	return err
}

func (c *controlConn) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	st, err := c.get(ctx)
	if err != nil {
		return err
	}
	return st.DeleteHeartbeat(ctx, name, instance)
}

type savedState struct {
	epoch int64
	phase Phase
	// name is the migration the file belongs to; legacy marks the old format, which names none.
	name   string
	legacy bool
}

// loadState reads MigrationStateFile: `EPOCH PHASE "NAME"` (NAME Go-quoted), or the old format
// `EPOCH PHASE`, which names no migration (see legacyState).
func (w *watcher) loadState() (savedState, bool) {
	if w.mc.stateFile == "" {
		return savedState{}, false
	}
	b, err := os.ReadFile(w.mc.stateFile)
	if err != nil {
		return savedState{}, false
	}
	f := strings.SplitN(strings.TrimSpace(string(b)), " ", 3)
	if len(f) < 2 {
		return savedState{}, false
	}
	e, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return savedState{}, false
	}
	p, err := ParsePhase(f[1])
	if err != nil {
		return savedState{}, false
	}
	st := savedState{epoch: e, phase: p, legacy: len(f) == 2}
	if !st.legacy {
		if st.name, err = strconv.Unquote(f[2]); err != nil {
			return savedState{}, false
		}
	}
	return st, true
}

// saveState replaces MigrationStateFile atomically (write, fsync, rename).
func (w *watcher) saveState(epoch int64, p Phase) error {
	if w.mc.stateFile == "" {
		return nil
	}
	tmp := w.mc.stateFile + ".tmp"
	err := func() error {
		f, err := private.Create(tmp) // no symlink followed, none of another user's
		if err != nil {
			return err
		}
		if _, err = fmt.Fprintf(f, "%d %s %s\n", epoch, p, strconv.Quote(w.mc.name)); err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return os.Rename(tmp, w.mc.stateFile)
	}()
	return err
}
