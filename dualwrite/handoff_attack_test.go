package dualwrite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestAttackHandoffAdoptedUndecodableEntryIsDeleted: an acknowledged write handed off by an
// instance whose entry this instance cannot decode (written by a newer version during a rolling
// upgrade, as FileLog.Pending's own comment foresees) is dropped by the adopter and its batch
// deleted: it is not in the store, not in the adopter's replay log, not in its dead-letter log.
//
// Interleaving: instance "new" hands off a batch {valid entry, entry of codec version 2} (H1);
//
//	instance "b" claims it, sink logs "cannot be decoded; skipped", returns nil, the batch is deleted.
//
// Promise: internal/handoff invariant 2 ("a batch is deleted only after its entries are durable
// elsewhere") and Adopter.Sink's contract ("must make them durable ... before returning nil");
// H4 ("adopting a batch appends its entries to the local replay log before the batch is deleted").
// Locally the same bytes would go to the dead-letter log (Pending); through the hand-off they vanish.
func TestAttackHandoffAdoptedUndecodableEntryIsDeleted(t *testing.T) {
	st := handoff.NewMemStore()
	ok := &Entry{Side: "secondary", Timestamp: 1_700_000_000_000_001, Logged: time.Now().Add(-time.Minute),
		Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{1, "x"}}}}
	raw, err := encodeEntry(ok)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("ACKNOWLEDGED-WRITE-FROM-A-NEWER-VERSION")
	newer := append([]byte{entryMagic, entryVersion + 1}, marker...) // a later codec version's entry
	ctx := context.Background()
	if err := st.Put(ctx, "orders", handoff.Batch{ID: "0000000000000001-new-aa", Side: "secondary", Entries: 2,
		Origin: "new", Created: time.Now()}, [][]byte{raw, newer}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	fb := &fakeSides{}
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fb.exec), WithReplayDir(dir), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("b"), HandoffLease(5*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitHandoff(t, "b to adopt", 10*time.Second, func() bool {
		bs, _ := st.Batches(ctx, "orders")
		return len(bs) == 0 && s.Handoff().Adopted > 0
	})
	// The batch is gone from the store. The undecodable entry must then be durable on b's disk
	// (its replay log or its dead-letter log), as the promise says.
	found := false
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, rerr := os.ReadFile(p); rerr == nil && bytes.Contains(b, marker) {
				found = true
			}
		}
		return nil
	})
	if !found {
		t.Fatalf("batch deleted from the shared store (adopted %d entries) but the undecodable acknowledged entry is nowhere on the adopter's disk: lost", s.Handoff().Adopted)
	}
}

// TestAttackHandoffOpenAuthoritativeOverSharedBacklog: a session opened straight into a phase that
// makes the secondary authoritative is refused while writes owed to it wait in the replay log, its
// dead letters or its uncertain store (session.go: "Refuse as SetPhase does"; TestOpenAuthoritative
// OverBacklogRefused) — but writes owed to it in the shared hand-off store are not counted: Open's
// check (Session.owedTo) reads the local log only, and runs before startHandoff lists the store.
//
// Interleaving: instance "a" (dual, secondary down) hands 50 acknowledged writes for the secondary
//
//	off at Close (H1); instance "b" opens WithPhase(DualFlipped) on the same scope: Open succeeds.
//
// Promise: H5 / docs/dualwrite.md "Authority": a side's shared backlog counts against it; SetPhase
// on the same session over the same store is refused (shown below), Open is not.
func TestAttackHandoffOpenAuthoritativeOverSharedBacklog(t *testing.T) {
	st := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	a := newHandoffSession(t, fa, st, "a", HandoffDrain(50*time.Millisecond, 5*time.Second), HandoffCopyAfter(time.Hour))
	writeN(t, a, 0, 50)
	a.Close()
	if bl, _ := handoff.Backlog(context.Background(), st, "orders"); bl["secondary"] != 50 {
		t.Fatalf("shared backlog %v, want secondary 50", bl)
	}
	// The control: the same check made by SetPhase on a dual session is refused.
	fc := &fakeSides{}
	fc.set(secondarySide, downSide) // nothing adopted meanwhile (a side down here is skipped)
	c := newHandoffSession(t, fc, st, "c")
	if err := c.SetPhase(DualFlipped); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("control: SetPhase(DualFlipped) over the shared backlog = %v, want ErrAuthorityBacklog", err)
	}
	c.Close()

	fb := &fakeSides{}
	fb.set(secondarySide, downSide)
	b, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fb.exec), WithReplayDir(t.TempDir()), WithPhase(DualFlipped), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("b"), HandoffLease(5*time.Second))})
	if err == nil {
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		b.Close()
		t.Fatalf("Open(DualFlipped) succeeded while the shared store owes the secondary %d acknowledged writes, want ErrAuthorityBacklog", bl["secondary"])
	}
	if !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("Open(DualFlipped) = %v, want ErrAuthorityBacklog", err)
	}
}

