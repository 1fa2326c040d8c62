package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// writeOp is one write (a statement or a batch) on its way to one or both sides.
type writeOp struct {
	one        [1]Stmt // stmts of a single query, without an allocation of its own
	vals       [4]any  // detach's copy of a few values, without an allocation of its own
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
	// sent and answered are when the write was sent to its first side and when the leader
	// answered (zero: not yet): the base of a kept entry's Logged, hence of its TTL (entryFor).
	sent, answered time.Time
}

// detach makes op stop reading the caller's memory: the statements' values slices (and a batch's
// statement slice), the contents of []byte values, and every other slice or map value (a
// collection: []string, []T, map[K]V) are copied. Once Exec returns, gocql lets the caller reuse
// them (it has marshalled them); a follower request that outlives the call (the follower budget,
// Async's queue, a retry that marshals the values again) or a replay log entry must still send
// what the leader was sent under the same timestamp. A collection is copied one level deep (a
// shallow copy of its elements: a []string's strings are immutable; a [][]byte's or
// map[K][]V's inner slices are shared). Pointers (and what a value's own fields point to) are not
// copied: the caller must not change what they point to while a write is on its way.
//
// Cost: nothing for up to len(op.vals) values of a single statement, else one allocation for
// all the values (and one for a batch's statements); one for all []byte contents, plus one per
// non-empty []byte (its interface box); two or so per other non-empty slice or map.
func (op *writeOp) detach() {
	n, nbytes := 0, 0
	for _, st := range op.stmts {
		n += len(st.Values)
		for _, v := range st.Values {
			if b, ok := v.([]byte); ok {
				nbytes += len(b)
			}
		}
	}
	if op.batch {
		op.stmts = append([]Stmt(nil), op.stmts...)
	}
	if n == 0 {
		return
	}
	var vals []any
	if n <= len(op.vals) {
		vals = op.vals[:n:n]
	} else {
		vals = make([]any, n)
	}
	var buf []byte
	if nbytes > 0 {
		buf = make([]byte, 0, nbytes)
	}
	for i := range op.stmts {
		st := &op.stmts[i]
		if st.Values == nil {
			continue
		}
		out := vals[:len(st.Values):len(st.Values)]
		vals = vals[len(st.Values):]
		for j, v := range st.Values {
			if b, ok := v.([]byte); ok && len(b) > 0 {
				off := len(buf)
				buf = append(buf, b...)
				v = buf[off:len(buf):len(buf)]
			} else if !ok {
				v = copyCollection(v)
			}
			out[j] = v
		}
		st.Values = out
	}
}

// encodeValues encodes each statement's values as a replay log entry holds them (Stmt.enc), or
// returns ErrUnencodable (wrapped) when one cannot be kept. Called after detach: the values it
// encodes are the ones every copy and entry of op carries.
//
// Cost: one allocation for all the statements (more only past 64 bytes of values).
func (op *writeOp) encodeValues() error {
	buf := make([]byte, 0, 64)
	for i := range op.stmts {
		start := len(buf)
		var err error
		if buf, err = encodeValues(buf, op.stmts[i]); err != nil {
			return err
		}
		// A later append may move buf: the bytes already sliced stay where they are, unchanged.
		op.stmts[i].enc = buf[start:len(buf):len(buf)]
	}
	return nil
}

// copyCollection returns a shallow copy of v when it is a non-empty slice or map (one level:
// its elements are copied as values), else v itself.
func copyCollection(v any) any {
	switch v.(type) {
	case nil, string, int, int32, int64, float32, float64, bool, time.Time, gocql.UUID:
		return v // the common scalars, without reflection
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice:
		if rv.Len() == 0 {
			return v
		}
		c := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
		reflect.Copy(c, rv)
		return c.Interface()
	case reflect.Map:
		if rv.Len() == 0 {
			return v
		}
		c := reflect.MakeMapWithSize(rv.Type(), rv.Len())
		for it := rv.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), it.Value())
		}
		return c.Interface()
	}
	return v
}

// failClass is what a side's error says about trying the same write again.
type failClass int

const (
	// failTransient: the side may take it later (timeout, unavailable, no connection, an
	// authorizer that could not read system_auth …): keep it for replay and retry.
	failTransient failClass = iota
	// failPermanent: the side refused the statement (table or column gone, value rejected,
	// unauthorized): it will not land as it is; the replayer dead-letters it after a floor of
	// attempts and time (deadLetterMinAttempts, minAge), since a schema or grant may still be
	// on its way.
	failPermanent
	// failNever: it can never land (a syntax error, a value that cannot be encoded or marshalled):
	// dead-lettered at once.
	failNever
)

