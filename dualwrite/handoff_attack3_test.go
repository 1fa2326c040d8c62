package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestAttackHandoff3WithdrawnInMemoryHandedOff: a write the leader refused, whose withdrawal could
// only be kept in memory (DIR/withdrawn cannot take the record: a failing disk), is handed off at
// Close as a plain replay entry, so another instance replays to the follower a write the leader
// refused. The local replayer honours that in-memory withdrawal (holds.check consumes voidAt); the
// hand-off looks only at holds.peek, which reads st.void and never st.voidAt (the withdrawal of an
// entry whose position is known), and at the durable set (voids.has), which the failed record
// never entered.
//
// Interleaving: Exec (dual, secondary down) keeps the entry ahead for the secondary; the primary
// refuses; withdraw's record fails -> holds.release(void, a.pos) (voidAt, in memory only).
// Close -> closeHandoff -> share(final) -> put: peek says not void, voids.has false -> Put (holder "").
// Promise: H1/H2 "or it was withdrawn (never copied)"; put's comment "its leader refused the write;
// never replayed anywhere"; brief: a write the leader refused must not be replayed.
func TestAttackHandoff3WithdrawnInMemoryHandedOff(t *testing.T) {
	st := handoff.NewMemStore()
	dir := t.TempDir()
	f := &fakeSides{}
	f.set(secondarySide, downSide)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayDir(dir), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("a"), HandoffLease(5*time.Second),
				HandoffCopyAfter(time.Hour), HandoffDrain(50*time.Millisecond, 5*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	fl := s.log.(*FileLog)
	// An acknowledged write kept for the secondary (down): the replayer waits on it, in order.
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "kept", 0).Exec(); err != nil {
		t.Fatal(err)
	}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	// DIR/withdrawn fails (a disk error): the withdrawal cannot be recorded durably.
	_ = fl.wd.Close()
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "refused", 1).Exec(); err == nil {
		t.Fatal("the leader refused the write, Exec returned nil")
	}
	// Premise: the entry was kept ahead, and its withdrawal lives in memory (voidAt), as the
	// replayer would honour it.
	if n, _ := fl.Backlog(); n != 2 {
		t.Fatalf("premise: the refused write's entry was not kept ahead (backlog %d)", n)
	}
	s.holds.mu.Lock()
	inMemory := 0
	for _, hs := range s.holds.m {
		inMemory += len(hs.voidAt) + hs.void
	}
	s.holds.mu.Unlock()
	if inMemory != 1 {
		t.Fatalf("premise: the withdrawal is not kept in memory (%d)", inMemory)
	}
	s.Close()
	bl, _ := handoff.Backlog(context.Background(), st, "orders")
	if bl["secondary"] != 1 {
		t.Errorf("a write the leader refused (withdrawn in memory: the replayer would never apply it) was handed off "+
			"for the secondary as a replay entry, for another instance to replay: shared backlog %v (1 expected: the acknowledged write alone)", bl)
	}
}

// TestAttackHandoff3MigrationOpenIntoDualOverSharedBacklogOwedToPrimary: the second pass fixed
// Open(WithPhase(Dual)) over replay batches owed to the primary in the shared store (openOwed =
// primaryOwedAtOpen). A session WithMigration takes another path: openAuthority sets openOwed to
// the local acknowledged backlog only, and the watcher's first switch into a primary-led phase
// waits for min(primaryOwedAtOpen(), openOwed-resolved) = min(20, 0) = 0: it opens in dual, reads
// on the primary, while 20 acknowledged writes the primary lacks wait in the shared store.
//
// Interleaving: a (DualFlipped, primary down) acknowledges 20 writes kept for the primary and hands
// them off at Close; b opens WithMigration (control: dual, epoch 8) with an empty directory.
// Promise: H5 "Open's check … for the primary, its replay batches only, waited for as its local
// backlog is: primaryOwedAtOpen"; openAuthority: "Every path that starts a session in a phase where
// the primary is authoritative is checked the same way".
func TestAttackHandoff3MigrationOpenIntoDualOverSharedBacklogOwedToPrimary(t *testing.T) {
	st := handoff.NewMemStore()
	ho := func(name string) Option {
		return WithHandoff(handoffStore(st), HandoffInstance(name), HandoffLease(5*time.Second),
			HandoffCopyAfter(time.Hour), HandoffDrain(50*time.Millisecond, 5*time.Second))
	}
	sides := func() [2]*sideConn {
		return [2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}
	}
	fa := &fakeSides{}
	fa.set(primarySide, downSide)
	a, err := newSession(sides(), []Option{withExecHook(fa.exec), WithReplayDir(t.TempDir()), WithPhase(DualFlipped),
		WithFollowerBudget(20 * time.Millisecond), WithName("m"), ho("a")})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, a, 0, 20)
	a.Close()
	if bl, _ := handoff.Backlog(context.Background(), st, "m"); bl["primary"] != 20 {
		t.Fatalf("setup: shared backlog %v, want primary 20", bl)
	}

	fb := &fakeSides{}
	fb.set(primarySide, downSide)
	fc := &fakeControl{}
	fc.set("dual", 8)
	b, err := newSession(sides(), []Option{withExecHook(fb.exec), WithReplayDir(t.TempDir()), WithOpenWait(300 * time.Millisecond),
		withControl(fc, MigrationOpenTimeout(time.Second)), ho("b")})
	if err != nil {
		if errors.Is(err, ErrAuthorityBacklog) {
			return
		}
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	if b.Phase().leader() == primarySide {
		bl, _ := handoff.Backlog(context.Background(), st, "m")
		n := b.ackedBacklogOf(primarySide)
		t.Fatalf("Open WithMigration returned in %s (the primary authoritative) while 20 acknowledged writes owed to the "+
			"primary were handed off (shared backlog now %v, b's local acked backlog for it %d); WithPhase(Dual) over the "+
			"same store is refused (TestAttackHandoff2OpenIntoDualOverSharedBacklogOwedToPrimary)", b.Phase(), bl, n)
	}
}