// TestAttackHandoffCloseDiscardsUndecodableEntry: at Close the hand-off passes an entry of the
// local log it cannot decode (written by a newer version, e.g. after a rollback) without sharing
// it (put: "not shared (the replayer dead-letters it)") and then Done(last) consumes it — but the
// replayer has stopped and never read it, so it is not dead-lettered either: it is gone.
//
// Interleaving: the log holds 2 000 entries (both sides down, the replayer's window stops far
// before the end), then one undecodable entry; Close: drain times out, share(final) skips it, Done.
//
// Promise: FileLog.Pending: an entry that cannot be decoded "is moved to the dead-letter log";
// H1: Close passes an entry without it having landed only once it is durable in the shared store.
func TestAttackHandoffCloseDiscardsUndecodableEntry(t *testing.T) {
	dir := t.TempDir()
	st := handoff.NewMemStore()
	f := &fakeSides{}
	f.set(primarySide, downSide)
	f.set(secondarySide, downSide)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayDir(dir), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("a"), HandoffLease(5*time.Second),
				HandoffCopyAfter(time.Hour), HandoffDrain(50*time.Millisecond, 10*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	// The entries are appended after Open (an Open over them in dual would wait for the primary's
	// to drain first): with both sides down the replayer never reads up to the last one.
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
	marker := []byte("ENTRY-OF-A-NEWER-VERSION")
	if _, err := fl.log.Append(ctx, append([]byte{entryMagic, entryVersion + 1}, marker...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	s.Close()
	if h := s.Handoff(); h.HandedOff == 0 {
		t.Fatalf("nothing handed off at Close (%+v): the scenario did not happen", h)
	}

	fl, err = OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	dl, err := fl.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _ := fl.log.ReadFrom(fl.log.Cursor(), 1<<20)
	for _, r := range recs {
		if bytes.Contains(r.Payload, marker) {
			return // still in the local log: not lost
		}
	}
	// Close hands its dead letters off too (handoff invariant 6): the entry may be a dead-letter
	// batch of the shared store rather than a local dead letter.
	bs, _ := st.Batches(ctx, "orders")
	for _, b := range bs {
		if b.Kind() != handoff.KindDeadLetter {
			continue
		}
		es, _ := st.Entries(ctx, "orders", b.ID)
		for _, e := range es {
			if bytes.Contains(e, marker) {
				return // a dead letter in the shared store: not lost
			}
		}
	}
	if len(dl) == 0 {
		t.Fatalf("after Close (handed off %d) the undecodable entry is neither in the local log, nor a dead letter, nor in the shared store: discarded",
			s.Handoff().HandedOff)
	}
}

// TestAttackHandoffHeldEntryStopsSharingOthers: one write whose leader is slow to answer (its
// entry, kept ahead for the down follower, is held) stops the background copy of every entry
// logged after it, although they are old, not held and not withdrawn: share stops at the first
// held entry. A crash that loses the disk meanwhile loses them all, far outside the stated window.
//
// Interleaving: write 0's leader hangs 4 s (entry held); writes 1..20 are acknowledged at once;
//
//	1.5 s later (copyAfter 200 ms, tick 50 ms) none of writes 1..20 has been copied.
//
// Promise: H2 / docs "The loss window": a crash that also loses the disk loses the entries logged
// in the last HandoffCopyAfter + one tick + the time a copy takes, "and only those"; only the held
// entry itself is to wait ("unless its leader has not answered yet (held: copied once it has)").
func TestAttackHandoffHeldEntryStopsSharingOthers(t *testing.T) {
	st := handoff.NewMemStore()
	f := &fakeSides{}
	var first atomic.Bool
	release := make(chan struct{})
	f.set(primarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		if first.CompareAndSwap(false, true) {
			select { // the first write's leader is slow
			case <-release:
			case <-time.After(4 * time.Second):
			}
		}
		return true, nil
	})
	f.set(secondarySide, downSide)
	s := newHandoffSession(t, f, st, "a", HandoffCopyAfter(200*time.Millisecond), HandoffDrain(50*time.Millisecond, 5*time.Second))
	defer s.Close()
	defer close(release)
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	if !s.sides[secondarySide].down() {
		t.Fatal("setup: the secondary is not down")
	}
	done := make(chan error, 1)
	go func() { done <- s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 0, "x").Exec() }()
	waitHandoff(t, "write 0 to reach its leader", 2*time.Second, first.Load)
	time.Sleep(50 * time.Millisecond) // its entry is appended (kept ahead) and held
	writeN(t, s, 1, 20)
	time.Sleep(1500 * time.Millisecond)
	h := s.Handoff()
	kept := len(keptFor(t, s, secondarySide))
	if h.Copied < 20 {
		t.Fatalf("1.5 s after 20 acknowledged writes (copyAfter 200 ms), %d entries copied to the shared store (kept locally %d, unshared age %s): "+
			"one held entry (its leader slow) keeps every later entry on this disk only", h.Copied, kept, h.UnsharedAge)
	}
}

// slowEntries is a store whose Entries (a claimer's read of a batch) is slow: a replica or
// coordinator answering late, within gocql's timeouts.
type slowEntries struct {
	handoff.Store
	delay   time.Duration
	reading chan struct{}
}

func (s *slowEntries) Entries(ctx context.Context, scope, id string) ([][]byte, error) {
	select {
	case s.reading <- struct{}{}:
	default:
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
	}
	return s.Store.Entries(ctx, scope, id)
}

// TestAttackHandoffStaleListingLetsAuthorityMove: the shared backlog SetPhase counts is the last
// listing, refreshed by the background loop after adopt; while adopt is slow (one batch's entries
// read slowly) the listing is not refreshed, so a batch handed off after it is not counted and
// SetPhase makes the secondary authoritative while that batch — writes it lacks — waits in the store.
//
// Interleaving: c lists (nothing owed); b hands off 20 writes for the secondary at Close; c claims
//
//	the batch, its Entries read takes 3 s; meanwhile c.SetPhase(DualFlipped) succeeds (listing 2+ s old).
//
// Promise: H5: SetPhase waits "while a batch for it was listed at the last listing (at most 1 s old
// ...)"; docs "Authority": "listed every second".
func TestAttackHandoffStaleListingLetsAuthorityMove(t *testing.T) {
	mem := handoff.NewMemStore()
	slow := &slowEntries{Store: mem, delay: 3 * time.Second, reading: make(chan struct{}, 1)}
	fc := &fakeSides{}
	c := newHandoffSession(t, fc, slow, "c", HandoffDrain(50*time.Millisecond, 5*time.Second))
	defer c.Close()
	time.Sleep(1200 * time.Millisecond) // c has listed the (empty) store

	fb := &fakeSides{}
	fb.set(secondarySide, downSide)
	b := newHandoffSession(t, fb, mem, "b", HandoffDrain(50*time.Millisecond, 5*time.Second), HandoffCopyAfter(time.Hour))
	writeN(t, b, 0, 20)
	b.Close()
	if bl, _ := handoff.Backlog(context.Background(), mem, "orders"); bl["secondary"] != 20 {
		t.Fatalf("setup: shared backlog %v, want secondary 20", bl)
	}
	select {
	case <-slow.reading: // c claimed the batch and reads it, slowly
	case <-time.After(5 * time.Second):
		t.Fatal("setup: c never claimed the batch")
	}
	time.Sleep(1500 * time.Millisecond) // well past the promised 1 s
	bl, _ := handoff.Backlog(context.Background(), mem, "orders")
	if err := c.SetPhase(DualFlipped); err == nil {
		t.Fatalf("SetPhase(DualFlipped) succeeded while the shared store owes the secondary %v (c's last listing: %v, local backlog %d)",
			bl, c.Handoff().Owed, func() int64 { n, _ := c.Backlog(); return n }())
	}
}

// TestAttackHandoffDeadLettersStayOnTheLostDisk: the hand-off shares the replay backlog but not
// its dead letters — acknowledged writes the follower lacks, which hold its authority until an
// operator retries or drops them. Close hands off nothing for them; once the instance's disk is
// gone, no instance owes them, and the authority moves over them.
//
// Interleaving: a (dual) acknowledges 5 writes; the secondary refuses them, the replayer
// dead-letters them; a closes; its directory is lost; b (same scope) SetPhase(DualFlipped): accepted.
//
// Promise: WithHandoff "an acknowledged write kept for a side survives the loss of this instance
// and its disk"; docs "counts as backlog, then as a dead letter, against that side's authority".
func TestAttackHandoffDeadLettersStayOnTheLostDisk(t *testing.T) {
	st := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	dir := t.TempDir()
	a, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fa.exec), WithReplayDir(dir), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			withDeadLetterMinAge(0), withReplayBackoffMax(10 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("a"), HandoffLease(5*time.Second),
				HandoffDrain(50*time.Millisecond, 5*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, a, 0, 5)
	waitHandoff(t, "the 5 entries to be dead-lettered", 10*time.Second, func() bool {
		return a.owedTo(secondarySide) == 5 && func() bool { n, _ := a.Backlog(); return n == 0 }()
	})
	if err := a.SetPhase(DualFlipped); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("control: SetPhase(DualFlipped) on a over its dead letters = %v, want ErrAuthorityBacklog", err)
	}
	a.Close()
	if err := os.RemoveAll(dir); err != nil { // the pod is rescheduled with an empty directory
		t.Fatal(err)
	}

	fb := &fakeSides{}
	b := newHandoffSession(t, fb, st, "b")
	defer b.Close()
	time.Sleep(1200 * time.Millisecond) // b lists the store
	if err := b.SetPhase(DualFlipped); err == nil {
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		t.Fatalf("after a's disk was lost, SetPhase(DualFlipped) succeeded: a's 5 dead-lettered acknowledged writes were never handed off (shared backlog %v, handed off %d)",
			bl, a.Handoff().HandedOff)
	}
}
