package dualwrite

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAttack2LeaderRefusedWriteReplayedToFollower
// Interleaving: Dual, PrimaryAuthoritative, budget 100 ms. The primary (leader) refuses the write
// outright (Invalid); the secondary is slow: at 75 ms the "early" keepAhead appends an entry for
// it, then its request times out. The caller gets the leader's refusal; the replayer then lands
// the entry on the secondary, which (dual-flipped) becomes authoritative holding a write the
// caller was told failed and the authoritative side never has.
// Promise broken (package doc): "When the authoritative side fails a write … unless the leader
// refused it outright it is kept for the leader too" — a refused write is kept for nobody
// (leaderFailed returns before any keep), yet the early/ahead append already kept it for the
// follower: the product itself makes the sides diverge on a failed write.
func TestAttack2LeaderRefusedWriteReplayedToFollower(t *testing.T) {
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	var mu sync.Mutex
	calls := 0
	f.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 { // the original follower request: slow, then times out
			time.Sleep(150 * time.Millisecond)
			return false, transientErr{}
		}
		return true, nil // the side is back: replays land
	})
	s := newFakeSession(t, f, WithFollowerBudget(100*time.Millisecond), withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).Exec(); err == nil {
		t.Fatal("the leader refused the write, Exec returned nil")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.WaitReplayed(ctx)
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	landed := len(f.seen[secondarySide])
	f.mu.Unlock()
	if landed != 0 {
		t.Fatalf("the write the authoritative primary refused (caller told it failed) was replayed onto the secondary (%d landed): sides diverge", landed)
	}
}

// TestAttack2LWTFollowerFailureLeavesNoTrace
// Interleaving: Dual, PrimaryAuthoritative; INSERT … IF NOT EXISTS applies on the primary and is
// acknowledged; the secondary times out (outcome unknown). Nothing is kept: no replay entry, no
// uncertain record; SetPhase(DualFlipped) then makes the secondary authoritative without the row.
// Promise broken: "losing a write silently is never an option"; the uncertain store is documented
// for "writes whose outcome on a side is unknown and that must not be replayed blindly", and the
// counter analogue ("a failed follower update is recorded as uncertain") — an LWT that failed on
// the follower is only a log line, so an acknowledged write vanishes from the future authority.
func TestAttack2LWTFollowerFailureLeavesNoTrace(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f)
	defer s.Close()
	applied, err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS", 1, "x").MapScanCAS(map[string]any{})
	if err != nil || !applied {
		t.Fatalf("MapScanCAS = %v, %v", applied, err)
	}
	var sec bool
	for _, u := range s.Uncertain() {
		if u.Side == "secondary" {
			sec = true
		}
	}
	if !sec {
		perr := s.SetPhase(DualFlipped)
		t.Fatalf("acknowledged LWT failed on the follower: not kept for replay nor recorded as uncertain (Uncertain()=%v); SetPhase(DualFlipped)=%v makes the side lacking it authoritative", s.Uncertain(), perr)
	}
}

// TestAttack2AsyncCloseHangsOnSilentFollower
// Interleaving: Async, Dual; a write lands on the primary and its follower copy is queued; the
// secondary never answers (black-holed: the request ends only when its context does). Close:
// the queued job runs under WithoutCancel(caller ctx), and Close waits asyncWG before bgCancel,
// so nothing ever cancels it: Close never returns (SetPhase likewise blocks in drainAsync with
// the gate held, stalling every write).
// Promise broken (Session.Close / package doc): follower writes past their budget are cancelled
// at Close and kept in the replay log for the next session; "Close waits for the writes under
// way" — the caller's write was already acknowledged, yet Close hangs on its background copy.
func TestAttack2AsyncCloseHangsOnSilentFollower(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		<-ctx.Done()
		return false, ctx.Err()
	})
	s := newFakeSession(t, f, WithPolicy(Async))
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).Exec(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		f.set(secondarySide, nil) // cannot unblock the job already running: its ctx never ends
		t.Fatal("Close did not return within 3 s: an async follower write under a never-cancelled context holds it")
	}
}

