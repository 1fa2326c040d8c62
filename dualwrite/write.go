package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
)

// writeOp is one write (a statement or a batch) on its way to one or both sides.
type writeOp struct {
	ctx        context.Context
	stmts      []Stmt // as the application wrote them (primary's keyspace names)
	batch      bool
	batchType  gocql.BatchType
	cons       *gocql.Consistency
	serial     *gocql.SerialConsistency
	idempotent bool
	ts         int64
	lwt        bool
	counter    bool
	allowND    bool
	casDest    map[string]any // for MapScanCAS: the leader's current row when not applied
}

// kind of failure a follower error is.
func permanent(err error) bool {
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeUnauthorized, gocql.ErrCodeInvalid, gocql.ErrCodeConfig:
			return true
		}
	}
	return errors.Is(err, ErrUnencodable)
}

// write sends op to the sides its phase names and applies the failure policy. applied is the
// leader's answer for a conditional write (true otherwise).
func (s *Session) write(op *writeOp) (applied bool, err error) {
	s.stats.writes.Add(1)
	if s.closed.Load() {
		return false, ErrClosed
	}
	if err := s.check(op); err != nil {
		s.stats.refused.Add(1)
		if s.m != nil {
			s.m.refused.WithLabelValues("non-deterministic").Inc()
		}
		return false, err
	}
	phase := s.Phase()
	if op.ts == 0 {
		op.ts = s.clock.next()
	}
	if !phase.follows() {
		sd := primarySide
		if phase == SecondaryOnly {
			sd = secondarySide
		}
		applied, err = s.run(op.ctx, op, sd, phase)
		if err == nil {
			s.stats.acked.Add(1)
		}
		return applied, err
	}
	leader, follower := phase.leader(), 1-phase.leader()

	if s.cfg.policy == Async && !op.lwt && !op.counter {
		applied, err = s.run(op.ctx, op, leader, phase)
		if err != nil {
			return applied, err
		}
		if err := s.enqueue(op, follower, phase); err != nil {
			return applied, err
		}
		s.stats.acked.Add(1)
		return applied, nil
	}

	type result struct {
		applied bool
		err     error
	}
	done := make(chan result, 1)
	fctx := context.WithoutCancel(op.ctx) // the follower's write is ours to finish, not the caller's
	go func() {
		a, e := s.run(fctx, op, follower, phase)
		done <- result{a, e}
	}()
	applied, err = s.run(op.ctx, op, leader, phase)
	f := <-done
	if err != nil {
		return applied, fmt.Errorf("dualwrite: %s: %w", leader, err)
	}
	switch {
	case op.lwt:
		if f.err != nil {
			s.logger.Warn("dualwrite: conditional write failed on the follower (not replayed)", "side", follower.String(), "stmt", op.stmts[0].Stmt, "err", f.err)
		} else if f.applied != applied {
			s.stats.lwtMismatches.Add(1)
			if s.m != nil {
				s.m.lwtDiff.Inc()
			}
			s.logger.Warn("dualwrite: conditional write decided differently on the two sides",
				"leader", leader.String(), "leader_applied", applied, "follower_applied", f.applied, "stmt", op.stmts[0].Stmt, "values", op.stmts[0].Values)
		}
	case f.err == nil:
	case op.counter:
		s.recordUncertain(op, follower, f.err)
	default:
		if err := s.followerFailed(op, follower, f.err); err != nil {
			return applied, err
		}
	}
	s.stats.acked.Add(1)
	return applied, nil
}

// check refuses statements the two sides would store differently.
func (s *Session) check(op *writeOp) error {
	if op.allowND || s.cfg.allowND {
		return nil
	}
	for _, st := range op.stmts {
		if fn := s.statement(st.Stmt).nonDeterministic; fn != "" {
			return fmt.Errorf("%w: %s in %q would give each side a different value; compute it in the "+
				"application and bind it, or opt in with Query.AllowNonDeterministic()", ErrNonDeterministic, fn, st.Stmt)
		}
	}
	return nil
}

// followerFailed applies the policy to a follower write that failed.
func (s *Session) followerFailed(op *writeOp, follower side, ferr error) error {
	s.stats.followerFailed.Add(1)
	if permanent(ferr) {
		return fmt.Errorf("dualwrite: the %s side refused the write (fix its schema or the statement; "+
			"the other side holds it): %w", follower, ferr)
	}
	if s.cfg.policy == Strict {
		return fmt.Errorf("%w: %s: %w", ErrFollower, follower, ferr)
	}
	if err := s.keep(op, follower); err != nil {
		return err
	}
	s.logger.Debug("dualwrite: follower write kept for replay", "side", follower.String(), "err", ferr)
	return nil
}

