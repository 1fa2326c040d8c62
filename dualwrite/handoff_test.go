package dualwrite

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// handoffClock is the MemStore's clock: real time plus a shift the test moves (lease expiry).
type handoffClock struct{ shift atomic.Int64 }

func (c *handoffClock) now() time.Time          { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *handoffClock) advance(d time.Duration) { c.shift.Add(int64(d)) }
func downSide(context.Context, *writeOp) (bool, error) {
	return false, errors.New("unavailable: no hosts available in the pool")
}

func newHandoffSession(t *testing.T, f *fakeSides, st handoff.Store, name string, opts ...HandoffOption) *Session {
	t.Helper()
	hopts := append([]HandoffOption{handoffStore(st), HandoffInstance(name), HandoffLease(5 * time.Second)}, opts...)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayDir(t.TempDir()), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithHandoff(hopts...)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeN(t *testing.T, s *Session, from, n int) []int64 {
	t.Helper()
	var ts []int64
	for i := from; i < from+n; i++ {
		if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "x").Exec(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return ts
}

func landed(f *fakeSides, sd side) map[int64]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[int64]bool{}
	for _, ts := range f.seen[sd] {
		m[ts] = true
	}
	return m
}

// keptFor returns the timestamps of the entries in s's local log for side sd.
func keptFor(t *testing.T, s *Session, sd side) []int64 {
	t.Helper()
	recs, err := s.log.(*FileLog).PendingEntries(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, r := range recs {
		if entrySide(&r.Entry) == sd {
			out = append(out, r.Entry.Timestamp)
		}
	}
	return out
}

func waitHandoff(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close with the follower down hands the backlog to the shared store and empties the local log
// (H1); another instance adopts it and every acknowledged write lands on the follower with its
// original timestamp.
func TestHandoffAtCloseThenAdoption(t *testing.T) {
	st := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	a := newHandoffSession(t, fa, st, "a", HandoffDrain(100*time.Millisecond, 5*time.Second), HandoffCopyAfter(time.Hour))
	writeN(t, a, 0, 300)
	owed := keptFor(t, a, secondarySide)
	if len(owed) != 300 {
		t.Fatalf("%d entries kept for the secondary, want 300", len(owed))
	}
	a.Close()
	if n, _ := a.log.Backlog(); n != 0 {
		t.Fatalf("local log holds %d entries after the hand-off", n)
	}
	if bl, _ := handoff.Backlog(context.Background(), st, "orders"); bl["secondary"] != 300 {
		t.Fatalf("shared backlog %v, want secondary 300", bl)
	}
	if h := a.Handoff(); h.HandedOff != 300 {
		t.Fatalf("HandedOff %d, want 300", h.HandedOff)
	}

	fb := &fakeSides{}
	b := newHandoffSession(t, fb, st, "b")
	defer b.Close()
	waitHandoff(t, "b to adopt and replay", 10*time.Second, func() bool {
		n, _ := b.Backlog()
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		return n == 0 && bl["secondary"] == 0 && b.Handoff().Adopted == 300
	})
	got := landed(fb, secondarySide)
	for _, ts := range owed {
		if !got[ts] {
			t.Fatalf("write at %d acknowledged by a, handed off, never landed on the secondary", ts)
		}
	}
}

// A crash that loses the disk (the instance stops, its directory is never seen again) loses at
// most the entries logged in the last copyAfter + a tick (H2): every older one is in the shared
// store and, once the dead instance's liveness lease expires, adopted and landed by another.
func TestHandoffBackgroundCopySurvivesLostDisk(t *testing.T) {
	clk := &handoffClock{}
	st := handoff.NewMemStore()
	st.Now = clk.now
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	copyAfter := 200 * time.Millisecond
	a := newHandoffSession(t, fa, st, "a", HandoffCopyAfter(copyAfter))
	var acked sync.Map // timestamp -> time acknowledged
	for i := 0; i < 40; i++ {
		writeN(t, a, i*10, 10)
		for _, ts := range keptFor(t, a, secondarySide) {
			acked.LoadOrStore(ts, time.Now())
		}
		time.Sleep(25 * time.Millisecond)
	}
	// The crash: a's loops stop, nothing of its disk is used again.
	crash := time.Now()
	close(a.ho.stop)
	a.ho.wg.Wait()
	window := a.Handoff().MaxUnsharedAge
	if window <= 0 || window > copyAfter+2*a.ho.tick()+200*time.Millisecond {
		t.Fatalf("max unshared age %s, want within copyAfter %s + a tick or two", window, copyAfter)
	}
	fb := &fakeSides{}
	b := newHandoffSession(t, fb, st, "b")
	defer b.Close()
	time.Sleep(300 * time.Millisecond)
	if b.Handoff().Adopted != 0 {
		t.Fatalf("b adopted %d entries while a's liveness lease lived", b.Handoff().Adopted)
	}
	clk.advance(6 * time.Second) // a's lease (5 s) expires
	waitHandoff(t, "b to adopt a's copies", 10*time.Second, func() bool {
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		n, _ := b.Backlog()
		return bl["secondary"] == 0 && n == 0
	})
	got := landed(fb, secondarySide)
	lost := 0
	acked.Range(func(k, v any) bool {
		if !got[k.(int64)] {
			if crash.Sub(v.(time.Time)) > window+50*time.Millisecond {
				t.Errorf("write at %d acknowledged %s before the crash is lost (window %s)", k, crash.Sub(v.(time.Time)), window)
			}
			lost++
		}
		return true
	})
	t.Logf("lost with the disk: %d of the writes acknowledged in the last %s", lost, window)
	a.ho = nil // its hand-off already stopped: Close only releases the rest
	a.Close()
}

// The shared backlog of a side counts against its authority (H5), and a store that cannot be
// read counts as one.
func TestHandoffCountsAgainstAuthority(t *testing.T) {
	st := handoff.NewMemStore()
	if err := st.Put(context.Background(), "orders", handoff.Batch{ID: "x", Side: "secondary", Entries: 7}, make([][]byte, 7)); err != nil {
		t.Fatal(err)
	}
	s := newHandoffSession(t, &fakeSides{}, st, "a", HandoffCopyAfter(time.Hour))
	defer s.Close()
	s.ho.cfg.adoptEvery = time.Hour // nobody adopts the (undecodable) batch during the test
	if err := s.SetPhase(DualFlipped); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("SetPhase(dual-flipped) with 7 entries handed off for the secondary: %v, want ErrAuthorityBacklog", err)
	}
	if err := s.SetPhase(PrimaryOnly); err != nil {
		t.Fatalf("SetPhase(primary-only) does not move authority: %v", err)
	}
	_ = st.Delete(context.Background(), "orders", "x")
	s.ho.refresh(context.Background())
	if err := s.SetPhase(Dual); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPhase(DualFlipped); err != nil {
		t.Fatalf("SetPhase(dual-flipped) with nothing owed: %v", err)
	}
}

// A claimer paused while it holds a batch's lease loses it when the lease expires; the batch moves
// to another instance; Close of the paused one returns (its claim is cut short) and every entry
// lands.
func TestHandoffPausedClaimerLosesItsLease(t *testing.T) {
	clk := &handoffClock{}
	st := handoff.NewMemStore()
	st.Now = clk.now
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	w := newHandoffSession(t, fa, st, "w", HandoffDrain(50*time.Millisecond, 5*time.Second), HandoffCopyAfter(time.Hour))
	writeN(t, w, 0, 50)
	owed := keptFor(t, w, secondarySide)
	w.Close()

	paused := make(chan string, 1)
	fa2 := &fakeSides{}
	a := newHandoffSession(t, fa2, st, "a", HandoffOnClaim(func(ctx context.Context, batch string) {
		paused <- batch
		<-ctx.Done() // paused until Close
	}))
	held := <-paused
	fb := &fakeSides{}
	b := newHandoffSession(t, fb, st, "b")
	defer b.Close()
	time.Sleep(1500 * time.Millisecond)
	if b.Handoff().Adopted != 0 {
		t.Fatalf("b adopted batch %s while a's lease lived", held)
	}
	clk.advance(6 * time.Second)
	waitHandoff(t, "b to take the batch", 10*time.Second, func() bool {
		n, _ := b.Backlog()
		return b.Handoff().Adopted == int64(len(owed)) && n == 0
	})
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close of an instance paused in a claim did not return")
	}
	got := landed(fb, secondarySide)
	for _, ts := range owed {
		if !got[ts] {
			t.Fatalf("write at %d never landed", ts)
		}
	}
}

// Close with a follower that never answers (every request hangs until its context ends): the
// drain gives up at HandoffDrain, the rest is handed off, and Close returns.
func TestHandoffCloseWithHungFollower(t *testing.T) {
	st := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) { <-ctx.Done(); return false, ctx.Err() })
	a := newHandoffSession(t, fa, st, "a", HandoffDrain(300*time.Millisecond, 5*time.Second), HandoffCopyAfter(200*time.Millisecond))
	writeN(t, a, 0, 100)
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close with a hung follower did not return")
	}
	if bl, _ := handoff.Backlog(context.Background(), st, "orders"); bl["secondary"] != 100 {
		t.Fatalf("shared backlog %v after Close, want secondary 100", bl)
	}
	if n, _ := a.log.Backlog(); n != 0 {
		t.Fatalf("local log holds %d after Close", n)
	}
}

