package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/globalcloud/islands/internal/recordlog"
)

// Holds on entries kept ahead of the leader's answer.
//
// Invariant: an entry appended for the follower before the leader has answered (keepAhead: the
// follower-down path and the ¾-budget early append) is held from before its append until the
// leader answers. While held, the replayer does not apply it (errHeld: looked at again shortly,
// and not a failure of the entry: it counts toward neither the dead-letter floor nor "stuck").
// What the leader's answer makes of it (settleHow):
//   - accepted: the hold is released and the entry replays as usual;
//   - refused outright: the caller is told the write failed and the authoritative side never has
//     it: the entry is withdrawn, and a write the caller was told failed never reaches the
//     follower through the log, in this process or any later one on the same directory;
//   - failed without refusing (it may have applied; the caller is told it failed): the entry was
//     kept unmarked, before anyone knew, and must not count as an acknowledged write owed to the
//     follower (Open's and SetPhase's checks, a dead letter's count). When the follower is still
//     owed the write (it failed or is late), an Unacked copy is appended first, durably, and only
//     then is the entry withdrawn, by its position, as above: every entry left for that write is
//     Unacked. When the follower took or refused the write, nothing is owed to it and the entry is
//     withdrawn. If the Unacked copy cannot be kept (the log is full or unwritable), the entry is
//     released instead and replays, counted as acknowledged: the safe side (an Open that makes the
//     follower authoritative waits for it or refuses), and the caller's error says so.
//
// A withdrawal is durable before the caller is told (settleHold): the session waits for the
// entry's own append, then the log records the withdrawal (FileLog: a record in DIR/withdrawn,
// fsynced; withdrawn.go), and only then is the hold released and the leader's refusal returned.
// Every reader of the log passes a withdrawn entry from then on. If the entry had already been
// handed to the replayer (it is retrying it, errHeld), a void in memory makes that attempt pass
// it; otherwise no void is kept (Pending passes it), so a void can never withdraw another entry.
// The caller waits for this only as long as its context allows; the withdrawal itself goes on to
// its end (Close waits for it) and the caller's error then says it was not finished.
//
// A withdrawal never depends on the free space at that moment (reserve.go): the entry is kept
// ahead only once its withdrawal's space is promised from DIR/reserve (else it is kept after the
// leader's answer, and never needs withdrawing); a withdrawal record that fails for lack of space
// frees part of the reserve and is tried again; one that still fails (another writer took the
// space) is retried until it is durable, the hold kept meanwhile (the replayer does not apply the
// entry). Only Close ends the retries: the withdrawal then lives in memory only, and the caller,
// if still waiting, is told the next process may replay the write.
//
// An append that failed is not kept, so it has nothing to withdraw, except when its error says
// the record may still be read back after a reopen (recordlog.ErrUncut: the failed write could
// not be cut back, recordlog invariant 6). Such an entry is withdrawn like a kept one, by the
// position the error named: the caller was told the write failed, and the follower must never
// get it from a later process either (withdrawn.go, invariant 6).
//
// Crash points, each safe (the process may end between any two fsyncs):
//   - before the entry's append is durable: there is nothing to replay;
//   - entry durable, withdrawal not (the leader has not answered, or refused or failed and the
//     withdrawal's fsync had not completed): the caller has not been told anything (its Exec had
//     not returned), so the write's outcome is unknown to it, as after a coordinator crash; the
//     entry replays: the choice that never loses the write when the leader had accepted it, and the
//     follower may then hold a write the leader refused, for a write nobody was told failed. The
//     entry is unmarked, so the next open counts it as acknowledged (the safe side: it waits for
//     it or refuses, never loses it), with the Unacked copy beside it if that was durable;
//   - a torn withdrawal record is cut off on open (recordlog invariant 3): the previous case;
//   - withdrawal durable: the entry is never applied, by this process or the next.
//
// With a ReplayLog that cannot withdraw (not a withdrawer: a caller's own implementation) the
// withdrawal lives in memory only, as a void the replayer consumes, and the entry replays after
// the process ends. Holds are identified by side and timestamp: two writes given the same client
// timestamp by the caller share a hold (released when both leaders have answered). A void names
// its entry by position (Entry.at, set by Pending) whenever the log says where entries are, so a
// retry given the refused write's timestamp is never withdrawn in its place; with a log that
// cannot, a void withdraws one entry of that side and timestamp.
//
// A named void the replayer consumed (check) is remembered (gone) while the hand-off is on
// (keepGone), until the log's cursor passes its entry (forget): the replayer applies entries out
// of order, so a withdrawn entry it passed may still be in the log when the hand-off shares it
// (at Close, or a copy), and peek must still say void then: a withdrawal this process knows is
// honoured by every reader of the log, not by the replayer alone.
type holds struct {
	mu       sync.Mutex
	m        map[holdKey]*holdState
	keepGone bool         // remember consumed named voids (the hand-off reads the log too)
	gone     map[Pos]bool // named voids consumed by check whose entries the cursor has not passed
}