// deadLetterMinAttempts is the floor of attempts before an entry is dead-lettered, for every class
// of failure but failNever.
const deadLetterMinAttempts = 5

// classifyFailure classifies err by itself (see Session.classify for what the session knows).
// An unauthorized answer that says the authorizer could not read its tables ("Unable to perform
// authorization of permissions: Cannot achieve consistency level …", CassandraAuthorizer during
// an outage) is transient: it is exactly the outage the replay log exists for.
func classifyFailure(err error) failClass {
	if errors.Is(err, ErrUnencodable) || errors.Is(err, ErrNotReplayable) {
		return failNever
	}
	var me gocql.MarshalError
	if errors.As(err, &me) {
		return failNever
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax:
			return failNever
		case gocql.ErrCodeUnauthorized:
			if authorizerUnavailable(re.Message()) {
				return failTransient
			}
			return failPermanent
		case gocql.ErrCodeInvalid, gocql.ErrCodeConfig:
			return failPermanent
		}
	}
	return failTransient
}

// authorizerUnavailable reports whether an unauthorized answer's message says the authorizer
// could not decide (it could not read system_auth), not that the role lacks the permission.
func authorizerUnavailable(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "unable to perform authorization") || strings.Contains(m, "cannot achieve consistency level") ||
		strings.Contains(m, "operation timed out") || strings.Contains(m, "unavailable")
}

// classify is classifyFailure knowing what side sd has accepted before: an unauthorized answer
// for a statement on a table the side accepted a write to (in this process) is transient (a grant
// does not vanish in the middle of a migration; a cache or system_auth being unreachable does).
// The table is the keyspace-qualified one the side was sent (tableKey). form gives each
// statement of stmts in side sd's form (forSide for an application's write; the identity for a
// replay log entry, already in its side's form).
func (s *Session) classify(sd side, stmts []Stmt, form func(string) string, err error) failClass {
	c := classifyFailure(err)
	if c != failPermanent {
		return c
	}
	var re gocql.RequestError
	if errors.As(err, &re) && re.Code() == gocql.ErrCodeUnauthorized {
		for _, st := range stmts {
			for _, t := range s.tablesOn(sd, form(st.Stmt)) {
				if t.ok.Load() {
					return failTransient
				}
			}
		}
	}
	return c
}

// refused reports whether side sd refused op (not worth keeping for replay).
func (s *Session) refused(sd side, op *writeOp, err error) bool {
	return s.classify(sd, op.stmts, func(stmt string) string { return s.forSide(sd, stmt) }, err) != failTransient
}

// accepted records that side sd took a write on the tables of op, whose statements form gives in
// the side's form (as sent; nil: as they are).
func (s *Session) accepted(sd side, op *writeOp, form func(string) string) {
	for _, st := range op.stmts {
		stmt := st.Stmt
		if form != nil {
			stmt = form(stmt)
		}
		for _, t := range s.tablesOn(sd, stmt) {
			if !t.ok.Load() {
				t.ok.Store(true)
			}
		}
	}
}