// TestHandoffFigures prints the hand-off's figures at 1 000 writes/s with the follower down
// (in-process: fake sides, the in-memory store; the real store adds its write latency to the
// window): the loss window (max unshared age) and the store writes per kept entry.
// go test -v -run TestHandoffFigures ./dualwrite/
func TestHandoffFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("5 s of writes")
	}
	st := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	a := newHandoffSession(t, fa, st, "a", HandoffDrain(100*time.Millisecond, 5*time.Second))
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	start := time.Now()
	for i := 0; i < 5000; i++ {
		<-pace.C
		if err := a.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "x").Exec(); err != nil {
			t.Fatal(err)
		}
	}
	rate := 5000 / time.Since(start).Seconds()
	a.Close()
	h := a.Handoff()
	t.Logf("FIGURES writes=5000 paced_at_1000_per_s actual_rate=%.0f/s copy_after=%s loss_window=%s copied=%d handed_off_at_close=%d store_writes_per_kept_entry=%.3f",
		rate, DefaultHandoffCopyAfter, h.MaxUnsharedAge.Round(time.Millisecond), h.Copied, h.HandedOff, float64(h.Writes)/float64(h.Copied+h.HandedOff))
	if h.Copied+h.HandedOff != 5000 {
		t.Fatalf("copied %d + handed off %d, want 5000", h.Copied, h.HandedOff)
	}
}