// keep appends op, as the follower must receive it, to the replay log.
func (s *Session) keep(op *writeOp, follower side) error {
	e := &Entry{Side: follower.String(), Timestamp: op.ts, Batch: op.batch, BatchType: op.batchType,
		Consistency: gocql.LocalQuorum, Logged: time.Now()} // replay: the caller's consistency, else LOCAL_QUORUM
	if op.cons != nil {
		e.Consistency = *op.cons
	}
	for _, st := range op.stmts {
		e.Stmts = append(e.Stmts, Stmt{Stmt: s.forSide(follower, st.Stmt), Values: st.Values})
	}
	if err := s.log.Append(context.WithoutCancel(op.ctx), e); err != nil {
		return fmt.Errorf("dualwrite: the %s side failed and the write could not be kept for replay: %w", follower, err)
	}
	s.stats.logged.Add(1)
	if s.m != nil {
		s.m.logged.Inc()
	}
	return nil
}

func (s *Session) recordUncertain(op *writeOp, follower side, ferr error) {
	s.stats.uncertain.Add(1)
	if s.m != nil {
		s.m.uncertain.Inc()
	}
	u := Uncertain{Side: follower.String(), Stmt: op.stmts[0].Stmt, Values: op.stmts[0].Values, Err: ferr.Error(), At: time.Now()}
	s.uncertainMu.Lock()
	if len(s.uncertain) < 10000 {
		s.uncertain = append(s.uncertain, u)
	}
	s.uncertainMu.Unlock()
	s.logger.Warn("dualwrite: counter update failed on the follower; recorded as uncertain, not replayed",
		"side", u.Side, "stmt", u.Stmt, "values", u.Values, "err", ferr)
}

// run executes op on one side and records its latency.
func (s *Session) run(ctx context.Context, op *writeOp, sd side, phase Phase) (applied bool, err error) {
	start := time.Now()
	var dest map[string]any
	if sd == phase.leader() {
		dest = op.casDest
	}
	applied, err = s.exec(ctx, s.sides[sd], sd, op, dest)
	if s.m != nil {
		s.m.observe(sd, phase, time.Since(start), err)
	}
	return applied, err
}

func (s *Session) exec(ctx context.Context, sess *gocql.Session, sd side, op *writeOp, dest map[string]any) (bool, error) {
	return s.execOn(ctx, sess, func(stmt string) string { return s.forSide(sd, stmt) }, op, dest)
}

// execVerbatim runs a replay log entry, whose statements are already in the side's form.
func (s *Session) execVerbatim(ctx context.Context, sd side, op *writeOp) (bool, error) {
	return s.execOn(ctx, s.sides[sd], func(stmt string) string { return stmt }, op, nil)
}

func (s *Session) execOn(ctx context.Context, sess *gocql.Session, form func(string) string, op *writeOp, dest map[string]any) (bool, error) {
	stampable := !op.lwt && !op.counter
	if !op.batch {
		st := op.stmts[0]
		q := sess.Query(form(st.Stmt), st.Values...).WithContext(ctx).Idempotent(op.idempotent || stampable)
		if stampable {
			q = q.WithTimestamp(op.ts)
		}
		if op.cons != nil {
			q = q.Consistency(*op.cons)
		}
		if op.serial != nil {
			q = q.SerialConsistency(*op.serial)
		}
		if op.lwt {
			if dest == nil {
				dest = map[string]any{}
			}
			return q.MapScanCAS(dest)
		}
		return true, q.Exec()
	}
	b := sess.NewBatch(op.batchType).WithContext(ctx)
	if stampable {
		b = b.WithTimestamp(op.ts)
	}
	if op.cons != nil {
		b.SetConsistency(*op.cons)
	}
	if op.serial != nil {
		b.SerialConsistency(*op.serial)
	}
	for _, st := range op.stmts {
		b.Query(form(st.Stmt), st.Values...)
	}
	if op.lwt {
		if dest == nil {
			dest = map[string]any{}
		}
		applied, iter, err := sess.MapExecuteBatchCAS(b, dest)
		if iter != nil {
			iter.Close()
		}
		return applied, err
	}
	return true, sess.ExecuteBatch(b)
}