// write sends op to the sides its phase names and applies the failure policy. applied is the
// leader's answer for a conditional write (true otherwise).
//
// In the dual phases both sides are sent the write at once. The caller waits for the leader, and
// for the follower only until the follower budget (WithFollowerBudget, also bounded by the
// caller's deadline) runs out: a follower that has not answered by then is kept in the replay log
// and the caller returns while the follower's request finishes in the background (a replay of a
// write that did land is harmless: same timestamp, same cells).
func (s *Session) write(op *writeOp) (applied bool, err error) {
	s.stats.writes.Add(1)
	if s.closed.Load() {
		return false, ErrClosed
	}
	if err := s.gate.rlock(op.ctx); err != nil {
		return false, fmt.Errorf("dualwrite: waiting for a phase switch: %w", err)
	}
	defer s.gate.runlock()
	if s.closed.Load() {
		return false, ErrClosed
	}
	// A write whose context is already done is sent nowhere: neither side, nor the replay log.
	// (The follower runs under the session's context and a leader's context error is not a
	// refusal, so a write dispatched now would land on the follower and be kept for the leader,
	// though its caller had given up before it started.)
	if err := op.ctx.Err(); err != nil {
		return false, fmt.Errorf("dualwrite: write not started: %w", err)
	}
	if err := s.check(op); err != nil {
		s.stats.refused.Add(1)
		return false, err
	}
	phase := s.Phase()
	if err := s.checkMutation(op, phase); err != nil {
		s.stats.refused.Add(1)
		return false, err
	}
	if err := s.resolveCounter(op, phase); err != nil {
		s.stats.refused.Add(1)
		return false, err
	}
	if err := s.checkReplayable(op, phase); err != nil {
		s.stats.refused.Add(1)
		return false, err
	}
	if op.ts == 0 {
		op.ts = s.clock.next()
	}
	op.sent = time.Now()
	if phase.follows() {
		op.detach() // the follower's request, its queue or its log entry may outlive this call
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
		// The caller is answered before the follower is: a copy the replay log could never keep
		// would be acknowledged, then lost with its follower. Its values are encoded now, before
		// anything is sent, and the bytes reused by every entry kept for it (no second encoding).
		if err := op.encodeValues(); err != nil {
			s.stats.refused.Add(1)
			return false, fmt.Errorf("dualwrite: Async answers before the follower, and this write could not be kept "+
				"for replay should the follower miss it; not sent: %w", err)
		}
		applied, err = s.run(op.ctx, op, leader, phase)
		op.answered = time.Now()
		if err != nil {
			return applied, s.leaderFailed(op, leader, follower, err, nil, false)
		}
		if err := s.enqueue(op, follower, phase); err != nil {
			return applied, err
		}
		s.stats.acked.Add(1)
		return applied, nil
	}

	start := time.Now()
	f := s.startFollower(op, follower, phase)
	spec := s.cfg.policy == PrimaryAuthoritative && !op.lwt && !op.counter && s.log != nil
	var ahead *aheadAppend
	// An entry kept ahead is held until the leader answers, and withdrawn if it refused: durably,
	// before the caller is told (hold.go). It is kept ahead only with its withdrawal's space
	// promised (reserve.go), so the withdrawal never depends on the free space at that moment.
	held := false
	how := settleRelease // what the leader's answer makes of an entry kept ahead (hold.go)
	defer func() {
		if held {
			err = s.settleHold(op, follower, ahead, how, err)
		}
	}()
	if spec && s.sides[follower].down() && s.promiseWithdrawal() {
		// The follower has missed its budget again and again: don't make every caller wait for it.
		// The entry goes to the replay log at once, in parallel with the leader; the follower
		// still gets the write in the background, and its first success ends this.
		held = true
		s.holds.hold(follower, op.ts)
		ahead = s.keepAhead(op, follower)
	}
	applied, err = s.run(op.ctx, op, leader, phase)
	op.answered = time.Now()
	lerr := err // the leader's answer
	budget := s.cfg.budget
	if s.cfg.policy == Strict {
		budget = 1<<63 - 1 // both sides must answer: the caller's context alone bounds the wait
	}
	if ahead != nil {
		budget = 0 // only an answer already there counts
	}
	// Three quarters into the budget, a follower still silent is likely to miss it: its entry
	// starts on its way to the replay log then, so that the fsync overlaps the rest of the wait
	// and a late follower costs the caller the budget, not the budget plus an fsync. If the
	// follower answers after all, the entry is redundant and its replay harmless.
	var early func()
	if spec && ahead == nil && (lerr == nil || !s.refused(leader, op, lerr)) {
		early = func() {
			if !s.promiseWithdrawal() {
				return // the follower's answer is waited for, and its entry kept after the leader's
			}
			held = true
			s.holds.hold(follower, op.ts)
			ahead = s.keepAhead(op, follower)
		}
	}
	fres := f.wait(op.ctx, start, budget, early)
	if fres.missed {
		s.sides[follower].noteFollower(false)
	}
	if err != nil {
		if held {
			how = s.settleLeaderFailed(op, leader, follower, lerr, &fres)
		}
		return applied, s.leaderFailed(op, leader, follower, err, &fres, held)
	}
	if ahead != nil && fres.err != nil {
		if fres.late {
			s.stats.followerLate.Add(1)
			if s.m != nil {
				s.m.late.Inc()
			}
		}
		s.stats.followerFailed.Add(1)
		select {
		case <-ahead.done:
			if kerr := ahead.err; kerr != nil {
				return applied, fmt.Errorf("dualwrite: the %s side did not take the write and it could not be kept for replay: %w", follower, kerr)
			}
		case <-op.ctx.Done():
			return applied, fmt.Errorf("dualwrite: the %s side did not take the write; waiting for the replay log's fsync: %w", follower, op.ctx.Err())
		}
		s.stats.acked.Add(1)
		return applied, nil
	}
	if err := s.settleFollower(op, follower, fres, applied); err != nil {
		return applied, err
	}
	s.stats.acked.Add(1)
	return applied, nil
}

