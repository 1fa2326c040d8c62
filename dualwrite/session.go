package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// Session writes to two keyspaces and reads from the one its phase names. It is safe for
// concurrent use; the phase can be switched at any time with SetPhase.
//
// Invariants:
//   - Every write holds the phase gate (read side) from the moment it reads the phase until it has
//     finished on the sides it must reach or has been kept in the replay log; SetPhase and Close
//     take the gate's write side, so when they proceed no write of the old phase is still open.
//   - A write never starts after Close has taken the gate: it returns ErrClosed.
//   - A side opened by Open is rebuilt only by its healer; the old gocql session is closed when the
//     last request that acquired it has released it.
type Session struct {
	// replayResolved counts, per side, acknowledged entries (not Unacked) the replayer landed or
	// dead-lettered: an entry that landed stays in the log's backlog until the cursor passes it,
	// which a down side's entries before it can hold up (openAuthority).
	replayResolved [2]atomic.Int64
	openOwed       int64 // the primary's acknowledged backlog before the replayer started (openAuthority)
	// primaryUnchecked: a session WithMigration whose first phase has not been applied yet; the
	// first setPhase into a phase where the primary is authoritative runs openAuthority's check.
	primaryUnchecked atomic.Bool
	sides            [2]*sideConn
	cfg              config
	phase            atomic.Int32
	gate             *phaseGate
	clock            clock
	log              ReplayLog
	ownLog           bool
	m                *metrics
	logger           *slog.Logger

	stmts  sync.Map // string -> statement
	tables sync.Map // tableKey -> *tableState
	kinds  sync.Map // schemaKey -> columnKind

	async   chan asyncJob
	asyncWG sync.WaitGroup
	// asyncCtx is what queued follower copies run under; abandonAsync cancels and renews it
	// (async.go).
	asyncMu     sync.Mutex
	asyncCtx    context.Context
	asyncCancel context.CancelFunc
	shadowSem   chan struct{}

	// Follower writes still running after their caller was answered (past the budget, already
	// kept in the replay log): bounded by bgSem, cancelled by bgCancel at Close.
	bgSem    chan struct{}
	bgWG     sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	// execHook replaces the gocql call in unit tests of pure logic (nil in production).
	execHook func(ctx context.Context, sd side, op *writeOp) (bool, error)

	stats  counters
	health health // the watcher's state (health.go)

	holds holds // entries kept ahead of their leader's answer (hold.go)

	ho *handoffState   // WithHandoff (handoff.go); nil without
	hm *handoffMetrics // its series; nil without a registerer

	uncertainMu sync.Mutex
	uncertain   []Uncertain

	unkept unkeptCopies // async follower copies the replay log could not keep (unkept.go)

	stop     chan struct{}
	replayWG sync.WaitGroup
	healWG   sync.WaitGroup
	closed   atomic.Bool
}

// Uncertain is a counter update that failed (or did not answer in time) on the follower side: it
// may or may not have been applied there, so it is never replayed; reconcile it by hand (or
// recount) if it matters.
type Uncertain struct {
	Side   string
	Stmt   string
	Values []any
	Err    string
	At     time.Time
}

// Open connects to both clusters and returns a session that owns its gocql sessions: when a side
// keeps failing with "no hosts available in the pool" (gocql's pool emptied after a pause or a
// restart, apache/cassandra-gocql-driver#915) while a fresh connection to it succeeds, that side's
// session is rebuilt in place and writes and the replayer use it again without any action from the
// application. Close closes the gocql sessions too. Prefer Open to New.
//
// A side that refuses the credentials or the TLS setup fails Open with an error that says why
// (errors.Is with cqlconn.ErrBadCredentials, ErrUnknownCA, ErrPlainToTLS…); a config whose Keyspace
// does not exist on its cluster fails with ErrNoKeyspace naming it. When a config names a
// Keyspace and authenticates, Open also checks that the role may MODIFY and SELECT there, and
// refuses (cqlconn.ErrPermission, naming the GRANT) before anything is written.
func Open(ctx context.Context, primary, secondary *gocql.ClusterConfig, opts ...Option) (*Session, error) {
	if primary == nil || secondary == nil {
		return nil, fmt.Errorf("dualwrite: Open needs two cluster configs (primary %v, secondary %v)", primary != nil, secondary != nil)
	}
	var sides [2]*sideConn
	for i, c := range []*gocql.ClusterConfig{primary, secondary} {
		sess, err := connect(ctx, c)
		if err == nil {
			if err = checkSide(ctx, side(i), sess, c); err != nil {
				sess.Close()
			}
		} else {
			if kerr := explainNoConnections(ctx, side(i), c, err); kerr != err {
				err = kerr
			} else {
				err = fmt.Errorf("dualwrite: connecting to the %s side %v: %w", side(i), c.Hosts, cqlconn.Explain(err, accessOf(c), c.Hosts...))
			}
		}
		if err != nil {
			if i == 1 {
				sides[0].close()
			}
			return nil, err
		}
		sides[i] = newSideConn(side(i), sess, c)
	}
	s, err := newSession(sides, append([]Option{withOpenContext(ctx)}, opts...))
	if err != nil {
		sides[0].close()
		sides[1].close()
		return nil, err
	}
	return s, nil
}

