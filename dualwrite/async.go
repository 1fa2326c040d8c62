package dualwrite

import (
	"context"
	"errors"
	"time"
)

// asyncJob is a follower write the Async policy finishes in the background.
type asyncJob struct {
	op    *writeOp
	side  side
	phase Phase
}

// Async follower copies and their bound.
//
// Invariant: every queued follower copy ends landed on its side, kept in the replay log, or (when
// the log cannot keep it) held in memory against its side's authority until it can (unkept.go); no
// SetPhase or Close waits on a follower for longer than the follower budget. A queued copy runs
// under the current async context (the caller's values, the session's cancellation). SetPhase and
// Close (with the gate held, so that no copy is queued meanwhile) give the queue the follower
// budget to drain, then cancel that context (abandonAsync): a copy still running ends with the
// context's error and one not started yet is not sent; both are kept in the replay log, whose
// append goes on to its end (the replayer lands them; a copy that did land is replayed harmlessly,
// same timestamp, same cells). Copies queued after the switch get a fresh context.

// asyncContext is the context queued follower copies run under until the next abandonAsync.
func (s *Session) asyncContext() context.Context {
	s.asyncMu.Lock()
	defer s.asyncMu.Unlock()
	return s.asyncCtx
}

// abandonAsync cancels the follower copies queued or running (they go to the replay log) and
// gives the copies queued from now on a fresh context.
func (s *Session) abandonAsync() {
	s.asyncMu.Lock()
	defer s.asyncMu.Unlock()
	s.asyncCancel()
	s.asyncCtx, s.asyncCancel = context.WithCancel(context.Background())
}

// enqueue hands the follower write to the async workers, or to the replay log when the queue is
// full (so back-pressure never reaches the caller and nothing is dropped).
//
// A queued write outlives the call, so it runs under the async context with the caller's values
// (not its cancellation); an overflow is appended while the caller waits, so that wait stays
// bounded by the caller's context (keep: the append itself goes on to the end).
func (s *Session) enqueue(op *writeOp, follower side, phase Phase) error {
	if s.unkeptHeld() >= int64(cap(s.async)) {
		// As many copies as the queue holds already wait in memory for room in the replay log
		// (unkept.go, invariant 3): keep this one while the caller waits, as an overflow is.
		return s.keep(op, follower)
	}
	caller := op.ctx
	op.ctx = valuesOf{Context: s.asyncContext(), vals: caller}
	s.stats.asyncInFlight.Add(1)
	select {
	case s.async <- asyncJob{op: op, side: follower, phase: phase}:
		return nil
	default:
	}
	op.ctx = caller // not queued: op is still the caller's alone
	s.stats.asyncInFlight.Add(-1)
	if s.m != nil {
		s.m.asyncOverflow.Inc()
	}
	return s.keep(op, follower)
}

// asyncCopy returns the follower copy of op as sent now: its USING TTLs shortened by the time it
// waited since the leader took the write (trimTTLs, the replayer's rule), so that the follower's
// cells expire when the leader's do. op itself is left as it is: an entry kept for it on failure
// counts its TTL from when the leader answered (entryFor), never from a trimmed copy.
func (s *Session) asyncCopy(op *writeOp) *writeOp {
	taken := op.answered
	if taken.IsZero() {
		taken = op.sent
	}
	stmts := trimTTLs(op.stmts, taken, time.Now())
	if len(stmts) == 0 || &stmts[0] == &op.stmts[0] {
		return op
	}
	c := *op
	c.stmts = stmts
	return &c
}

// errAbandoned is the failure of a queued follower copy not sent before SetPhase or Close
// abandoned the queue.
var errAbandoned = errors.New("dualwrite: async follower copy not sent before a phase switch or Close; kept for replay")

func (s *Session) asyncWorker() {
	defer s.asyncWG.Done()
	for job := range s.async {
		var err error
		if job.op.ctx.Err() != nil {
			err = errAbandoned
		} else {
			_, err = s.run(job.op.ctx, s.asyncCopy(job.op), job.side, job.phase)
		}
		if err != nil {
			s.stats.followerFailed.Add(1)
			job.op.ctx = context.WithoutCancel(job.op.ctx) // the append goes on to its end
			e := s.entryFor(job.op, job.side)
			if kerr := s.keepEntry(job.op, e); kerr != nil {
				// The caller was already answered: the copy is held in memory, holds the side's
				// authority and is appended again when the log has room (unkept.go).
				s.holdUnkept(e, err, kerr)
			}
		}
		s.stats.asyncInFlight.Add(-1)
	}
}