// followerCall is a follower write running in its own goroutine.
type followerCall struct {
	done chan followerResult // nil: not started (too many follower writes in flight)
}

type followerResult struct {
	applied bool
	err     error
	late    bool // not answered within the budget: still running in the background
	missed  bool // late because the budget ran out (not the caller's context)
}

var errNotStarted = errors.New("dualwrite: follower write not started: too many follower writes still running in the background")

// startFollower sends op to the follower under a context of the session's (the caller's context
// only bounds how long the caller waits, not the follower's write).
func (s *Session) startFollower(op *writeOp, follower side, phase Phase) followerCall {
	select {
	case s.bgSem <- struct{}{}:
	default:
		return followerCall{}
	}
	done := make(chan followerResult, 1)
	s.bgWG.Add(1)
	go func() {
		defer func() { <-s.bgSem; s.bgWG.Done() }()
		t0 := time.Now()
		a, e := s.run(valuesOf{Context: s.bgCtx, vals: op.ctx}, op, follower, phase)
		s.sides[follower].noteFollower(e == nil && time.Since(t0) <= s.cfg.budget)
		done <- followerResult{applied: a, err: e}
	}()
	return followerCall{done: done}
}

// wait returns the follower's result, or a late result once budget (from start) or most of the
// caller's remaining time has passed, whichever comes first. early, if not nil, is called once
// three quarters of the way to that point if the follower has not answered by then.
func (f followerCall) wait(ctx context.Context, start time.Time, budget time.Duration, early func()) followerResult {
	if f.done == nil {
		return followerResult{err: errNotStarted}
	}
	deadline := start.Add(budget)
	if budget < 0 || deadline.Before(start) {
		deadline = start.Add(1<<62 - 1)
	}
	if dl, ok := ctx.Deadline(); ok {
		// Leave a quarter of the caller's remaining time for keeping the write in the replay log.
		if d := time.Now().Add(time.Until(dl) * 3 / 4); d.Before(deadline) {
			deadline = d
		}
	}
	select {
	case r := <-f.done:
		return r
	default:
	}
	var t *time.Timer
	if early != nil {
		t = time.NewTimer(time.Until(start.Add(deadline.Sub(start) * 3 / 4)))
		select {
		case r := <-f.done:
			t.Stop()
			return r
		case <-ctx.Done():
			t.Stop()
			return followerResult{err: ctx.Err(), late: true}
		case <-t.C:
			early()
		}
		t.Reset(time.Until(deadline)) // fired and drained: one timer serves both waits
	} else {
		t = time.NewTimer(time.Until(deadline))
	}
	defer t.Stop()
	select {
	case r := <-f.done:
		return r
	case <-t.C:
		return followerResult{err: ErrFollowerBudget, late: true, missed: true}
	case <-ctx.Done():
		return followerResult{err: ctx.Err(), late: true}
	}
}

// settleFollower applies the policy to the follower's result once the leader has accepted.
func (s *Session) settleFollower(op *writeOp, follower side, f followerResult, leaderApplied bool) error {
	if f.late {
		s.stats.followerLate.Add(1)
		if s.m != nil {
			s.m.late.Inc()
		}
	}
	switch {
	case op.lwt:
		if f.err != nil {
			// The follower failed (it did not decide differently: it may or may not have applied).
			// A conditional write is never replayed blindly: like a counter update it is recorded
			// as uncertain for that side, counted, and seen by SetPhase's authority check.
			s.stats.followerFailed.Add(1)
			if err := s.recordUncertain(op, follower, f.err, false); err != nil {
				return err
			}
			if s.cfg.policy == Strict {
				// Strict: both sides must take the write. A follower that answered with a
				// different outcome did take a decision (counted and logged below); one that
				// failed did not, and the caller is told.
				return fmt.Errorf("%w: %s: conditional write: %w", ErrFollower, follower, f.err)
			}
		} else if f.applied != leaderApplied {
			s.stats.lwtMismatches.Add(1)
			if s.m != nil {
				s.m.lwtDiff.Inc()
			}
			s.logger.Warn("dualwrite: conditional write decided differently on the two sides",
				"leader", follower.other().String(), "leader_applied", leaderApplied, "follower_applied", f.applied, "stmt", logStmt(op.stmts[0].Stmt), "key_hash", keyHash(op.stmts[0].Values))
			s.logger.Debug("dualwrite: conditional write decided differently: values", "key_hash", keyHash(op.stmts[0].Values), "stmt", op.stmts[0].Stmt, "values", op.stmts[0].Values)
		}
		return nil
	case f.err == nil:
		return nil
	case op.counter:
		if err := s.recordUncertain(op, follower, f.err, false); err != nil {
			return err
		}
		if s.cfg.policy == Strict {
			s.stats.followerFailed.Add(1)
			return fmt.Errorf("%w: %s: counter update (recorded as uncertain): %w", ErrFollower, follower, f.err)
		}
		return nil
	default:
		return s.followerFailed(op, follower, f.err)
	}
}