// Dead letters and uncertain writes handed off at Close (handoff invariant 6) are kept by the
// adopter where the origin kept them — its dead-letter log and its uncertain store — never in its
// replay log: the follower (up at the adopter) never receives them, and they hold the side's
// authority there until an operator acts.
func TestHandoffAdoptedAsideStaysAside(t *testing.T) {
	st := handoff.NewMemStore()
	ctx := context.Background()
	dl := &Entry{Side: "secondary", Timestamp: 1_700_000_000_000_001, Logged: time.Now(),
		Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{1, "dead"}}}}
	unc := &Entry{Side: "secondary", Timestamp: 1_700_000_000_000_002, Logged: time.Now(),
		Stmts: []Stmt{{Stmt: "UPDATE c SET n = n + 1 WHERE k = ?", Values: []any{2}}}}
	for _, x := range []struct {
		e    *Entry
		kind string
	}{{dl, handoff.KindDeadLetter}, {unc, handoff.KindUncertain}} {
		raw, err := encodeEntry(x.e)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, "orders", handoff.Batch{ID: "000000000000000" + map[string]string{handoff.KindDeadLetter: "1", handoff.KindUncertain: "2"}[x.kind] +
			"-gone-aa" + handoff.KindSuffix(x.kind), Side: "secondary", Entries: 1, Origin: "gone", Created: time.Now()}, [][]byte{raw}); err != nil {
			t.Fatal(err)
		}
	}
	var applied atomic.Int64
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { applied.Add(1); return true, nil })
	s := newHandoffSession(t, f, st, "b")
	defer s.Close()
	waitHandoff(t, "b to adopt both batches", 10*time.Second, func() bool {
		bs, _ := st.Batches(ctx, "orders")
		return len(bs) == 0
	})
	fl := s.log.(*FileLog)
	d, err := fl.DeadLetters()
	if err != nil || len(d) != 1 || d[0].Entry.Timestamp != dl.Timestamp {
		t.Fatalf("adopter's dead letters %+v (%v), want the handed-off one", d, err)
	}
	u, err := fl.UncertainEntries()
	if err != nil || len(u) != 1 || u[0].Entry.Timestamp != unc.Timestamp {
		t.Fatalf("adopter's uncertain writes %+v (%v), want the handed-off one", u, err)
	}
	if n, _ := s.Backlog(); n != 0 || applied.Load() != 0 {
		t.Fatalf("adopted aside entries reached the replay log (backlog %d) or the follower (%d writes)", n, applied.Load())
	}
	if err := s.SetPhase(DualFlipped); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("SetPhase(DualFlipped) over an adopted dead letter and uncertain write = %v, want ErrAuthorityBacklog", err)
	}
}

