package dualwrite

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// DefaultHealthLogEvery is the default of WithHealthLog: at most one "still failing" or "still
// growing" line per side and for the backlog in this interval.
const DefaultHealthLogEvery = 30 * time.Second

// WithHealthLog sets how often the session's health watcher looks at its counters (tick, default
// 1 s) and the least time between two repeated lines about one ongoing episode (every, default
// DefaultHealthLogEvery). tick 0 turns the watcher off.
func WithHealthLog(tick, every time.Duration) Option {
	return func(c *config) { c.healthTick, c.healthEvery = tick, every }
}

// health turns the session's counters into the few log lines an operator acts on, so that a
// follower outage is never silent:
//
//   - a side starts failing or missing its follower budget: one Warn line, with the counts of its
//     first tick; while it goes on, at most one "still failing" line per every, with the totals;
//   - it has answered cleanly for quietTicks ticks: one Info line with the episode's totals;
//   - the replay backlog starts growing: one Warn line; while it keeps growing, at most one line
//     per every;
//   - the backlog has drained to 0: one Info line with the episode's counts in one line (kept,
//     replayed, dead-lettered, peak, how long it took).
//
// Invariants: each episode (of a side, of the backlog) logs exactly one start line and exactly one
// end line, and between them at most one line per every; a tick without change logs nothing.
// Lines are written by the watcher goroutine only, never on a caller's path. Late follower writes
// are counted for the follower of the phase current at the tick (Stats does not keep them per
// side; a phase switch is rare next to a tick).
type health struct {
	errs   [2]atomic.Int64 // requests a side answered with an error (counted in run)
	every  time.Duration
	sides  [2]sideEpisode
	bl     backlogEpisode
	last   healthSample
	primed bool
}

// quietTicks is how many ticks in a row without an error or a late write end a side's episode (a
// flapping side stays one episode).
const quietTicks = 3

type sideEpisode struct {
	on         bool
	since      time.Time
	lastLine   time.Time
	quiet      int
	errs, late int64
}

type backlogEpisode struct {
	on                    bool
	since, lastLine       time.Time
	peak, lastLineBacklog int64
	logged0, replayed0    int64
	dead0, failed0, late0 int64
}

type healthSample struct {
	errs                                 [2]int64
	late, failed, logged, replayed, dead int64
}

// noteResult counts a request's outcome on side sd for the watcher. A request its caller
// cancelled says nothing about the side.
func (h *health) noteResult(sd side, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		h.errs[sd].Add(1)
	}
}

func (s *Session) healthSample() healthSample {
	st := s.Stats()
	return healthSample{errs: [2]int64{s.health.errs[0].Load(), s.health.errs[1].Load()},
		late: st.FollowerLate, failed: st.FollowerFailed, logged: st.Logged, replayed: st.Replayed, dead: st.DeadLettered}
}

// watchHealth runs check every tick until Close.
func (s *Session) watchHealth(tick time.Duration) {
	defer s.replayWG.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.checkHealth(now)
		}
	}
}

// checkHealth compares the counters with the previous tick's and logs what changed (see health).
func (s *Session) checkHealth(now time.Time) {
	h := &s.health
	cur := s.healthSample()
	if !h.primed {
		h.last, h.primed = cur, true
	}
	prev := h.last
	h.last = cur
	follower := s.Phase().leader().other()
	for _, sd := range []side{primarySide, secondarySide} {
		dErr := cur.errs[sd] - prev.errs[sd]
		var dLate int64
		if sd == follower && s.Phase().follows() {
			dLate = cur.late - prev.late
		}
		s.sideTick(now, sd, dErr, dLate)
	}
	n, oldest := s.Backlog()
	s.backlogTick(now, n, oldest, cur, prev)
}

func (s *Session) sideTick(now time.Time, sd side, dErr, dLate int64) {
	h := &s.health
	e := &h.sides[sd]
	switch {
	case dErr+dLate > 0 && !e.on:
		*e = sideEpisode{on: true, since: now, lastLine: now, errs: dErr, late: dLate}
		s.logger.Warn("dualwrite: a side started failing or missing its follower budget",
			"side", sd.String(), "phase", s.Phase().String(), "errors", dErr, "late", dLate)
	case dErr+dLate > 0:
		e.errs += dErr
		e.late += dLate
		e.quiet = 0
		if now.Sub(e.lastLine) >= h.every {
			e.lastLine = now
			s.logger.Warn("dualwrite: a side is still failing or missing its follower budget",
				"side", sd.String(), "errors", e.errs, "late", e.late, "for", now.Sub(e.since).Round(time.Second).String())
		}
	case e.on:
		if e.quiet++; e.quiet >= quietTicks {
			e.on = false
			s.logger.Info("dualwrite: a side answers again",
				"side", sd.String(), "errors", e.errs, "late", e.late, "for", now.Sub(e.since).Round(time.Second).String())
		}
	}
}

func (s *Session) backlogTick(now time.Time, n int64, oldest time.Duration, cur, prev healthSample) {
	h := &s.health
	b := &h.bl
	switch {
	case n > 0 && !b.on:
		*b = backlogEpisode{on: true, since: now, lastLine: now, peak: n, lastLineBacklog: n,
			logged0: prev.logged, replayed0: prev.replayed, dead0: prev.dead, failed0: prev.failed, late0: prev.late}
		s.logger.Warn("dualwrite: the replay backlog started growing",
			"backlog", n, "oldest", oldest.Round(time.Millisecond).String(), "kept", cur.logged-prev.logged)
	case n > 0:
		if n > b.peak {
			b.peak = n
		}
		if n > b.lastLineBacklog && now.Sub(b.lastLine) >= h.every {
			b.lastLine, b.lastLineBacklog = now, n
			s.logger.Warn("dualwrite: the replay backlog is still growing",
				"backlog", n, "oldest", oldest.Round(time.Millisecond).String(), "kept", cur.logged-b.logged0,
				"replayed", cur.replayed-b.replayed0, "for", now.Sub(b.since).Round(time.Second).String())
		}
	case b.on:
		b.on = false
		s.logger.Info("dualwrite: the replay backlog has drained",
			"failed", cur.failed-b.failed0, "late", cur.late-b.late0, "kept", cur.logged-b.logged0,
			"replayed", cur.replayed-b.replayed0, "dead_lettered", cur.dead-b.dead0, "peak", b.peak,
			"took", now.Sub(b.since).Round(time.Millisecond).String())
	}
}