// leaderFailed handles a write the authoritative side did not accept. The caller gets the
// leader's error, but the write may have applied on either side (a timeout is not a refusal), so
// unless the leader refused it outright it is kept for the leader in the replay log: both sides
// then converge on it ("a failed write may have applied", made convergent). The follower's own
// failure is kept for the follower as usual. f is nil when the follower was not sent the write
// (Async sends it after the leader): it is kept for the follower too.
//
// aheadKept says an entry was kept for the follower before the leader answered (hold.go): the
// follower's Unacked copy is then kept by settleHold, before that entry is withdrawn, not here.
func (s *Session) leaderFailed(op *writeOp, leader, follower side, lerr error, f *followerResult, aheadKept bool) error {
	werr := fmt.Errorf("dualwrite: %s: %w", leader, lerr)
	if op.counter || op.lwt {
		// A counter update or a conditional write is never replayed (an increment is not
		// idempotent; a condition may no longer hold). Each side whose outcome is unknown (it failed
		// without refusing: a timeout may have applied) is recorded as uncertain; a leader that
		// refused while the follower took the write is recorded too (the sides now differ).
		lrefused := s.refused(leader, op, lerr)
		// The caller is told the write failed: a record that could not be kept durably is in
		// memory and logged (recordUncertain), and the error is the leader's.
		if !lrefused || (f != nil && f.err == nil) {
			_ = s.recordUncertain(op, leader, lerr, true)
		}
		if f != nil && f.err != nil && !s.refused(follower, op, f.err) {
			_ = s.recordUncertain(op, follower, f.err, true)
		}
		return werr
	}
	if s.refused(leader, op, lerr) || s.log == nil {
		return werr
	}
	if s.followerOwed(op, follower, f) {
		if f != nil && f.late {
			s.stats.followerLate.Add(1)
		}
		s.stats.followerFailed.Add(1)
		// With an entry kept ahead, settleHold keeps the Unacked copy, then withdraws that entry.
		if !aheadKept {
			if kerr := s.keepUnacked(op, follower); kerr != nil {
				s.logger.Error("dualwrite: a write failed on both sides and could not be kept for the follower", "side", follower.String(), "err", kerr)
			}
		}
	}
	if kerr := s.keepUnacked(op, leader); kerr != nil {
		s.logger.Error("dualwrite: a write that failed on the leader could not be kept for it", "side", leader.String(), "err", kerr)
	}
	return werr
}

// followerOwed reports whether a write whose leader failed is owed to the follower (f: its result,
// nil when it was not sent): it did not take it and did not refuse it.
func (s *Session) followerOwed(op *writeOp, follower side, f *followerResult) bool {
	return f == nil || (f.err != nil && !s.refused(follower, op, f.err))
}

// settleLeaderFailed says what becomes of the entry kept ahead for the follower when the leader
// failed (hold.go): withdrawn when the leader refused (nothing is owed to either side); else the
// caller is told the write failed, so the entry, kept unmarked before anyone knew, must not count
// as acknowledged: it is replaced by an Unacked copy when the follower is still owed the write
// (durably first, then withdrawn), or withdrawn when it is not (the follower took or refused it).
func (s *Session) settleLeaderFailed(op *writeOp, leader, follower side, lerr error, f *followerResult) settleHow {
	if !s.refused(leader, op, lerr) && s.followerOwed(op, follower, f) {
		return settleUnacked
	}
	return settleWithdraw
}