// TestAttack2AsyncSetPhaseStallsWrites
// Interleaving: Async, Dual; one acknowledged write's follower copy is queued and the secondary
// hangs. SetPhase(Dual) (no change at all) takes the gate and waits in drainAsync for the queue:
// a leader-only write issued meanwhile with a 1 s deadline fails although the primary is healthy.
// Promise broken (SetPhase doc): it returns once every write of the old phase "has finished or
// been kept in the replay log"; a queued follower copy is never moved to the log, so the switch
// (and with it every write of the application) waits on a dead follower.
func TestAttack2AsyncSetPhaseStallsWrites(t *testing.T) {
	f := &fakeSides{}
	release := make(chan struct{})
	f.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return false, transientErr{}
	})
	s := newFakeSession(t, f, WithPolicy(Async))
	defer s.Close()
	defer close(release)
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).Exec(); err != nil {
		t.Fatal(err)
	}
	swDone := make(chan error, 1)
	go func() { swDone <- s.SetPhase(Dual) }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "y", 2).WithContext(ctx).Exec()
	select {
	case e := <-swDone:
		t.Logf("SetPhase returned %v", e)
	default:
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write with a healthy leader failed: %v (SetPhase(Dual), a no-op, holds the gate waiting on a hung follower's queued copy)", err)
	}
}

// TestAttack2AsyncReplayTTLCountedFromFailureNotWrite
// Interleaving: Async, Dual; at t0 `INSERT … USING TTL 2` lands on the primary (expires t0+2 s)
// and its follower copy is queued; the secondary fails it at t0+2.2 s, and the worker keeps it
// then: Entry.Logged (hence the stored expiry) is t0+2.2 s. The replay at ~t0+2.3 s is sent with
// USING TTL 2, so the secondary's copy lives to ~t0+4.3 s, twice the authoritative one's life.
// Promise broken (package doc): "The TTL of a replayed USING TTL write is what remains of it"
// — entryFor stamps Logged = time.Now() at keep time, not when the write was sent; every delay
// before the keep (async queue, follower budget) is added to the follower's TTL.
func TestAttack2AsyncReplayTTLCountedFromFailureNotWrite(t *testing.T) {
	f := &fakeSides{}
	var mu sync.Mutex
	calls := 0
	var replayed []string
	f.set(secondarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			time.Sleep(2200 * time.Millisecond)
			return false, transientErr{}
		}
		mu.Lock()
		replayed = append(replayed, op.stmts[0].Stmt)
		mu.Unlock()
		return true, nil
	})
	s := newFakeSession(t, f, WithPolicy(Async), withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) USING TTL 2", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(replayed) == 0 {
		t.Fatal("nothing replayed")
	}
	for _, st := range replayed {
		if !strings.Contains(st, "TTL 1") {
			t.Fatalf("replayed %q more than 2 s after the primary took a TTL 2 write (already expired there): the follower's copy gets a fresh TTL and outlives the authoritative one", st)
		}
	}
}

// TestAttack2AsyncFollowerReadsReusedSetValue
// Interleaving: Async, Dual; `UPDATE … SET tags = ?` with a []string the caller owns lands on the
// primary as ["a"] and Exec returns; the caller reuses its buffer (tags[0] = "b", legal with
// gocql: values are marshalled before Exec returns); the queued follower copy then marshals
// ["b"] under the same timestamp: the secondary stores a value the primary never had.
// Promise broken (package doc): the adopting application changes "not the queries"; every write
// gets one timestamp "so the two copies reconcile to the same cells" — detach copies only the
// values slice and []byte contents, not []string / map values, so a late follower (Async queue,
// follower budget, replay log entry) reads the caller's reused memory.
func TestAttack2AsyncFollowerReadsReusedSetValue(t *testing.T) {
	f := &fakeSides{}
	release := make(chan struct{})
	var mu sync.Mutex
	var got [2]string
	rec := func(sd side) func(context.Context, *writeOp) (bool, error) {
		return func(ctx context.Context, op *writeOp) (bool, error) {
			if sd == secondarySide {
				<-release
			}
			mu.Lock()
			got[sd] = op.stmts[0].Values[0].([]string)[0]
			mu.Unlock()
			return true, nil
		}
	}
	f.set(primarySide, rec(primarySide))
	f.set(secondarySide, rec(secondarySide))
	s := newFakeSession(t, f, WithPolicy(Async))
	tags := []string{"a"}
	if err := s.Query("UPDATE kv SET tags = ? WHERE k = ?", tags, 1).Exec(); err != nil {
		t.Fatal(err)
	}
	tags[0] = "b" // the caller reuses its buffer once Exec has returned
	close(release)
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	if got[0] != got[1] {
		t.Fatalf("one write, one timestamp, two values: primary stored %q, secondary %q", got[0], got[1])
	}
}