// TestAttackHandoff3LiveOriginsCopiesAdoptableDuringItsOwnAdoption: the liveness lease that holds
// an instance's background copies is renewed only by the run loop's cleanup, and the same loop runs
// adoption, whose claims are each bounded by one lease TTL (invariant 7) and are taken one after
// another. A pass that claims several batches and is slow on each (a paused claim, a slow replica
// or disk: the cases invariants 7 and 8 are about) keeps the loop away from cleanup for several
// TTLs: the origin's liveness lease lapses while it lives and replays its own entries, and any
// other instance adopts its held copies.
//
// Interleaving: a keeps a write for the (down) secondary, copies it (held by a's liveness lease, TTL
// 1 s); three batches for the primary are left by a dead instance z; a's next pass claims them one
// by one, each claim slow to its deadline (1 s) -> for ~2 s a's liveness lease is gone while a runs,
// and a third claimer adopts a's held copy.
// Promise: internal/handoff invariant 4 "not adopted while the holder's lease lives: the origin
// renews it while it runs"; H2 "held by this instance's liveness lease, so nobody adopts it while
// this instance replays it itself"; docs "nobody adopts them while it lives and replays them itself".
func TestAttackHandoff3LiveOriginsCopiesAdoptableDuringItsOwnAdoption(t *testing.T) {
	st := handoff.NewMemStore()
	st.Now = time.Now
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	a := newHandoffSession(t, fa, st, "a", HandoffLease(time.Second), HandoffCopyAfter(50*time.Millisecond),
		HandoffDrain(50*time.Millisecond, 5*time.Second),
		HandoffOnClaim(func(ctx context.Context, batch string) { <-ctx.Done() })) // a slow claim: to its deadline
	defer a.Close()
	for i := 0; i < downAfter; i++ {
		a.sides[secondarySide].noteFollower(false)
	}
	writeN(t, a, 0, 1)
	var own handoff.Batch
	waitHandoff(t, "a's background copy", 5*time.Second, func() bool {
		bs, _ := st.Batches(context.Background(), "orders")
		for _, b := range bs {
			if b.Holder == a.ho.origin {
				own = b
				return true
			}
		}
		return false
	})
	// A dead instance z left three batches for the primary (a's primary is up: a adopts them).
	for i := 0; i < 3; i++ {
		raw, err := encodeEntry(&Entry{Side: "primary", Timestamp: int64(1000 + i), Logged: time.Now(),
			Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (9, 'z')"}}})
		if err != nil {
			t.Fatal(err)
		}
		b := handoff.Batch{ID: fmt.Sprintf("%016x-z-%d", 1+i, i), Side: "primary", Entries: 1, Origin: "z", Created: time.Now()}
		if err := st.Put(context.Background(), "orders", b, [][]byte{raw}); err != nil {
			t.Fatal(err)
		}
	}
	// A third instance c, whose claimer looks at a's copy only.
	var took []string
	c := &handoff.Adopter{Store: st, Scope: "orders", Owner: "c", TTL: 5 * time.Second,
		Skip: func(b handoff.Batch) bool { return b.ID != own.ID },
		Sink: func(_ context.Context, b handoff.Batch, _ [][]byte) error { took = append(took, b.ID); return nil }}
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) && len(took) == 0 {
		if _, err := c.Once(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(took) > 0 {
		n, _ := a.Backlog()
		t.Fatalf("another instance adopted a's held copy %s while a was alive and replaying it itself (a's backlog %d): "+
			"a's liveness lease lapsed while its run loop sat in its own adoption's claims", own.ID, n)
	}
}