// check refuses statements the two sides would store differently.
func (s *Session) check(op *writeOp) error {
	if op.allowND || s.cfg.allowND {
		return nil
	}
	for _, st := range op.stmts {
		if fn := s.statement(st.Stmt).nonDeterministic; fn != "" {
			if s.m != nil {
				s.m.refused.WithLabelValues(reasonNonDeterministic).Inc()
			}
			return fmt.Errorf("%w: %s in %s would give each side a different value; compute it in the "+
				"application and bind it, or opt in with Query.AllowNonDeterministic()", ErrNonDeterministic, fn, errStmt(st.Stmt))
		}
	}
	return nil
}

// checkMutation refuses, in the dual phases, a statement that is not a row mutation (TRUNCATE,
// USE, schema and access changes): it has no timestamp, so neither side's copy can be ordered
// against the writes around it, and a copy kept for replay would undo acknowledged writes that
// followed it. In the single-side phases it goes to that one side and is never kept: only a
// follower, which those phases do not have, is ever owed a write.
func (s *Session) checkMutation(op *writeOp, phase Phase) error {
	if !phase.follows() {
		return nil
	}
	for _, st := range op.stmts {
		if kind := s.statement(st.Stmt).notMutation; kind != "" {
			if s.m != nil {
				s.m.refused.WithLabelValues(reasonNotMutation).Inc()
			}
			return fmt.Errorf("%w: %s (%s) in the %s phase: it carries no timestamp, so a copy kept for a side "+
				"that missed it would, replayed later, undo the writes acknowledged after it; run it on each side "+
				"yourself with a plain gocql session (a TRUNCATE with the writers stopped and the replay backlog "+
				"drained), or through this session in primary-only/secondary-only", ErrNotReplayable, errStmt(st.Stmt), kind, phase)
		}
	}
	return nil
}

// followerFailed applies the policy to a follower write that failed.
func (s *Session) followerFailed(op *writeOp, follower side, ferr error) error {
	s.stats.followerFailed.Add(1)
	if s.cfg.policy == Strict {
		if s.refused(follower, op, ferr) {
			return fmt.Errorf("%w: the %s side refused the write (fix its schema or the statement; "+
				"the other side holds it): %w", ErrFollower, follower, ferr)
		}
		return fmt.Errorf("%w: %s: %w", ErrFollower, follower, ferr)
	}
	// PrimaryAuthoritative: the authoritative side took the write, so the caller is answered
	// yes. A refusal (a column or table the follower does not know yet while a schema change
	// propagates, a grant on its way) is kept too: the replayer classifies it and dead-letters it
	// only past its floor of attempts and age, and until then it counts as backlog (then as a
	// dead letter) against that side's authority.
	if err := s.keep(op, follower); err != nil {
		return err
	}
	s.logger.Debug("dualwrite: follower write kept for replay", "side", follower.String(), "err", ferr)
	return nil
}

// keep appends op, as side sd must receive it, to the replay log. The wait for the log's fsync
// is bounded by the caller's context: when it ends first the caller's write fails (the entry may
// still become durable and be replayed, which is harmless).
func (s *Session) keep(op *writeOp, sd side) error { return s.keepEntry(op, s.entryFor(op, sd)) }

// keepUnacked keeps op for side sd when the caller is told the write failed (its leader failed):
// the entry replays like any other, so both sides converge, but it is marked Unacked.
func (s *Session) keepUnacked(op *writeOp, sd side) error {
	e := s.entryFor(op, sd)
	e.Unacked = true
	return s.keepEntry(op, e)
}

func (s *Session) keepEntry(op *writeOp, e *Entry) error {
	sd := entrySide(e)
	if err := s.bounded(op.ctx, func(ctx context.Context) error { return s.appended(s.log.Append(ctx, e)) }); err != nil {
		return fmt.Errorf("dualwrite: the %s side did not take the write and it could not be kept for replay: %w", sd, err)
	}
	return nil
}

// aheadAppend is an append started by keepAhead: once done is closed, err is its outcome and,
// when the log can withdraw entries, pos is where the entry is.
type aheadAppend struct {
	done chan struct{}
	e    *Entry
	err  error
	pos  Pos
}

