package dualwrite

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestAttackHandoff2BackgroundCopyPassesUndecodableEntry: the fix for an undecodable entry at
// Close (TestAttackHandoffCloseDiscardsUndecodableEntry) dead-letters it only when share(final)
// reads it. But the background copy (share, not final) reads it first, once copyAfter has passed:
// put skips it ("not shared (the replayer dead-letters it)") and the frontier (copied) moves over
// it. At Close, share(final) starts from that frontier, never sees it, and Done(last) consumes it
// although the replayer never read it: neither replayed, nor dead-lettered, nor in the store.
//
// Interleaving: 2 000 entries (both sides down: the replayer's window stops far before the end),
//
//	then one undecodable entry; the background copy covers all of them (copyAfter 100 ms); Close.
//
// Promise: H1 "Close passes an entry of the local log without it having landed only once it is
// durable in the shared store, or in the local dead-letter log when it cannot be decoded (the
// replayer, stopped, never read it)"; FileLog.Pending: such an entry "is moved to the dead-letter log".
func TestAttackHandoff2BackgroundCopyPassesUndecodableEntry(t *testing.T) {
	dir := t.TempDir()
	st := handoff.NewMemStore()
	f := &fakeSides{}
	f.set(primarySide, downSide)
	f.set(secondarySide, downSide)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayDir(dir), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("a"), HandoffLease(5*time.Second),
				HandoffCopyAfter(100*time.Millisecond), HandoffDrain(50*time.Millisecond, 10*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	fl := s.log.(*FileLog)
	ctx := context.Background()
	var g errgroup.Group
	g.SetLimit(64)
	for i := 0; i < 2000; i++ {
		sd := "primary"
		if i%2 == 1 {
			sd = "secondary"
		}
		g.Go(func() error {
			return fl.Append(ctx, &Entry{Side: sd, Timestamp: int64(1_700_000_000_000_000 + i),
				Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{i, "x"}}}})
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	marker := []byte("ENTRY-OF-A-NEWER-VERSION-COPIED-PAST")
	bad, err := fl.log.Append(ctx, append([]byte{entryMagic, entryVersion + 1}, marker...))
	if err != nil {
		t.Fatal(err)
	}
	waitHandoff(t, "the background copy to pass every entry", 10*time.Second, func() bool {
		s.ho.mu.Lock()
		defer s.ho.mu.Unlock()
		return passed(s.ho.copied, bad)
	})
	if fl.readPast(bad) {
		t.Skip("the replayer read the undecodable entry (and dead-lettered it): the scenario did not happen")
	}
	s.Close()

	fl, err = OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	recs, _, _ := fl.log.ReadFrom(fl.log.Cursor(), 1<<20)
	for _, r := range recs {
		if bytes.Contains(r.Payload, marker) {
			return // still in the local log: not lost
		}
	}
	dl, _ := fl.DeadLetters()
	for _, a := range dl {
		if bytes.Contains(a.Raw, marker) {
			return
		}
	}
	bs, _ := st.Batches(ctx, "orders")
	for _, b := range bs {
		es, _ := st.Entries(ctx, "orders", b.ID)
		for _, e := range es {
			if bytes.Contains(e, marker) {
				return // in the shared store: not lost
			}
		}
	}
	t.Fatalf("after Close (copied %d in the background, handed off %d) the undecodable entry is neither in the local log, "+
		"nor a dead letter (%d), nor in the shared store: the background copy passed it and Close's Done discarded it",
		s.Handoff().Copied, s.Handoff().HandedOff, len(dl))
}

var _ = errors.New

// TestAttackHandoff2OpenIntoDualOverSharedBacklogOwedToPrimary: Open's authority check counts the
// shared store only when the opening phase makes the secondary authoritative. Opening into dual
// (the primary leads: a rollback of a flip) counts the acknowledged writes kept for the primary in
// the local log only (openOwed, taken before the replayer and the adoption start), never those an
// instance that ran dual-flipped handed off: Open returns at once and the primary serves reads
// while it lacks acknowledged writes that wait in the shared store.
//
// Interleaving: a (dual-flipped, primary down) acknowledges 20 writes, kept for the primary, and
//
//	hands them off at Close; b opens WithPhase(Dual) on the same scope (primary still down): nil.
//
// Promise: docs/dualwrite.md "Authority": "A side's shared backlog ... counts against it: Open into
// a phase where that side leads is refused"; H5 ("Open's check"); Open into dual over the same
// writes left in a local directory waits WithOpenWait then refuses (the control below).
func TestAttackHandoff2OpenIntoDualOverSharedBacklogOwedToPrimary(t *testing.T) {
	st := handoff.NewMemStore()
	open := func(f *fakeSides, dir string, p Phase, extra ...Option) (*Session, error) {
		opts := append([]Option{withExecHook(f.exec), WithReplayDir(dir), WithPhase(p), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithOpenWait(300 * time.Millisecond)}, extra...)
		return newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
	}
	ho := func(name string) Option {
		return WithHandoff(handoffStore(st), HandoffInstance(name), HandoffLease(5*time.Second),
			HandoffCopyAfter(time.Hour), HandoffDrain(50*time.Millisecond, 5*time.Second))
	}

	// The control: the same writes left in a local directory hold Open(Dual).
	fc := &fakeSides{}
	fc.set(primarySide, downSide)
	cdir := t.TempDir()
	c, err := open(fc, cdir, DualFlipped)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, c, 0, 20)
	c.Close()
	if c2, err := open(fc, cdir, Dual); !errors.Is(err, ErrAuthorityBacklog) {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("control: Open(Dual) over 20 acknowledged writes kept locally for the primary = %v, want ErrAuthorityBacklog", err)
	}

	fa := &fakeSides{}
	fa.set(primarySide, downSide)
	a, err := open(fa, t.TempDir(), DualFlipped, ho("a"))
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, a, 0, 20)
	if n := len(keptFor(t, a, primarySide)); n != 20 {
		t.Fatalf("setup: %d entries kept for the primary, want 20", n)
	}
	a.Close()
	if bl, _ := handoff.Backlog(context.Background(), st, "orders"); bl["primary"] != 20 {
		t.Fatalf("setup: shared backlog %v, want primary 20", bl)
	}

	fb := &fakeSides{}
	fb.set(primarySide, downSide)
	b, err := open(fb, t.TempDir(), Dual, ho("b"))
	if err == nil {
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		n, _ := b.Backlog()
		b.Close()
		t.Fatalf("Open(Dual) succeeded (the primary authoritative) while 20 acknowledged writes owed to the primary were handed off "+
			"(shared backlog then %v, b's local backlog %d): the hand-off lets Open skip the check a local directory gets", bl, n)
	}
	if !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("Open(Dual) = %v, want ErrAuthorityBacklog", err)
	}
}