type holdKey struct {
	side side
	ts   int64
}

type holdState struct {
	held   int   // writes whose leader has not answered yet
	void   int   // entries to withdraw, unnamed (a log that cannot say where an entry is)
	voidAt []Pos // entries to withdraw, named by their position (Entry.at)
}

// errHeld is the replay failure of an entry whose write's leader has not answered yet.
var errHeld = errors.New("dualwrite: replay entry held until the leader answers its write")

// hold marks the entry of side sd with timestamp ts as waiting for its leader.
func (h *holds) hold(sd side, ts int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[holdKey]*holdState)
	}
	k := holdKey{sd, ts}
	st := h.m[k]
	if st == nil {
		st = &holdState{}
		h.m[k] = st
	}
	st.held++
}

// release ends a hold: the entry replays (void false) or is withdrawn (void true): the one at at
// when at is known (not zero), else any one entry of side sd and timestamp ts.
func (h *holds) release(sd side, ts int64, void bool, at Pos) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := holdKey{sd, ts}
	st := h.m[k]
	if st == nil {
		return
	}
	st.held--
	switch {
	case void && at != (Pos{}):
		st.voidAt = append(st.voidAt, at)
	case void:
		st.void++
	}
	if st.held == 0 && st.void == 0 && len(st.voidAt) == 0 {
		delete(h.m, k)
	}
}

// check says what the replayer does with an entry of side sd and timestamp ts, found at at (zero:
// unknown): errHeld (wait), withdrawn true (pass it without applying; consumes its void), or
// neither (apply it).
func (h *holds) check(sd side, ts int64, at Pos) (withdrawn bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := holdKey{sd, ts}
	st := h.m[k]
	if st == nil {
		return false, nil
	}
	defer func() {
		if st.held == 0 && st.void == 0 && len(st.voidAt) == 0 {
			delete(h.m, k)
		}
	}()
	for i, p := range st.voidAt {
		if at != (Pos{}) && p.Segment == at.Segment && p.Offset == at.Offset {
			st.voidAt = append(st.voidAt[:i], st.voidAt[i+1:]...)
			if h.keepGone {
				if h.gone == nil {
					h.gone = make(map[Pos]bool)
				}
				h.gone[at] = true
			}
			return true, nil
		}
	}
	switch {
	case st.void > 0:
		st.void--
		return true, nil
	case st.held > 0:
		return false, errHeld
	}
	return false, nil
}

// settleHow is what the leader's answer makes of an entry kept ahead of it.
type settleHow int

const (
	// settleRelease: the leader accepted the write; the entry replays as usual.
	settleRelease settleHow = iota
	// settleWithdraw: the leader refused the write, or failed it while the follower took or
	// refused it: nothing is owed to the follower through this entry; it is withdrawn.
	settleWithdraw
	// settleUnacked: the leader failed the write without refusing it (the caller is told it
	// failed) and the follower is still owed it: an Unacked copy is kept, durably, and only then
	// is the entry (kept unmarked, before anyone knew) withdrawn, so that no entry of a write
	// whose caller was told it failed counts as acknowledged at the next open.
	settleUnacked
)

