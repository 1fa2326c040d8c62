package dualwrite

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// sideConn is one side's gocql session, swappable in place. Requests acquire the current
// generation and release it when done; the healer installs a new generation and retires the old,
// which is closed by whoever releases it last.
type sideConn struct {
	name    side
	cur     atomic.Pointer[sessGen]
	cluster *gocql.ClusterConfig // nil: the caller's session (New), never rebuilt
	s       *Session

	mu           sync.Mutex
	failing      atomic.Bool // failingSince is set: a success must clear it (the fast path reads only this)
	failingSince time.Time   // first "no connections" error since the last success; zero when healthy
	healing      bool
	cannotHeal   bool      // New: the caller's session has had no connections for healAfter
	lastWarn     time.Time // of the cannot-heal warning, repeated every cannotHealWarnEvery healAfters
	rebuilds     atomic.Int64
	misses       atomic.Int32 // consecutive follower writes that failed or missed their budget
	// recoveries counts the times the side was seen healthy again after failing (a success that
	// cleared failingSince, or a rebuild): a request takes its value when it begins (begin), and
	// its failure counts only if no recovery happened since (see note).
	recoveries atomic.Uint64
}

// downAfter is how many consecutive follower writes must fail or miss their budget before the
// side counts as down (callers stop waiting for it until one of its writes succeeds in time).
const downAfter = 8

// noteFollower records whether a follower write on this side succeeded within its budget.
func (sc *sideConn) noteFollower(ok bool) {
	if ok {
		sc.misses.Store(0)
		return
	}
	if sc.misses.Load() < 1<<30 {
		sc.misses.Add(1)
	}
}

// down reports whether this side's follower writes have been failing or late.
func (sc *sideConn) down() bool { return sc.misses.Load() >= downAfter }

// sessGen is one generation of a side's gocql session.
type sessGen struct {
	sess      *gocql.Session
	refs      atomic.Int64
	retired   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
}

func newSideConn(name side, sess *gocql.Session, cluster *gocql.ClusterConfig) *sideConn {
	sc := &sideConn{name: name, cluster: cluster}
	sc.cur.Store(&sessGen{sess: sess})
	return sc
}

// acquire returns the current generation, which stays open until release.
func (sc *sideConn) acquire() *sessGen {
	for {
		g := sc.cur.Load()
		g.refs.Add(1)
		if !g.retired.Load() {
			return g
		}
		g.release()
	}
}

func (g *sessGen) release() {
	if g.refs.Add(-1) == 0 && g.retired.Load() {
		g.closeNow()
	}
}

func (g *sessGen) closeNow() {
	g.closeOnce.Do(func() {
		g.closed.Store(true)
		if g.sess != nil {
			g.sess.Close()
		}
	})
}

// retire marks g replaced; it is closed now if unused, else by its last release.
func (g *sessGen) retire() {
	g.retired.Store(true)
	if g.refs.Load() == 0 {
		g.closeNow()
	}
}

// close closes the current generation (Close of a session made with Open).
func (sc *sideConn) close() {
	if sc == nil {
		return
	}
	sc.cur.Load().retire()
}

// session returns the current gocql session without holding it (reads, shadow reads: a read that
// races a rebuild fails like any read of a failing side).
func (sc *sideConn) session() *gocql.Session { return sc.cur.Load().sess }

// noConnections reports whether err says the gocql pool has no usable connection: the failure
// that never heals by itself once a single-host pool has emptied.
func noConnections(err error) bool {
	return errors.Is(err, gocql.ErrNoConnections) || errors.Is(err, gocql.ErrSessionClosed)
}

// cannotHealWarnEvery is how many healAfter periods pass between two warnings about a side that
// New cannot rebuild (10 s by default).
const cannotHealWarnEvery = 10

// begin is called when a request on this side begins; its result goes to note with the
// value begin returned.
func (sc *sideConn) begin() uint64 { return sc.recoveries.Load() }