// New returns a session over two gocql sessions the caller owns. Recovery is then yours: New
// cannot rebuild a gocql session whose pool has emptied (use Open for that), and Close leaves
// both sessions open.
//
// With the default policy it needs a replay log: WithReplayDir (or WithReplayLog); a FileLog
// found in that directory from an earlier process is drained by this session's replayer.
func New(primary, secondary *gocql.Session, opts ...Option) (*Session, error) {
	if primary == nil || secondary == nil {
		return nil, fmt.Errorf("dualwrite: New needs two gocql sessions (primary %v, secondary %v)", primary != nil, secondary != nil)
	}
	return newSession([2]*sideConn{newSideConn(primarySide, primary, nil), newSideConn(secondarySide, secondary, nil)}, opts)
}

func newSession(sides [2]*sideConn, opts []Option) (*Session, error) {
	cfg := config{phase: PrimaryOnly, policy: PrimaryAuthoritative, asyncQueue: 10000, asyncWorkers: 32,
		replayWorkers: 16, replayBackoffMax: 5 * time.Second, now: time.Now, budget: DefaultFollowerBudget,
		background: 4096, healAfter: time.Second, name: "default", deadLetterMinAge: defaultDeadLetterMinAge,
		healthTick: time.Second, healthEvery: DefaultHealthLogEvery, openWait: DefaultOpenWait}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.migration != nil {
		// WithPhase is ignored: the control keyspace's phase is applied by startMigration, through
		// the same owed-writes check as SetPhaseWait, before the first write. Until then the
		// session stands in primary-only, which makes no side but the primary authoritative.
		cfg.phase = PrimaryOnly
	}
	if cfg.phase < PrimaryOnly || cfg.phase > SecondaryOnly {
		return nil, fmt.Errorf("%w %d", ErrUnknownPhase, cfg.phase)
	}
	s := &Session{sides: sides, cfg: cfg, logger: cfg.logger, gate: newPhaseGate(),
		stop: make(chan struct{}), shadowSem: make(chan struct{}, 8), bgSem: make(chan struct{}, cfg.background)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("session", cfg.name)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.execHook = cfg.execHook
	s.clock.now = cfg.now
	s.phase.Store(int32(cfg.phase))
	switch {
	case cfg.log != nil:
		s.log = cfg.log
	case cfg.replayDir != "":
		l, err := OpenFileLog(cfg.replayDir, cfg.replayLimit)
		if err != nil {
			return nil, err
		}
		s.log, s.ownLog = l, true
	case cfg.policy != Strict:
		return nil, fmt.Errorf("%w: the %s policy keeps failed follower writes for replay; "+
			"pass dualwrite.WithReplayDir(\"/a/persistent/dir\") (or WithPolicy(dualwrite.Strict))", ErrNoReplayLog, cfg.policy)
	}
	if err := s.setupHandoff(); err != nil {
		s.bgCancel()
		if s.ownLog {
			s.log.Close()
		}
		return nil, err
	}
	if err := s.openAuthority(false); err != nil {
		if s.ho != nil {
			s.ho.closer()
		}
		s.bgCancel()
		if s.ownLog {
			s.log.Close()
		}
		return nil, err
	}
	s.m = newMetrics(cfg.reg, cfg.name, s)
	for _, sc := range s.sides {
		if sc != nil {
			sc.s = s
		}
	}
	if cfg.policy == Async {
		s.async = make(chan asyncJob, cfg.asyncQueue)
		s.asyncCtx, s.asyncCancel = context.WithCancel(context.Background())
		for i := 0; i < cfg.asyncWorkers; i++ {
			s.asyncWG.Add(1)
			go s.asyncWorker()
		}
	}
	if s.log != nil {
		s.replayWG.Add(1)
		go s.replayer()
	}
	s.startHandoff()
	s.health.every = cfg.healthEvery
	if cfg.healthTick > 0 {
		s.replayWG.Add(1)
		go s.watchHealth(cfg.healthTick)
	}
	if err := s.openAuthority(true); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startMigration(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openAuthority applies SetPhase's authority rule (called before the replayer starts, then with
// replaying once it runs) to the phase a session opens in. Opening is a
// switch from a phase nobody knows (an earlier process may have run with the other side
// authoritative: a rollback of a flip, a redeploy with another WithPhase), so the side the
// opening phase makes authoritative must not be owed acknowledged writes:
//   - the secondary (dual-flipped, secondary-only): its backlog in the replay log, its dead
//     letters and its uncertain writes refuse at once, as they always did: open in dual, whose
//     replayer drains them, then SetPhaseWait;
//   - the primary (primary-only, dual): its backlog in the replay log (follower writes kept while
//     the secondary was authoritative). The replayer already runs, so the session waits for it
//     at most openWait (WithOpenWait, default 5 s) and no longer than Open's context, then
//     refuses. Waiting rather than refusing because a restart in dual routinely finds entries
//     for the primary — writes whose leader failed, kept for it too — that land in moments. Its
//     acknowledged dead letters and uncertain writes (records not marked Unacked: left by a
//     dual-flipped process, where the primary was the follower) refuse at once, as SetPhase
//     from dual-flipped refuses over them: the replayer never resolves them. Those marked Unacked
//     (the write's leader failed and its caller was told so: what a dual process leaves after a
//     primary blip) are not counted, as Unacked entries are not; records written before the
//     mark existed read as acknowledged.
//
// A session WithMigration opens in primary-only until its watcher applies the phase of the control
// keyspace or of the state file (startMigration), through setPhase: into dual-flipped or
// secondary-only the move of authority is checked as ever; into primary-only or dual the leader
// does not move, so the first such switch runs this check for the primary (openOwedWait) before
// the phase is applied. Every path that starts a session in a phase where the primary is
// authoritative is checked the same way.
func (s *Session) openAuthority(replaying bool) error {
	if s.log == nil || (replaying && (s.cfg.migration != nil || s.cfg.phase.leader() != primarySide)) {
		return nil
	}
	if s.cfg.migration != nil {
		// No write starts before Open returns: what is owed then is this count less what the
		// replayer resolves for the primary (as below), the shared store's replay batches owed
		// to the primary included (primaryOwedAtOpen, H5), as WithPhase(Dual) counts them.
		s.openOwed = s.primaryOwedAtOpen()
		s.primaryUnchecked.Store(true)
		return nil
	}
	lead := s.cfg.phase.leader()
	if lead == secondarySide {
		n := s.owedTo(lead)
		if s.ho != nil {
			n += s.ho.owedTo(lead) // the shared store's backlog, listed by setupHandoff (H5)
		}
		if n > 0 {
			return fmt.Errorf("%w: opening in %s makes the %s side authoritative while %d writes owed to it wait in "+
				"the replay log, its dead letters, its uncertain store or the shared hand-off store; open in %s and %s",
				ErrAuthorityBacklog, s.cfg.phase, lead, n, Dual, s.owedDetail(lead))
		}
		return nil
	}
	if !replaying {
		// Waited for once the replayer runs. No write starts before Open returns, so what is owed
		// then is this count less what the replayer resolves for the primary.
		s.openOwed = s.primaryOwedAtOpen()
		return nil
	}
	ctx := s.cfg.openCtx
	if ctx == nil {
		ctx = context.Background()
	}
	return s.openOwedWait(ctx, s.cfg.phase, true)
}

// openOwedWait waits until the acknowledged writes owed to the primary when the session opened
// (openOwed) have been replayed, at most openWait (WithOpenWait) and while ctx lasts (not at all
// unless wait), then refuses with ErrAuthorityBacklog: opening in phase p makes the primary
// authoritative.
func (s *Session) openOwedWait(ctx context.Context, p Phase, wait bool) error {
	lead := primarySide
	ctx, cancel := context.WithTimeout(ctx, s.cfg.openWait)
	defer cancel()
	for {
		if a := s.ackedAsidesFor(lead); a > 0 {
			// Never resolved by the replayer: refused at once, whatever the wait.
			return fmt.Errorf("%w: opening in %s makes the %s side authoritative while it has %d acknowledged writes "+
				"in its dead letters or uncertain store (kept or recorded while the %s side was authoritative); %s",
				ErrAuthorityBacklog, p, lead, a, lead.other(), s.owedDetail(lead))
		}
		n := min(s.primaryOwedAtOpen(), s.openOwed-s.replayResolved[lead].Load())
		if n <= 0 {
			return nil
		}
		cause := context.DeadlineExceeded
		if wait {
			select {
			case <-ctx.Done():
				cause = ctx.Err()
			case <-time.After(20 * time.Millisecond):
				continue
			}
		}
		return fmt.Errorf("%w: opening in %s makes the %s side authoritative while %d writes owed to it wait in the "+
			"replay log (kept while the %s side was authoritative), not replayed within %s: "+
			"open in %s (its replayer drains them) and SetPhaseWait(%s), or let Open wait longer (WithOpenWait): %w",
			ErrAuthorityBacklog, p, lead, n, lead.other(), s.cfg.openWait, DualFlipped, p, cause)
	}
}

// primaryOwedAtOpen is what Open in a phase where the primary leads waits for: its acknowledged
// backlog in the replay log, and in the shared hand-off store (H5) the replay batches owed to it
// (handed off by an instance that ran with the secondary authoritative), which this session's
// adoption moves into its log and its replayer resolves (replayResolved) like its own.
func (s *Session) primaryOwedAtOpen() int64 {
	n := s.ackedBacklogOf(primarySide)
	if s.ho != nil {
		n += s.ho.replayOwedTo(primarySide)
	}
	return n
}

// ackedBacklogOf is backlogOf without the entries whose caller was told the write failed (Unacked)
// when the log can tell them apart.
func (s *Session) ackedBacklogOf(sd side) int64 {
	if sb, ok := s.log.(interface{ ackedBacklogFor(side) (int64, error) }); ok {
		b, err := sb.ackedBacklogFor(sd)
		if err != nil {
			s.logger.Warn("dualwrite: reading the replay log", "err", err)
			b = max(b, 1)
		}
		return b
	}
	return s.backlogOf(sd)
}

// backlogOf returns the replay log's backlog for side sd (the whole backlog when the log cannot
// count per side; a log that cannot be read counts as one; 0 without a replay log: Strict).
func (s *Session) backlogOf(sd side) int64 {
	if s.log == nil {
		return 0
	}
	if sb, ok := s.log.(sideBacklogger); ok {
		b, err := sb.backlogFor(sd)
		if err != nil {
			s.logger.Warn("dualwrite: reading the replay log", "err", err)
			b = max(b, 1)
		}
		return b
	}
	n, _ := s.log.Backlog()
	return n
}

// SetPhase switches the phase. It returns once every write that started under the old phase has
// finished or been kept in the replay log (under the Async policy: once the async queue is
// empty; follower copies still queued or running after the follower budget are cancelled and
// kept in the replay log instead of waited for), so a write acknowledged after SetPhase returns used the new phase, and one acknowledged
// before it is where the old phase put it.
//
// A switch that moves authority (the read side) to a side refuses with ErrAuthorityBacklog while
// the replay log still holds writes: that side may be missing acknowledged writes. Wait for them
// with SetPhaseWait, or WaitReplayed and try again.
//
// A session opened WithMigration refuses with ErrPhaseControlled: its phase is the control
// keyspace's, applied by its watcher.
func (s *Session) SetPhase(p Phase) error {
	if err := s.phaseControlled(p); err != nil {
		return err
	}
	return s.setPhase(context.Background(), p, false)
}

// SetPhaseWait is SetPhase that, instead of refusing, waits until the side gaining authority has
// nothing left to receive from the replay log (or ctx ends). A session opened WithMigration
// refuses with ErrPhaseControlled, as SetPhase does.
func (s *Session) SetPhaseWait(ctx context.Context, p Phase) error {
	if err := s.phaseControlled(p); err != nil {
		return err
	}
	return s.setPhase(ctx, p, true)
}

// phaseControlled refuses an application's phase switch on a session WithMigration: only the
// watcher (setPhase) switches it, so the epoch its heartbeats acknowledge is the phase it runs.
func (s *Session) phaseControlled(p Phase) error {
	if s.cfg.migration == nil {
		return nil
	}
	return fmt.Errorf("%w: SetPhase(%s) refused on a session WithMigration(%q): use `islands migration set %s %s`",
		ErrPhaseControlled, p, s.cfg.migration.name, s.cfg.migration.name, p)
}

func (s *Session) setPhase(ctx context.Context, p Phase, wait bool) error {
	if p < PrimaryOnly || p > SecondaryOnly {
		return fmt.Errorf("%w %d", ErrUnknownPhase, p)
	}
	if s.primaryUnchecked.Load() && p.leader() == primarySide {
		// The first phase of a session WithMigration, with the primary authoritative: the
		// leader does not move from primary-only, so the check below would pass it; opening
		// is a switch from a phase nobody knows (openAuthority).
		if err := s.openOwedWait(ctx, p, wait); err != nil {
			return err
		}
	}
	for {
		if err := s.lockGate(ctx); err != nil {
			return fmt.Errorf("dualwrite: switching to %s: waiting for writes of the old phase: %w", p, err)
		}
		if s.closed.Load() {
			s.gate.unlock()
			return ErrClosed
		}
		old := Phase(s.phase.Load())
		if err := s.drainAsync(ctx); err != nil {
			s.gate.unlock()
			return fmt.Errorf("dualwrite: switching to %s: waiting for the async queue: %w", p, err)
		}
		if old.leader() != p.leader() {
			// Appends whose callers are gone still run: with the gate held no new one starts, and
			// each ends with its fsync. The backlog is read once they are in it.
			if err := s.waitAppends(ctx); err != nil {
				s.gate.unlock()
				return fmt.Errorf("dualwrite: switching to %s: waiting for replay log appends under way: %w", p, err)
			}
		}
		n := s.pendingFor(old.leader(), p.leader())
		if n == 0 {
			s.phase.Store(int32(p))
			s.primaryUnchecked.Store(false) // from now on every move of authority is checked here
			s.gate.unlock()
			if old != p {
				s.logger.Info("dualwrite phase", "from", old.String(), "to", p.String())
			}
			return nil
		}
		s.gate.unlock()
		if !wait {
			return fmt.Errorf("%w: %s → %s makes the %s side authoritative while %d writes it may lack wait in the replay log, "+
				"its dead letters or its uncertain store; %s",
				ErrAuthorityBacklog, old, p, p.leader(), n, s.owedDetail(p.leader()))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s → %s: %d writes the %s side may lack still owed to it (%s): %w",
				ErrAuthorityBacklog, old, p, n, p.leader(), s.owedDetail(p.leader()), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pendingFor returns how many writes stand in the way of moving the read side from from to to:
// none when it does not move. The log does not say per side how many entries wait, so this counts
// them all (a superset: safe), plus the dead letters for to (acknowledged writes it lacks until an
// operator retries or drops them) and the uncertain writes for to (writes whose outcome on it is
// unknown, never replayed, until an operator reconciles and drops them). A dead-letter or
// uncertain store that cannot be read counts as one. Without a replay log (Strict) only the
// uncertain writes kept in memory remain: they are counted all the same.
func (s *Session) pendingFor(from, to side) int64 {
	if from == to {
		return 0
	}
	var shared int64
	if s.ho != nil {
		// The shared store's backlog for to (handoff.go, H5), read before the local log's: an
		// adopted batch leaves the shared count only after its entries are in the local log.
		shared = s.ho.owedTo(to)
	}
	// Held copies first: one leaves the count only once its append is in the backlog (unkept.go,
	// invariant 2).
	held := s.unkeptFor(to)
	var n int64
	if s.log != nil {
		n, _ = s.log.Backlog()
	}
	return shared + held + n + s.deadLettersFor(to) + s.uncertainFor(to)
}

// sideBacklogger is a ReplayLog that can count its backlog for one side (FileLog, MemLog).
type sideBacklogger interface {
	backlogFor(sd side) (int64, error)
}

// owedTo returns how many writes the replay log holds for side sd, backlog, dead letters and
// uncertain writes (the whole backlog when the log cannot count per side; a log that cannot be
// read counts as one).
func (s *Session) owedTo(sd side) int64 {
	held := s.unkeptFor(sd) // before the backlog (unkept.go, invariant 2)
	return held + s.backlogOf(sd) + s.deadLettersFor(sd) + s.uncertainFor(sd)
}

// deadLettersFor counts the dead letters for side sd (0 when the log keeps none; a dead-letter log
// that cannot be read counts as one).
func (s *Session) deadLettersFor(sd side) int64 {
	dc, ok := s.log.(DeadLetterCounter)
	if !ok {
		return 0
	}
	d, err := dc.DeadLettersFor(sd.String())
	if err != nil {
		s.logger.Warn("dualwrite: reading the dead-letter log", "err", err)
		d = max(d, 1)
	}
	return d
}

// uncertainFor counts the uncertain writes for side sd: a counter update or a conditional write
// whose outcome on sd is unknown (Uncertain), in the replay log's uncertain store or, when that
// could not keep it, in memory. Each is an acknowledged write sd may lack (or hold twice), and it
// is never replayed: sd does not gain authority over it until an operator has reconciled it and
// dropped it (`islands replay drop --uncertain`). A store that cannot be read counts as one.
func (s *Session) uncertainFor(sd side) int64 {
	var n int64
	asides, err := s.uncertainAsides()
	if err != nil {
		s.logger.Warn("dualwrite: reading the uncertain store", "err", err)
		n = 1
	}
	for _, a := range asides {
		if a.Raw != nil || a.Entry.Side == sd.String() {
			n++
		}
	}
	return n + s.uncertainInMemoryFor(sd)
}

// uncertainInMemoryFor counts the uncertain writes for side sd kept in this process's memory only
// (no replay log, or its uncertain store could not keep them): no command drops them, they hold
// sd's authority for the life of the process.
func (s *Session) uncertainInMemoryFor(sd side) int64 {
	s.uncertainMu.Lock()
	defer s.uncertainMu.Unlock()
	var n int64
	for _, u := range s.uncertain {
		if u.Side == sd.String() {
			n++
		}
	}
	return n
}

// ackedAsidesFor counts side sd's dead letters and uncertain writes whose caller was told the
// write succeeded: every record not marked Unacked (records written before the mark existed, and
// records that cannot be decoded, count: the safe side). A store that cannot be read counts as
// one.
func (s *Session) ackedAsidesFor(sd side) int64 {
	var n int64
	for _, read := range []func() ([]Aside, error){s.deadLetterAsides, s.uncertainAsides} {
		asides, err := read()
		if err != nil {
			s.logger.Warn("dualwrite: reading the dead-letter log or the uncertain store", "err", err)
			n++
		}
		for _, a := range asides {
			if a.Raw != nil || (a.Entry.Side == sd.String() && !a.Entry.Unacked) {
				n++
			}
		}
	}
	return n
}

// deadLetterAsides reads the replay log's dead letters (none when it keeps none).
func (s *Session) deadLetterAsides() ([]Aside, error) {
	switch l := s.log.(type) {
	case interface{ DeadLetters() ([]Aside, error) }:
		return l.DeadLetters()
	case interface{ DeadLetters() []Aside }:
		return l.DeadLetters(), nil
	}
	return nil, nil
}

// uncertainAsides reads the replay log's uncertain store (none when it keeps none).
func (s *Session) uncertainAsides() ([]Aside, error) {
	switch l := s.log.(type) {
	case interface{ UncertainEntries() ([]Aside, error) }:
		return l.UncertainEntries()
	case interface{ UncertainEntries() []Aside }:
		return l.UncertainEntries(), nil
	}
	return nil, nil
}

// owedDetail says what stands in the way of making sd authoritative and what clears each part,
// for ErrAuthorityBacklog's message.
func (s *Session) owedDetail(sd side) string {
	d, u, mem := s.deadLettersFor(sd), s.uncertainFor(sd), s.uncertainInMemoryFor(sd)
	u -= mem
	msg := "use SetPhaseWait (or WaitReplayed) for the backlog"
	if d > 0 {
		msg += fmt.Sprintf("; %d dead letters for the %s side: `islands replay inspect DIR`, then `islands replay retry DIR` "+
			"once their cause is fixed (or `islands replay drop --yes DIR`)", d, sd)
	}
	if u > 0 {
		msg += fmt.Sprintf("; %d uncertain writes for the %s side (counter updates or conditional writes whose outcome there "+
			"is unknown, never replayed): `islands replay inspect DIR`, reconcile them on the %s side, then "+
			"`islands replay drop --uncertain --yes DIR`", u, sd, sd)
	}
	if h := s.unkeptFor(sd); h > 0 {
		msg += fmt.Sprintf("; %d acknowledged async follower copies for the %s side held in this process's memory (the "+
			"replay log was full or unwritable when they failed): they are appended once the log has room (bring the "+
			"side back so the replayer drains it, raise its limit or free disk space)", h, sd)
	}
	if mem > 0 {
		msg += fmt.Sprintf("; %d uncertain writes for the %s side kept in this process's memory only (no replay log, or its "+
			"uncertain store could not keep them; Session.Uncertain lists them): reconcile them on the %s side; they hold "+
			"its authority until this process ends", mem, sd, sd)
	}
	return msg
}

// lockGate takes the phase gate's write side, giving up when ctx ends.
func (s *Session) lockGate(ctx context.Context) error { return s.gate.lock(ctx) }

// drainAsync waits, with the gate held, until the async workers have finished every queued
// follower write (landed or kept in the replay log). Copies still queued or running once the
// follower budget has passed are abandoned to the replay log (async.go): the wait is the budget
// plus the appends, never a hung follower's.
func (s *Session) drainAsync(ctx context.Context) error {
	if s.async == nil {
		return nil
	}
	grace := time.NewTimer(s.cfg.budget)
	defer grace.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.stats.asyncInFlight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-grace.C:
			s.abandonAsync()
		case <-tick.C:
		}
	}
	return nil
}

// waitAppends waits, with the gate held, until no replay log append is under way.
func (s *Session) waitAppends(ctx context.Context) error {
	for d := 100 * time.Microsecond; s.stats.appending.Load() > 0; d = min(2*d, 10*time.Millisecond) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	return nil
}

// Phase returns the current phase.
func (s *Session) Phase() Phase { return Phase(s.phase.Load()) }

// Backlog returns how many follower writes wait in the replay log and the age of the oldest.
func (s *Session) Backlog() (int64, time.Duration) {
	if s.log == nil {
		return 0, 0
	}
	n, oldest := s.log.Backlog()
	if n == 0 || oldest.IsZero() {
		return n, 0
	}
	return n, time.Since(oldest)
}

// WaitReplayed blocks until the replay log is empty and the async queue drained, or ctx ends.
func (s *Session) WaitReplayed(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n, _ := s.Backlog()
		// Appends still under way count: a write whose caller gave up (its context ended) is
		// still being kept, and would otherwise land in the log after WaitReplayed said drained.
		if n == 0 && len(s.async) == 0 && s.stats.asyncInFlight.Load() == 0 && s.stats.appending.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dualwrite: %d writes still waiting for replay: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}

// Uncertain returns the counter updates whose outcome on a side is unknown: those in the replay
// log's uncertain store (from this process and earlier ones; FileLog and MemLog keep them) and
// those that could only be kept in memory.
func (s *Session) Uncertain() []Uncertain {
	asides, err := s.uncertainAsides()
	if err != nil {
		s.logger.Warn("dualwrite: reading the uncertain store", "err", err)
	}
	var out []Uncertain
	for _, a := range asides {
		u := Uncertain{Side: a.Entry.Side, Err: a.Cause, At: a.At}
		if len(a.Entry.Stmts) > 0 {
			u.Stmt, u.Values = a.Entry.Stmts[0].Stmt, a.Entry.Stmts[0].Values
		}
		out = append(out, u)
	}
	s.uncertainMu.Lock()
	defer s.uncertainMu.Unlock()
	return append(out, s.uncertain...)
}

// Rebuilds returns how many times each side's gocql session was rebuilt by the healer (always 0
// for a session made with New).
func (s *Session) Rebuilds() (primary, secondary int64) {
	return s.sides[0].rebuilds.Load(), s.sides[1].rebuilds.Load()
}

// Close waits for the writes under way (a write that starts afterwards returns ErrClosed), drains
// the async queue for at most the follower budget (its failures, and the copies still queued or
// running then, which it cancels, go to the replay log), stops the replayer and the healers, closes
// the replay log it opened and, for a session made with Open, both gocql sessions. Writes waiting
// in a FileLog are replayed by the next session on the same directory. Close is safe to call
// concurrently with writes and more than once.
func (s *Session) Close() {
	if s.closed.Swap(true) {
		return
	}
	_ = s.gate.lock(context.Background()) // no write is under way, and every later one sees closed
	if s.async != nil {
		close(s.async)
		_ = s.drainAsync(context.Background()) // past the budget, what is unsent goes to the replay log
		s.asyncWG.Wait()
		s.asyncCancel()
		s.waitUnkept() // copies the log could not keep get their time while the replayer runs (unkept.go)
	}
	s.bgCancel() // follower writes past their budget: already in the replay log
	s.bgWG.Wait()
	s.reportUnkeptLost()
	if s.ho != nil {
		s.ho.drainBeforeClose() // the replayer still runs: drain within the deadline (handoff.go)
	}
	close(s.stop)
	s.replayWG.Wait()
	s.healWG.Wait()
	var handoffErr error
	if s.ho != nil {
		handoffErr = s.ho.closeHandoff() // what is left goes to the shared store; the log is emptied (H1)
	}
	s.leaveMigration(handoffErr) // only now: until the hand-off is durable the heartbeat shows this instance
	if s.ownLog {
		s.log.Close()
	}
	// gocql v1.7's Session.Close can block for good on a node that accepts connections but does
	// not answer (SIGSTOPped, hung): its control connection's close waits on a goroutine stuck in
	// a request to it. Everything durable is done by now, so Close waits a bounded time and leaves
	// the rest to finish in the background (found by the hand-off's SIGTERM test, issue 30).
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for _, sc := range s.sides {
			if sc != nil && sc.cluster != nil {
				sc.close()
			}
		}
	}()
	select {
	case <-closed:
	case <-time.After(sideCloseWait):
		s.logger.Warn("dualwrite: closing a side's gocql session did not return in time (a node that does not answer); left to finish in the background",
			"waited", sideCloseWait.String())
	}
	s.gate.unlock()
}

// sideCloseWait bounds how long Close waits for the gocql sessions Open made to close.
const sideCloseWait = 5 * time.Second

// statement returns the cached analysis of stmt.
func (s *Session) statement(stmt string) statement {
	if v, ok := s.stmts.Load(stmt); ok {
		return v.(statement)
	}
	st := parseStatement(stmt)
	st.secondary = mapKeyspaces(stmt, s.cfg.keyspaces)
	for sd := range st.tbl {
		for _, n := range st.tables {
			t, _ := s.tables.LoadOrStore(tableKey{side(sd), n}, &tableState{})
			st.tbl[sd] = append(st.tbl[sd], t.(*tableState))
		}
	}
	s.stmts.Store(stmt, st)
	return st
}

// tableKey names a table on one side: keyspace-qualified as the statement sent to that side names
// it (after the keyspace map, for the secondary), so app.users and audit.users, or the same
// table name in two keyspaces mapped apart, are never taken for one another. A table named
// without its keyspace (the session's) has keyspace "": known apart from any qualified name.
type tableKey struct {
	sd side
	tableName
}

// tableState is what the session learnt about one table on one side (tableKey).
type tableState struct {
	ok atomic.Bool // the side accepted a write on it (an unauthorized answer later is transient)
}

// tablesOn returns the session's knowledge of the tables sideStmt writes on side sd, sideStmt
// being the statement in that side's form (forSide's, or a replay log entry's verbatim).
func (s *Session) tablesOn(sd side, sideStmt string) []*tableState {
	return s.statement(sideStmt).tbl[sd]
}

// forSide returns stmt as sent to a side: the secondary gets the keyspace map applied.
func (s *Session) forSide(sd side, stmt string) string {
	if sd == secondarySide && len(s.cfg.keyspaces) > 0 {
		return s.statement(stmt).secondary
	}
	return stmt
}

// connect creates a gocql session from c, giving up (and closing it later) when ctx ends first.
func connect(ctx context.Context, c *gocql.ClusterConfig) (*gocql.Session, error) {
	type result struct {
		s   *gocql.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.CreateSession()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

var errNoSession = errors.New("dualwrite: side has no session")
