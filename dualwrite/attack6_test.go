package dualwrite

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// TestAttack6WithdrawalLostOnFullDisk
// Interleaving: Dual, PrimaryAuthoritative, FileLog on a disk that is full; the secondary is down,
// so a write's entry is appended for it ahead of the leader's answer (it fits in the segment's
// page already allocated); the primary refuses the write; recording the withdrawal needs a new
// block in DIR/withdrawn and fails with ENOSPC; the caller is told the leader's refusal anyway.
// The process restarts (space freed, secondary back): the next session replays the write the
// authoritative side refused, whose caller was told it failed, onto the secondary.
// Promise broken (package doc): "The withdrawal is durable (FileLog: DIR/withdrawn) before the
// caller is told, so no later session on the directory replays it either", and "A full disk is
// survivable"; the code knowingly falls back to an in-memory withdrawal (hold.go, withdraw) and
// still answers the caller.
func TestAttack6WithdrawalLostOnFullDisk(t *testing.T) {
	fs := recordlogtest.SmallFS(t, 256<<10)
	dir := filepath.Join(fs, "replay")
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	const refusedTS = 777
	f := &fakeSides{}
	f.set(primarySide, func(_ context.Context, op *writeOp) (bool, error) {
		if op.ts == refusedTS {
			return false, errInvalidTable // the authoritative side refuses this write outright
		}
		return true, nil
	})
	var down atomic.Bool
	down.Store(true)
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		if down.Load() {
			return false, transientErr{}
		}
		return true, nil
	})
	var logs syncBuffer
	s := newFakeSession(t, f, WithReplayLog(l), withReplayBackoffMax(10*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	// An acknowledged write kept for the secondary: its segment's first page is allocated.
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "a").WithTimestamp(100).Exec(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	// The disk fills up (another file of the same volume).
	filler, err := os.Create(filepath.Join(fs, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	for {
		if _, err := filler.Write(page); err != nil {
			break
		}
	}
	filler.Close()
	told := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 2, "refused").WithTimestamp(refusedTS).Exec()
	if told == nil {
		t.Fatal("the leader refused the write, Exec returned nil")
	}
	if !strings.Contains(logs.String(), "could not record the withdrawal") {
		t.Fatalf("control: the withdrawal was recorded (the disk was not full?); logs: %s", logs.String())
	}
	s.Close()
	l.Close()
	// Restart: space freed, the secondary back.
	if err := os.Remove(filepath.Join(fs, "filler")); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	s2 := newFakeSession(t, f, WithReplayLog(l2), withReplayBackoffMax(10*time.Millisecond))
	defer s2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s2.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ts := range f.seen[secondarySide] {
		if ts == refusedTS {
			t.Fatalf("a write the authoritative primary refused (its caller told: %v) was replayed onto the secondary "+
				"by the next session: its withdrawal could not be recorded on the full disk and lived in memory only", told)
		}
	}
	if len(f.seen[secondarySide]) == 0 {
		t.Fatal("control: the acknowledged write kept for the secondary did not land")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}

// TestAttack6UncertainCounterForgottenOnFullDisk
// Interleaving: Dual, PrimaryAuthoritative, FileLog on a full disk; a counter update lands on the
// primary and times out on the secondary (it may or may not have counted it); recording it as
// uncertain needs a new block in DIR/uncertain and fails with ENOSPC, so it is kept in memory only
// and the caller is told the write succeeded. The process restarts: nothing on disk says the
// secondary's counter is unknown, and a session opens straight into dual-flipped (the secondary
// authoritative) over it.
// Promise broken (package doc): "Opening a session (New, Open) is the same switch … Straight into
// dual-flipped or secondary-only over a replay directory that holds writes for the secondary
// (backlog, dead letters or uncertain writes): refused at once", with "losing a write silently is
// never an option" and "A full disk is survivable": an ordinary follower write that cannot be kept
// fails the caller (ENOSPC), a counter update's uncertain record is silently memory-only.
func TestAttack6UncertainCounterForgottenOnFullDisk(t *testing.T) {
	fs := recordlogtest.SmallFS(t, 256<<10)
	dir := filepath.Join(fs, "replay")
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		return false, transientErr{} // the increment's answer is lost
	})
	var logs syncBuffer
	s := newFakeSession(t, f, WithReplayLog(l), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	filler, err := os.Create(filepath.Join(fs, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	for {
		if _, err := filler.Write(page); err != nil {
			break
		}
	}
	filler.Close()
	err = s.Query("UPDATE ks.hits SET n = n + 1 WHERE k = ?", 1).Exec()
	if !strings.Contains(logs.String(), "could not keep an uncertain write durably") {
		t.Fatalf("control: the uncertain write was kept durably (the disk was not full?); Exec: %v; logs: %s", err, logs.String())
	}
	if err != nil {
		return // the caller was told: no promise broken
	}
	s.Close()
	l.Close()
	if err := os.Remove(filepath.Join(fs, "filler")); err != nil {
		t.Fatal(err)
	}
	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	opts := []Option{withExecHook(f.exec), WithReplayLog(l2), WithPhase(DualFlipped)}
	s2, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
	if err == nil {
		s2.Close()
		t.Fatal("an acknowledged counter update whose outcome on the secondary is unknown could not be recorded on the " +
			"full disk (memory only); after a restart a session opened straight into dual-flipped, the secondary " +
			"authoritative over a counter nobody reconciled")
	}
	if !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("open into dual-flipped: %v, want ErrAuthorityBacklog", err)
	}
}

// TestAttack6MigrationOpenIntoDualOverWritesOwedToPrimary
// Interleaving: an instance ran in dual-flipped (the secondary authoritative) and kept an
// acknowledged write for the primary (the follower, timing out); the operator moves the fleet back
// to dual (epoch 8) and the instance restarts with its replay directory, the primary still slow.
// Open WithMigration starts in primary-only (forced), skips openAuthority ("checked by
// startMigration instead"), and the watcher's SetPhaseWait(primary-only → dual) does not move the
// leader, so nothing is checked: Open returns in dual, reads on the primary, which lacks the
// acknowledged write. The same directory opened WithPhase(Dual) (no migration) is refused with
// ErrAuthorityBacklog (control below).
// Promise broken (package doc): "Opening a session (New, Open) is the same switch … Into
// primary-only or dual over acknowledged writes kept for the primary (kept while the secondary was
// authoritative): the session's replayer runs and New and Open wait for them at most WithOpenWait
// …, then refuse the same way", and "a phase from MigrationStateFile goes through the same
// owed-writes check".
func TestAttack6MigrationOpenIntoDualOverWritesOwedToPrimary(t *testing.T) {
	newLog := func() *MemLog {
		l := NewMemLog()
		e := &Entry{Side: "primary", Timestamp: 42, Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (1, 'acked')"}}}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		return l
	}
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("primary: timeout") })
	sides := func() [2]*sideConn {
		return [2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}
	}
	// Control: without WithMigration, opening in dual over it is refused.
	if s, err := newSession(sides(), []Option{withExecHook(f.exec), WithReplayLog(newLog()), WithPhase(Dual),
		WithOpenWait(200 * time.Millisecond)}); err == nil {
		s.Close()
		t.Fatal("control: WithPhase(Dual) over an acknowledged write owed to the primary opened")
	} else if !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("control: %v, want ErrAuthorityBacklog", err)
	}
	fc := &fakeControl{}
	fc.set("dual", 8)
	l := newLog()
	s, err := newSession(sides(), []Option{withExecHook(f.exec), WithReplayLog(l), WithOpenWait(200 * time.Millisecond),
		withControl(fc, MigrationOpenTimeout(time.Second))})
	if err != nil {
		if errors.Is(err, ErrAuthorityBacklog) {
			return
		}
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if n, _ := l.ackedBacklogFor(primarySide); s.Phase().leader() == primarySide && n > 0 {
		t.Fatalf("Open WithMigration returned in %s (the primary authoritative, reads on the primary) while the replay "+
			"log holds %d acknowledged write(s) the primary lacks; the same directory WithPhase(Dual) is refused "+
			"with ErrAuthorityBacklog", s.Phase(), n)
	}
}

// TestAttack6HeldEntryDeadLettered
// Interleaving: Dual, PrimaryAuthoritative, the secondary marked down, so a write's entry is
// appended for it ahead of the leader's answer and held; the primary is slow to answer (the caller's
// context allows it); meanwhile the secondary is back and the other entries for it land. The
// replayer's attempts at the held entry fail with errHeld, which it classifies as a transient
// failure of the entry: past 20 attempts and the dead-letter age while 20 entries of the same side
// landed, it dead-letters it as "stuck". The primary then accepts, the caller is acknowledged, and
// the write never reaches the secondary without an operator (and it holds the secondary's
// authority as a dead letter). (With the default 5 s backoff cap this needs the leader to take
// about 70 s; the test shortens the backoff and the dead-letter age.)
// Promise broken (package doc): "An entry is set aside in the dead-letter log only for a reason of
// its own … a transient failure only when, after 20 attempts, at least 20 entries of the same
// side landed meanwhile": errHeld is the session's own hold, not a failure of the entry or its
// side; an acknowledged write is held back from the follower with nothing wrong with it.
func TestAttack6HeldEntryDeadLettered(t *testing.T) {
	l := NewMemLog()
	const heldTS = 1000
	release := make(chan struct{})
	f := &fakeSides{}
	f.set(primarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		if op.ts == heldTS {
			select { // a slow leader
			case <-release:
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		return true, nil
	})
	var live atomic.Bool // the held write's own follower request fails (the side was down)
	f.set(secondarySide, func(_ context.Context, op *writeOp) (bool, error) {
		if op.ts == heldTS && !op.idempotent && !live.Load() {
			return false, transientErr{}
		}
		return true, nil
	})
	s := newFakeSession(t, f, WithReplayLog(l), withReplayBackoffMax(time.Millisecond), withDeadLetterMinAge(100*time.Millisecond))
	defer s.Close()
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 7, "new").WithTimestamp(heldTS).Exec()
	}()
	// The leader is slow; meanwhile other writes are kept for the secondary and land.
	// (Until the held entry is set aside, or 3 s.)
	for i, until := 100, time.Now().Add(3*time.Second); time.Now().Before(until) && len(l.DeadLetters()) == 0; i++ {
		e := &Entry{Side: "secondary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, 'other')", Values: []any{i}}}}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the leader accepted: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		f.mu.Lock()
		got := false
		for _, ts := range f.seen[secondarySide] {
			got = got || ts == heldTS
		}
		f.mu.Unlock()
		if got {
			return
		}
		if time.Now().After(deadline) {
			var causes []string
			for _, a := range l.DeadLetters() {
				causes = append(causes, a.Cause)
			}
			t.Fatalf("an acknowledged write (the leader accepted it after a slow answer) never reached the secondary: "+
				"its entry, held while the leader had not answered, was dead-lettered as stuck: %q", causes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAttack6CancelledWriteAppliedOnBothSides
// Interleaving: Dual, PrimaryAuthoritative; the application's request was cancelled (its context
// is done) before it calls Exec. The gate is free, so the write starts: the leader's request fails
// at once with the context's error (gocql's conn.exec checks ctx.Err() before sending anything);
// the follower's request runs under the session's context and applies the write; the leader's
// context error is "not a refusal", so the write is kept for the primary and the replayer applies
// it there too. A write whose caller had given up before calling Exec, and was told so, lands on
// both sides.
// Promise broken (package doc): "A write waits for a pending SetPhase only as long as its context
// allows: one that cannot start by its deadline fails with the context's error and is sent
// nowhere", and "Adopting it changes where the session is built …, not the queries" (with gocql
// such a write is never sent).
func TestAttack6CancelledWriteAppliedOnBothSides(t *testing.T) {
	f := &fakeSides{}
	honour := func(ctx context.Context, _ *writeOp) (bool, error) {
		if err := ctx.Err(); err != nil { // gocql: conn.exec returns ctx.Err() before writing a frame
			return false, err
		}
		return true, nil
	}
	f.set(primarySide, honour)
	f.set(secondarySide, honour)
	s := newFakeSession(t, f, withReplayBackoffMax(5*time.Millisecond))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client went away before the handler reached Exec
	err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "cancelled").WithContext(ctx).Exec()
	if err == nil {
		t.Fatal("Exec with a cancelled context returned nil")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer wcancel()
	_ = s.WaitReplayed(wctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if n0, n1 := len(f.seen[primarySide]), len(f.seen[secondarySide]); n0+n1 > 0 {
		t.Fatalf("a write whose context was cancelled before Exec (Exec returned %v) was applied %d time(s) on the primary "+
			"and %d on the secondary: the follower's request ignores the caller's cancellation and the leader's context "+
			"error kept the write for replay", err, n0, n1)
	}
}