// keepAhead starts appending op for side sd to the replay log without waiting. Close waits for it.
func (s *Session) keepAhead(op *writeOp, sd side) *aheadAppend {
	a := &aheadAppend{done: make(chan struct{}), e: s.entryFor(op, sd)}
	s.bgWG.Add(1)
	s.stats.appending.Add(1)
	go func() {
		defer s.bgWG.Done()
		defer s.stats.appending.Add(-1)
		defer close(a.done)
		ctx := context.WithoutCancel(op.ctx)
		if wl, ok := s.log.(withdrawer); ok {
			a.pos, a.err = wl.appendAt(ctx, a.e)
		} else {
			a.err = s.log.Append(ctx, a.e)
		}
		a.err = s.appended(a.err)
	}()
	return a
}

// entryFor is op as side sd must receive it.
//
// Its Logged (the base of a USING TTL statement's expiry, replayttl.go) is when the leader
// answered (the original cell arrived there by then, so the replayed one never dies first), or
// when the write was sent if the entry is kept before the leader answered: never when it is kept,
// so the time a follower copy spent in the async queue or the follower budget is not added to its
// TTL.
func (s *Session) entryFor(op *writeOp, sd side) *Entry {
	logged := op.answered
	if logged.IsZero() {
		logged = op.sent
	}
	if logged.IsZero() {
		logged = time.Now()
	}
	e := &Entry{Side: sd.String(), Timestamp: op.ts, Batch: op.batch, BatchType: op.batchType,
		Consistency: gocql.LocalQuorum, Logged: logged} // replay: the caller's consistency, else LOCAL_QUORUM
	if op.cons != nil {
		e.Consistency = *op.cons
	}
	for _, st := range op.stmts {
		e.Stmts = append(e.Stmts, Stmt{Stmt: s.forSide(sd, st.Stmt), Values: st.Values, enc: st.enc})
	}
	return e
}

// appended counts an entry the replay log accepted.
func (s *Session) appended(err error) error {
	if err == nil {
		s.stats.logged.Add(1)
		if s.m != nil {
			s.m.logged.Inc()
		}
	}
	return err
}

// bounded runs fn (a durable append to the replay log) and returns when it is done or ctx ends,
// whichever is first. fn itself always goes ahead to the end, even when ctx has already ended:
// the write may have applied on one side, and the entry is what makes the other converge. Close
// waits for it.
func (s *Session) bounded(ctx context.Context, fn func(context.Context) error) error {
	if ctx.Done() == nil {
		return fn(ctx)
	}
	done := make(chan error, 1)
	s.bgWG.Add(1)
	s.stats.appending.Add(1) // WaitReplayed waits for it: the caller may be gone, the entry is not
	go func() {
		defer s.bgWG.Done()
		defer s.stats.appending.Add(-1)
		done <- fn(context.WithoutCancel(ctx))
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the replay log's fsync: %w", ctx.Err())
	}
}

// recordUncertain keeps a counter update or a conditional write whose outcome on side sd is
// unknown in the replay log's uncertain store (durably, never replayed; `islands replay` lists
// them). A record that fails for lack of space frees part of the replay directory's reserve and
// is tried again (reserve.go). Without a store (Strict with no replay log), or when the record
// still cannot be kept, it is kept in memory (Uncertain, counted against sd's authority for the
// life of the process) and logged; in the second case the error says so, and the caller must not
// be told the write succeeded: after a restart nothing would say sd's outcome is unknown.
//
// Invariant: one write whose outcome on sd is unknown is counted once, durably or in memory. The
// durable record runs under the session's context, not the caller's (it outlives a caller whose
// deadline ends: the write may have applied, and the record is what says so; Close cancels it),
// and the memory copy is made by that record's own goroutine only when the record really failed,
// never because the caller stopped waiting for it. SetPhase waits for records under way
// (waitAppends), so it sees the one copy.
//
// unacked says the caller is told the write failed (its leader failed): the record is marked
// Unacked, as replay log entries are, and Open does not count it against the primary's authority.
func (s *Session) recordUncertain(op *writeOp, sd side, ferr error, unacked bool) error {
	s.stats.uncertain.Add(1)
	if s.m != nil {
		s.m.uncertain.Inc()
	}
	s.logger.Warn("dualwrite: counter update or conditional write failed or did not answer on a side; recorded as uncertain, never replayed",
		"side", sd.String(), "stmt", logStmt(op.stmts[0].Stmt), "key_hash", keyHash(op.stmts[0].Values), "err", ferr)
	s.logger.Debug("dualwrite: uncertain write: values", "key_hash", keyHash(op.stmts[0].Values), "stmt", op.stmts[0].Stmt, "values", op.stmts[0].Values)
	u := Uncertain{Side: sd.String(), Stmt: op.stmts[0].Stmt, Values: op.stmts[0].Values, Err: ferr.Error(), At: time.Now()}
	ul, ok := s.log.(UncertainLog)
	if !ok || s.log == nil {
		s.keepUncertainInMemory(u)
		return nil
	}
	e := s.entryFor(op, sd)
	e.Unacked = unacked
	r, _ := s.log.(reserver)
	done := make(chan error, 1)
	s.bgWG.Add(1)
	s.stats.appending.Add(1) // SetPhase and WaitReplayed wait for it: the caller may be gone, the record is not
	go func() {
		defer s.bgWG.Done()
		defer s.stats.appending.Add(-1)
		err := s.recordUncertainDurably(s.bgCtx, ul, r, e, sd, ferr)
		if err != nil {
			s.logger.Error("dualwrite: could not keep an uncertain write durably; kept in memory only", "side", sd.String(), "err", err)
			s.keepUncertainInMemory(u)
		}
		done <- err
	}()
	var kerr error
	select {
	case kerr = <-done:
		if kerr == nil {
			return nil
		}
	case <-op.ctx.Done():
		return fmt.Errorf("%w: the %s side's outcome of a counter update or conditional write is unknown; its uncertain "+
			"record was still being written when the caller's context ended (it goes on; kept in memory if it fails): %w",
			ErrFollower, sd, op.ctx.Err())
	}
	return fmt.Errorf("%w: the %s side's outcome of a counter update or conditional write is unknown and could not be "+
		"recorded as uncertain (kept in this process's memory only): %w", ErrFollower, sd, kerr)
}