// settleHold ends the hold of the entry kept ahead for side sd (a) once the leader has answered
// (how). An entry to withdraw is withdrawn durably (after its Unacked copy, settleUnacked) before
// settleHold returns, or before op's context ends: the work goes on, and err then says so. err is
// the write's error, returned as is or wrapped.
//
// settleUnacked when the Unacked copy cannot be kept (the log is full or unwritable): the entry
// kept ahead is released instead and replays, counted as acknowledged (the safe side: the next
// open may wait for it or refuse over it, never lose it), and err says so.
func (s *Session) settleHold(op *writeOp, sd side, a *aheadAppend, how settleHow, err error) error {
	if how == settleRelease {
		s.holds.release(sd, op.ts, false, Pos{})
		s.unpromiseWithdrawal()
		return err
	}
	var copyOf *Entry
	if how == settleUnacked {
		copyOf = s.entryFor(op, sd)
		copyOf.Unacked = true
	}
	done := make(chan struct{})
	var werr, cerr error
	s.bgWG.Add(1)
	s.stats.appending.Add(1) // SetPhase and WaitReplayed read the backlog once it is recorded
	go func() {
		defer s.bgWG.Done()
		defer s.stats.appending.Add(-1)
		defer close(done)
		if copyOf != nil {
			// Goes on to its end whatever the caller's context: the withdrawal waits for it.
			if cerr = s.appended(s.log.Append(context.Background(), copyOf)); cerr != nil {
				s.logger.Error("dualwrite: a write whose leader failed could not be kept for the follower marked as not "+
					"acknowledged; the entry kept for it before the leader answered stays and counts as acknowledged "+
					"(an Open that makes that side authoritative waits for it or refuses until it is replayed)",
					"side", sd.String(), "stmt", firstStmt(copyOf), "timestamp", copyOf.Timestamp, "err", cerr)
				s.holds.release(sd, op.ts, false, Pos{})
				s.unpromiseWithdrawal()
				return
			}
		}
		var void bool
		void, werr = s.withdraw(a)
		s.holds.release(sd, op.ts, void, a.pos)
		s.unpromiseWithdrawal()
	}()
	what := "before the refusal"
	if how == settleUnacked {
		what = "before the leader failed"
	}
	select {
	case <-done:
		switch {
		case cerr != nil:
			return fmt.Errorf("%w (the write could not be kept for the %s side marked as not acknowledged: %w; the entry "+
				"kept for it before the leader answered replays and counts as acknowledged)", err, sd, cerr)
		case werr != nil:
			return fmt.Errorf("%w (the withdrawal of the entry kept for the %s side %s could not be "+
				"recorded before the session closed: %w; the next process on this replay directory may replay the "+
				"write to the %s side and count it as acknowledged)", err, sd, what, werr, sd)
		}
		return err
	case <-op.ctx.Done():
		return fmt.Errorf("%w (withdrawing the entry kept for the %s side %s had not finished "+
			"when the caller's context ended: %w; if the process ends before it does, the %s side may receive the write, "+
			"and the next process count it as acknowledged)",
			err, sd, what, op.ctx.Err(), sd)
	}
}

// withdraw withdraws the entry of a once its append is done, and says whether a void must be
// kept in memory for the replayer (the entry was handed out already, or the log could not
// record the withdrawal). The withdrawal does not depend on the free space at that moment
// (reserve.go): a record that fails for lack of space frees part of the replay directory's
// reserve, whose space was promised before the entry was appended, and is tried again; one that
// still fails is retried until it is durable or the session closes (err: then it lives in
// memory only, and the next process may replay the entry).
func (s *Session) withdraw(a *aheadAppend) (void bool, err error) {
	<-a.done
	if a.err != nil && (!errors.Is(a.err, recordlog.ErrUncut) || a.pos == (Pos{})) {
		return false, nil // not kept: there is nothing to withdraw
	}
	wl, ok := s.log.(withdrawer)
	if !ok {
		return true, nil
	}
	r, _ := s.log.(reserver)
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		handedOut, err := wl.withdraw(context.Background(), a.pos, a.e)
		if err == nil {
			if attempt > 1 {
				s.logger.Warn("dualwrite: withdrawal recorded after a failed attempt", "side", a.e.Side,
					"timestamp", a.e.Timestamp, "attempts", attempt)
			}
			return handedOut, nil
		}
		if attempt == 1 {
			s.logger.Error("dualwrite: could not record the withdrawal of an entry whose leader refused the write; "+
				"retrying (on a full disk with the replay directory's reserve), the caller waits for it",
				"side", a.e.Side, "stmt", firstStmt(a.e), "timestamp", a.e.Timestamp, "err", err)
		}
		if noSpace(err) && r != nil && r.releaseReserve() {
			continue
		}
		if !errors.Is(err, ErrClosed) { // a closed log can never record it
			// Close: the caller may hold the phase gate, which Close takes before it cancels bgCtx,
			// so closed is looked at after every wait (at most withdrawRetryMax).
			sleep(s.bgCtx, backoff)
			if !s.closed.Load() && s.bgCtx.Err() == nil {
				backoff = min(2*backoff, withdrawRetryMax)
				continue
			}
		}
		s.logger.Error("dualwrite: could not record the withdrawal of an entry whose leader refused the write "+
			"before the session closed; withdrawn in memory only, a later process may replay it",
			"side", a.e.Side, "stmt", firstStmt(a.e), "timestamp", a.e.Timestamp, "attempts", attempt, "err", err)
		return true, err
	}
}

// withdrawRetryMax bounds the wait between two attempts at a withdrawal that failed.
const withdrawRetryMax = 200 * time.Millisecond

// promiseWithdrawal promises the space of a withdrawal before an entry is kept ahead of its
// leader's answer (reserve.go, invariant 2): false when the log cannot promise one, and the entry
// must then not be kept ahead. A log without a reserve (MemLog withdraws in memory) always can.
func (s *Session) promiseWithdrawal() bool {
	if r, ok := s.log.(reserver); ok {
		return r.promiseWithdrawal()
	}
	return true
}

// unpromiseWithdrawal returns promiseWithdrawal's promise.
func (s *Session) unpromiseWithdrawal() {
	if r, ok := s.log.(reserver); ok {
		r.unpromiseWithdrawal()
	}
}