// TestAttackHandoff2AdoptedEntriesOnOneDiskBeyondTheWindow: adoption deletes a batch once its
// entries are in the adopter's local log (H4), and from then on only the adopter's background copy
// protects them. But they keep their old Logged time and sit behind the adopter's own entries:
// share stops at the first entry younger than copyAfter, so while any own young entry precedes
// them they are on the adopter's disk only. A crash that loses that disk loses acknowledged
// writes logged minutes ago — which were durable in the shared store a moment before — while
// UnsharedAge reports only the young entry's age.
//
// Interleaving: b (copyAfter 5 s) keeps one own write Y for the (failing) secondary; b adopts a
//
//	batch of 20 entries logged 10 min ago (deleted from the store); 1.5 s later b crashes, disk lost.
//
// Promise: H2 / docs "The loss window": a crash that also loses the disk loses "the entries logged
// in the last HandoffCopyAfter + one tick + the time a copy takes, and only those"; H4 "from then
// on they are this instance's backlog, replayed, copied and handed off like its own".
func TestAttackHandoff2AdoptedEntriesOnOneDiskBeyondTheWindow(t *testing.T) {
	st := handoff.NewMemStore()
	ctx := context.Background()
	old := time.Now().Add(-10 * time.Minute)
	var raws [][]byte
	want := map[int64]bool{}
	for i := 0; i < 20; i++ {
		e := &Entry{Side: "secondary", Timestamp: old.UnixMicro() + int64(i), Logged: old,
			Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{1000 + i, "acked"}}}}
		raw, err := encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		want[e.Timestamp] = true
	}
	if err := st.Put(ctx, "orders", handoff.Batch{ID: "0000000000000001-gone-aa", Side: "secondary", Entries: len(raws),
		Origin: "gone", Created: old}, raws); err != nil {
		t.Fatal(err)
	}

	fb := &fakeSides{}
	fb.set(secondarySide, downSide) // the secondary times out here (one write: not "down", adoption goes on)
	b := newHandoffSession(t, fb, st, "b", HandoffCopyAfter(5*time.Second))
	writeN(t, b, 0, 1) // Y: b's own entry, young, ahead of anything adopted
	waitHandoff(t, "b to adopt the batch", 10*time.Second, func() bool {
		bs, _ := st.Batches(ctx, "orders")
		return b.Handoff().Adopted == 20 && len(bs) == 0
	})
	time.Sleep(1500 * time.Millisecond) // three of b's ticks (500 ms)
	// The crash: b's loops stop, its disk is never seen again.
	close(b.ho.stop)
	b.ho.wg.Wait()
	unshared := b.Handoff().UnsharedAge
	inStore := map[int64]bool{}
	bs, _ := st.Batches(ctx, "orders")
	for _, bt := range bs {
		es, _ := st.Entries(ctx, "orders", bt.ID)
		for _, raw := range es {
			if e, err := decodeEntry(raw); err == nil {
				inStore[e.Timestamp] = true
			}
		}
	}
	lost := 0
	for ts := range want {
		if !inStore[ts] && !landed(fb, secondarySide)[ts] {
			lost++
		}
	}
	b.ho = nil
	b.Close()
	if lost > 0 {
		t.Fatalf("%d of 20 acknowledged writes logged 10 min ago, adopted by b 1.5 s before its crash, are only on b's lost disk "+
			"(UnsharedAge reported %s, copyAfter 5 s): the shared store held them until adoption deleted the batch", lost, unshared.Round(time.Millisecond))
	}
}