// Dead letters are copied in the background too (handoff invariant 6), held by the liveness
// lease: an instance killed with its disk lost leaves them in the store, adopted by another
// instance once its lease expires, and they hold the side's authority meanwhile. A copy holding
// a dead letter an operator dropped is deleted.
func TestHandoffDeadLettersCopiedInTheBackground(t *testing.T) {
	st := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	a, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fa.exec), WithReplayDir(t.TempDir()), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			withDeadLetterMinAge(0), withReplayBackoffMax(10 * time.Millisecond),
			WithName("orders"), WithHandoff(handoffStore(st), HandoffInstance("a"), HandoffLease(5*time.Second), HandoffCopyAfter(100*time.Millisecond))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	writeN(t, a, 0, 3)
	ctx := context.Background()
	deadIn := func() (n int) {
		bs, _ := st.Batches(ctx, "orders")
		for _, b := range bs {
			if b.Kind() == handoff.KindDeadLetter {
				n += b.Entries
			}
		}
		return n
	}
	waitHandoff(t, "the 3 dead letters to be copied", 10*time.Second, func() bool { return deadIn() == 3 })
	fl := a.log.(*FileLog)
	dl, err := fl.DeadLetters()
	if err != nil || len(dl) != 3 {
		t.Fatalf("dead letters %d (%v), want 3", len(dl), err)
	}
	if _, err := fl.DropDeadLetters(ctx, []int{dl[0].ID}); err != nil {
		t.Fatal(err)
	}
	waitHandoff(t, "the copies to follow the operator's drop", 10*time.Second, func() bool { return deadIn() == 2 })
}

// TestHandoffLeaseMovesFromAPausedClaimer is the world's racing-adopters test on a store with the
// real clock (issue 30, test 3): adopter a pauses in its first claim until its claim's context
// ends (as the integration test's hook does); b, alive beside it, must take the batch after a's
// claim ran out, not a again. Before, a's claim was cut by its whole pass's deadline (taken
// before the claim, so just before the lease's end), a released the lease and its next pass (the
// ticker's pending tick, at once) claimed the same batch, oldest first, before b's next pass:
// the held batch's claims were [a a].
func TestHandoffLeaseMovesFromAPausedClaimer(t *testing.T) {
	st := handoff.NewMemStore()
	st.Now = time.Now
	fw := &fakeSides{}
	fw.set(secondarySide, downSide)
	w := newHandoffSession(t, fw, st, "w", HandoffDrain(50*time.Millisecond, 5*time.Second), HandoffCopyAfter(time.Hour))
	writeN(t, w, 0, 1200) // three batches of at most 500
	owed := keptFor(t, w, secondarySide)
	w.Close()

	var mu sync.Mutex
	claims := map[string][]string{}
	paused := make(chan string, 1)
	resume := make(chan struct{})
	hook := func(inst string) HandoffOption {
		return HandoffOnClaim(func(ctx context.Context, batch string) {
			mu.Lock()
			claims[batch] = append(claims[batch], inst)
			first := inst == "a" && len(claims[batch]) == 1
			mu.Unlock()
			if !first {
				return
			}
			select {
			case paused <- batch:
			default:
				return
			}
			select {
			case <-resume:
			case <-ctx.Done():
			}
		})
	}
	const lease = 2 * time.Second
	fa, fb := &fakeSides{}, &fakeSides{}
	a := newHandoffSession(t, fa, st, "a", HandoffLease(lease), hook("a"))
	defer a.Close()
	held := <-paused
	b := newHandoffSession(t, fb, st, "b", HandoffLease(lease), hook("b"))
	defer b.Close()
	waitHandoff(t, "a second claim of the held batch", 4*lease, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(claims[held]) >= 2
	})
	close(resume)
	mu.Lock()
	got := append([]string(nil), claims[held]...)
	mu.Unlock()
	if got[0] != "a" || got[1] != "b" {
		t.Fatalf("claims of the batch held by the paused a: %v, want a then b", got)
	}
	waitHandoff(t, "every entry adopted and landed", 10*time.Second, func() bool {
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		na, _ := a.Backlog()
		nb, _ := b.Backlog()
		return bl["secondary"] == 0 && na == 0 && nb == 0
	})
	la, lb := landed(fa, secondarySide), landed(fb, secondarySide)
	for _, ts := range owed {
		if !la[ts] && !lb[ts] {
			t.Fatalf("write at %d handed off, never landed", ts)
		}
	}
}
