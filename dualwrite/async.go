package dualwrite

import (
	"context"
)

// asyncJob is a follower write the Async policy finishes in the background.
type asyncJob struct {
	op    *writeOp
	side  side
	phase Phase
}

// enqueue hands the follower write to the async workers, or to the replay log when the queue is
// full (so back-pressure never reaches the caller and nothing is dropped).
//
// A queued write outlives the call, so it runs under the caller's context without its
// cancellation; an overflow is appended while the caller waits, so that wait stays bounded by the
// caller's context (keep: the append itself goes on to the end).
func (s *Session) enqueue(op *writeOp, follower side, phase Phase) error {
	caller := op.ctx
	op.ctx = context.WithoutCancel(caller)
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

func (s *Session) asyncWorker() {
	defer s.asyncWG.Done()
	for job := range s.async {
		if _, err := s.run(job.op.ctx, job.op, job.side, job.phase); err != nil {
			s.stats.followerFailed.Add(1)
			if kerr := s.keep(job.op, job.side); kerr != nil {
				// The caller was already answered: this is the one way Async can lose a follower
				// write (replay log full or unwritable). Say so loudly.
				s.logger.Error("dualwrite: async follower write lost", "side", job.side.String(),
					"stmt", job.op.stmts[0].Stmt, "err", err, "replay_log_err", kerr)
			}
		}
		s.stats.asyncInFlight.Add(-1)
	}
}
