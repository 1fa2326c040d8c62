package dualwrite

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// Session writes to two keyspaces and reads from the one its phase names. It is safe for
// concurrent use; the phase can be switched at any time with SetPhase. Close stops the replayer
// and the async workers; the gocql sessions stay open (they are the caller's).
type Session struct {
	sides  [2]*gocql.Session
	cfg    config
	phase  atomic.Int32
	clock  clock
	log    ReplayLog
	ownLog bool
	m      *metrics
	logger *slog.Logger

	stmts sync.Map // string -> statement

	async     chan asyncJob
	asyncWG   sync.WaitGroup
	shadowSem chan struct{}

	stats counters

	uncertainMu sync.Mutex
	uncertain   []Uncertain

	stop     chan struct{}
	replayWG sync.WaitGroup
	closed   atomic.Bool
}

// Uncertain is a counter update that failed on the follower side: it may or may not have been
// applied there, so it is never replayed; reconcile it by hand (or recount) if it matters.
type Uncertain struct {
	Side   string
	Stmt   string
	Values []any
	Err    string
	At     time.Time
}

// New returns a session over primary and secondary. With the default policy it needs a replay
// log: WithReplayDir (or WithReplayLog); a FileLog found in that directory from an earlier process
// is drained by this session's replayer.
func New(primary, secondary *gocql.Session, opts ...Option) (*Session, error) {
	if primary == nil || secondary == nil {
		return nil, fmt.Errorf("dualwrite: New needs two gocql sessions (primary %v, secondary %v)", primary != nil, secondary != nil)
	}
	cfg := config{phase: Dual, policy: PrimaryAuthoritative, asyncQueue: 10000, asyncWorkers: 32,
		replayWorkers: 16, replayBackoffMax: 5 * time.Second, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.phase < PrimaryOnly || cfg.phase > SecondaryOnly {
		return nil, fmt.Errorf("%w %d", ErrUnknownPhase, cfg.phase)
	}
	s := &Session{sides: [2]*gocql.Session{primary, secondary}, cfg: cfg, logger: cfg.logger,
		stop: make(chan struct{}), shadowSem: make(chan struct{}, 8)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
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
	s.m = newMetrics(cfg.reg, s)
	if cfg.policy == Async {
		s.async = make(chan asyncJob, cfg.asyncQueue)
		for i := 0; i < cfg.asyncWorkers; i++ {
			s.asyncWG.Add(1)
			go s.asyncWorker()
		}
	}
	if s.log != nil {
		s.replayWG.Add(1)
		go s.replayer()
	}
	return s, nil
}

// SetPhase switches the phase for every write and read that starts from now on; a write already
// under way completes under the rules of the phase it started in.
func (s *Session) SetPhase(p Phase) {
	old := Phase(s.phase.Swap(int32(p)))
	if old != p {
		s.logger.Info("dualwrite phase", "from", old.String(), "to", p.String())
	}
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
		if n == 0 && len(s.async) == 0 && s.stats.asyncInFlight.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dualwrite: %d writes still waiting for replay: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}

// Uncertain returns the counter updates that failed on the follower side so far.
func (s *Session) Uncertain() []Uncertain {
	s.uncertainMu.Lock()
	defer s.uncertainMu.Unlock()
	return append([]Uncertain(nil), s.uncertain...)
}

// Close drains the async queue (its failures go to the replay log), stops the replayer and closes
// the replay log it opened. Writes waiting in a FileLog are replayed by the next session on the
// same directory.
func (s *Session) Close() {
	if s.closed.Swap(true) {
		return
	}
	if s.async != nil {
		close(s.async)
		s.asyncWG.Wait()
	}
	close(s.stop)
	s.replayWG.Wait()
	if s.ownLog {
		s.log.Close()
	}
}

// statement returns the cached analysis of stmt.
func (s *Session) statement(stmt string) statement {
	if v, ok := s.stmts.Load(stmt); ok {
		return v.(statement)
	}
	st := parseStatement(stmt)
	s.stmts.Store(stmt, st)
	return st
}

// forSide returns stmt as sent to a side: the secondary gets the keyspace map applied.
func (s *Session) forSide(sd side, stmt string) string {
	if sd == secondarySide {
		return mapKeyspaces(stmt, s.cfg.keyspaces)
	}
	return stmt
}