// recordUncertainDurably writes e to the uncertain store ul under ctx, freeing part of the replay
// directory's reserve r (when there is one) and trying again while the record fails for lack of
// space.
func (s *Session) recordUncertainDurably(ctx context.Context, ul UncertainLog, r reserver, e *Entry, sd side, ferr error) error {
	for attempt := 1; ; attempt++ {
		err := ul.RecordUncertain(ctx, e, ferr)
		if err == nil || !noSpace(err) || r == nil {
			return err
		}
		s.logger.Warn("dualwrite: could not keep an uncertain write durably: no space; using the replay directory's reserve",
			"side", sd.String(), "attempt", attempt, "err", err)
		if !r.releaseReserve() {
			return err
		}
	}
}

// keepUncertainInMemory keeps u in this process's memory (Uncertain, counted by uncertainFor).
func (s *Session) keepUncertainInMemory(u Uncertain) {
	s.uncertainMu.Lock()
	if len(s.uncertain) < 10000 {
		s.uncertain = append(s.uncertain, u)
	}
	s.uncertainMu.Unlock()
}

// run executes op on one side and records its latency.
func (s *Session) run(ctx context.Context, op *writeOp, sd side, phase Phase) (applied bool, err error) {
	start := time.Now()
	var dest map[string]any
	if sd == phase.leader() {
		dest = op.casDest
	}
	applied, err = s.exec(ctx, sd, op, dest, func(stmt string) string { return s.forSide(sd, stmt) })
	s.health.noteResult(sd, err)
	if s.m != nil {
		s.m.observe(sd, phase, time.Since(start), err)
	}
	return applied, err
}

// exec runs op on side sd's current gocql session and tells the side's healer how it went.
func (s *Session) exec(ctx context.Context, sd side, op *writeOp, dest map[string]any, form func(string) string) (bool, error) {
	if s.execHook != nil {
		began := s.sides[sd].begin()
		applied, err := s.execHook(ctx, sd, op)
		s.sides[sd].note(began, err)
		if err == nil {
			s.accepted(sd, op, form)
		}
		return applied, err
	}
	sc := s.sides[sd]
	began := sc.begin()
	g := sc.acquire()
	defer g.release()
	if g.sess == nil {
		return false, errNoSession
	}
	applied, err := s.execOn(ctx, g.sess, form, op, dest)
	sc.note(began, err)
	if err == nil {
		s.accepted(sd, op, form)
	}
	return applied, err
}

// execVerbatim runs a replay log entry, whose statements are already in the side's form.
func (s *Session) execVerbatim(ctx context.Context, sd side, op *writeOp) (bool, error) {
	return s.exec(ctx, sd, op, nil, func(stmt string) string { return stmt })
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