// note records the outcome of a request on this side that began when begin returned began. When
// the side has failed with no connections for healAfter with no success in between, a side opened
// by Open starts its healer; a side given to New cannot be rebuilt here, so the session says so: a
// warning that names the side and points to Open, repeated while it lasts, and
// islands_dualwrite_side_cannot_heal{side} = 1.
//
// Invariant: only a failure of a request that began after the side's last recovery counts. A
// request that began before it (a down follower's write still running in the background, a
// replay) and fails after it is stale news: counting it would say "cannot heal" about a side that
// just took a write, and the warning and the metric would stay until the next success.
func (sc *sideConn) note(began uint64, err error) {
	if sc.s == nil {
		return
	}
	if err == nil {
		if !sc.failing.Load() {
			return
		}
		sc.mu.Lock()
		if sc.failingSince.IsZero() { // another success cleared it first
			sc.mu.Unlock()
			return
		}
		sc.failingSince = time.Time{}
		sc.failing.Store(false)
		sc.recoveries.Add(1)
		was := sc.cannotHeal
		sc.cannotHeal = false
		if was {
			// Under mu, so that a later failure's metric (set under mu too) is never overwritten.
			sc.s.m.setCannotHeal(sc.name, false)
		}
		sc.mu.Unlock()
		if was {
			sc.s.logger.Info("dualwrite: side has connections again", "side", sc.name.String())
		}
		return
	}
	if !noConnections(err) {
		return
	}
	now := time.Now()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if began != sc.recoveries.Load() {
		return // began before the side's last recovery
	}
	if sc.failingSince.IsZero() {
		sc.failingSince = now
		sc.failing.Store(true)
	}
	healAfter := sc.s.cfg.healAfter
	if sc.healing || now.Sub(sc.failingSince) < healAfter || sc.s.closed.Load() {
		return
	}
	if sc.cluster == nil {
		if !sc.cannotHeal || now.Sub(sc.lastWarn) >= cannotHealWarnEvery*healAfter {
			if !sc.cannotHeal {
				sc.s.m.setCannotHeal(sc.name, true)
			}
			sc.cannotHeal, sc.lastWarn = true, now
			sc.s.logger.Warn("dualwrite: side has had no connections and its gocql session, which the application owns "+
				"(dualwrite.New), cannot be rebuilt here; its writes wait in the replay log until that session recovers: "+
				"rebuild it, or build the session with dualwrite.Open, which rebuilds it",
				"side", sc.name.String(), "for", now.Sub(sc.failingSince).Round(time.Millisecond).String(), "err", err)
		}
		return
	}
	sc.healing = true
	sc.s.healWG.Add(1)
	go sc.heal()
}

// heal connects afresh until a new session answers, then swaps it in. It gives up when the side
// recovers by itself or the session closes.
func (sc *sideConn) heal() {
	s := sc.s
	defer s.healWG.Done()
	defer func() {
		sc.mu.Lock()
		sc.healing = false
		sc.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
		case <-s.bgCtx.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	for attempt := 1; ctx.Err() == nil; attempt++ {
		sc.mu.Lock()
		recovered := sc.failingSince.IsZero()
		sc.mu.Unlock()
		if recovered {
			return
		}
		fresh, err := connect(ctx, sc.cluster)
		if err == nil {
			err = fresh.Query("SELECT release_version FROM system.local").WithContext(ctx).Exec()
			if err != nil {
				fresh.Close()
			}
		}
		if err == nil {
			old := sc.cur.Swap(&sessGen{sess: fresh})
			old.retire()
			sc.rebuilds.Add(1)
			sc.mu.Lock()
			sc.failingSince = time.Time{}
			sc.failing.Store(false)
			sc.recoveries.Add(1) // requests on the old session that fail now are stale news
			sc.mu.Unlock()
			if s.m != nil {
				s.m.rebuilds.WithLabelValues(sc.name.String()).Inc()
			}
			s.logger.Warn("dualwrite: rebuilt the gocql session of a side whose pool had no connections", "side", sc.name.String(), "attempts", attempt)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			s.logger.Info("dualwrite: side has no connections and a fresh one fails too", "side", sc.name.String(), "attempt", attempt, "err", err)
		}
		sleep(ctx, s.cfg.healAfter)
	}
}
