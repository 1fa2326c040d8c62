package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog"
)

// TestAttack4ShorthandCounterIncrementReplayed
// Interleaving: Dual, PrimaryAuthoritative; `UPDATE … SET hits += 1` (CQL's shorthand for
// hits = hits + 1, Cassandra 4.0+) on a counter column; the secondary applies the increment but its
// answer is lost (timeout); the write is kept in the replay log as an ordinary write and, once the
// secondary answers again, replayed: the secondary has counted it twice.
// Promise broken (package doc): "Counter updates cannot carry a timestamp and are not idempotent: …
// a failed follower update is recorded as uncertain … and never replayed", and "Statements are read
// by a small CQL lexer": the lexer/parser only knows `c = c ± x`, so `c += x` is not an increment.
func TestAttack4ShorthandCounterIncrementReplayed(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "hits" {
			return kindCounter, nil
		}
		return kindOther, nil
	}
	var applied, calls atomic.Int64
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		applied.Add(1) // the increment reaches the secondary's replicas…
		if calls.Add(1) == 1 {
			return false, errors.New("secondary: write timeout") // …but its answer is lost
		}
		return true, nil
	})
	s := newFakeSession(t, f, withColumnKinds(kinds), withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	if err := s.Query("UPDATE ks.c SET hits += 1 WHERE k = ?", 1).Exec(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.WaitReplayed(ctx)
	if n := applied.Load(); n != 1 {
		t.Fatalf("a counter increment (SET hits += 1) was applied %d times on the secondary: kept for replay "+
			"as an ordinary write (uncertain recorded: %d), so the counter is counted twice", n, s.Stats().Uncertain)
	}
}

// TestAttack4ShorthandListAppendNotRefused
// Interleaving: Dual, PrimaryAuthoritative; `UPDATE … SET tags += ?` (shorthand for
// tags = tags + ?) on a list column is sent to both sides; the secondary applies it but times out;
// the entry is replayed and the secondary's list holds the element twice.
// Promise broken (package doc): "List appends, prepends and index operations are not idempotent
// either: in the dual phases they are refused (ErrNotIdempotent) before reaching either side."
func TestAttack4ShorthandListAppendNotRefused(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "tags" {
			return kindList, nil
		}
		return kindOther, nil
	}
	f := &fakeSides{}
	s := newFakeSession(t, f, withColumnKinds(kinds))
	defer s.Close()
	// The long form is refused (control):
	if err := s.Query("UPDATE ks.t SET tags = tags + ? WHERE k = ?", []string{"a"}, 1).Exec(); !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("control: tags = tags + ? on a list: %v, want ErrNotIdempotent", err)
	}
	err := s.Query("UPDATE ks.t SET tags += ? WHERE k = ?", []string{"a"}, 1).Exec()
	if !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("SET tags += ? (a list append) in the dual phase: %v, want ErrNotIdempotent (a replay duplicates the element)", err)
	}
}

// TestAttack4TruncateReplayedOverNewerWrites
// Interleaving: Dual, PrimaryAuthoritative; `TRUNCATE kv` lands on the primary, times out on the
// secondary (TRUNCATE needs every replica; it times out easily) and is kept for replay; the
// application then writes k=1 (acknowledged, lands on both sides); the replayer applies the kept
// TRUNCATE on the secondary, which erases k=1 whatever its timestamp (TRUNCATE is not a timestamped
// mutation). Backlog is 0, so SetPhase(DualFlipped) makes the secondary authoritative without k=1.
// Promise broken (package doc): "a write replayed later with its original timestamp can never
// overwrite a newer one", and SetPhase never making a side authoritative over acknowledged writes it
// lacks. TRUNCATE reaches the replay log like any write: nothing refuses it or records it as
// uncertain (as counters and LWTs are).
func TestAttack4TruncateReplayedOverNewerWrites(t *testing.T) {
	var mu = make(chan struct{}, 1)
	store := map[int64]bool{} // the secondary's rows, by timestamp of the write
	var truncCalls atomic.Int64
	var inserted atomic.Bool
	f := &fakeSides{}
	f.set(secondarySide, func(_ context.Context, op *writeOp) (bool, error) {
		mu <- struct{}{}
		defer func() { <-mu }()
		if op.stmts[0].Stmt == "TRUNCATE kv" {
			// It keeps timing out until the application has written again (deterministic order).
			if truncCalls.Add(1) == 1 || !inserted.Load() {
				return false, errors.New("secondary: truncate timed out")
			}
			clear(store)
			return true, nil
		}
		store[op.ts] = true
		return true, nil
	})
	s := newFakeSession(t, f, withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	// The fix (dw4fix) refuses it in the dual phases (ErrNotReplayable: run it on each side
	// yourself), so nothing is kept; a TRUNCATE that went through instead must not be replayed
	// over the write that follows. TestNotMutationNeverKept covers an entry kept by an earlier
	// version.
	if err := s.Query("TRUNCATE kv").Exec(); err != nil && !errors.Is(err, ErrNotReplayable) {
		t.Fatalf("TRUNCATE: %v", err)
	}
	// The write that follows is acknowledged and lands on both sides (possibly before the replay).
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "kept").Exec(); err != nil {
		t.Fatal(err)
	}
	inserted.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.SetPhaseWait(ctx, DualFlipped); err != nil {
		t.Fatal(err)
	}
	mu <- struct{}{}
	n := len(store)
	<-mu
	if n == 0 {
		t.Fatalf("the secondary became authoritative (DualFlipped) without an acknowledged write: a kept TRUNCATE " +
			"was replayed after it and erased it")
	}
}

// TestAttack4SnakeCaseNonDeterministicNotRefused
// Interleaving: Dual; `INSERT … VALUES (?, current_timestamp())` — the snake-case name Cassandra 5.0
// gives currentTimestamp() (CASSANDRA-18037; current_date, current_time, current_timeuuid too) —
// goes to both sides, each coordinator computes its own value: the two copies differ, and a replay
// stores yet another value.
// Promise broken (package doc): "Statements that call non-deterministic functions (now(), uuid(),
// currentTimestamp() …) would store different values on each side and are refused unless the caller
// opts in." The list in statement.go knows only the camel-case names.
func TestAttack4SnakeCaseNonDeterministicNotRefused(t *testing.T) {
	f := &fakeSides{}
	s := newFakeSession(t, f)
	defer s.Close()
	if err := s.Query("INSERT INTO kv (k, at) VALUES (?, currentTimestamp())", 1).Exec(); !errors.Is(err, ErrNonDeterministic) {
		t.Fatalf("control: currentTimestamp(): %v, want ErrNonDeterministic", err)
	}
	for _, fn := range []string{"current_timestamp", "current_date", "current_time", "current_timeuuid"} {
		err := s.Query("INSERT INTO kv (k, at) VALUES (?, "+fn+"())", 1).Exec()
		if !errors.Is(err, ErrNonDeterministic) {
			t.Errorf("%s(): %v, want ErrNonDeterministic (each side stores its own coordinator's value)", fn, err)
		}
	}
}

// TestAttack4DownSideHoldsUpOtherSideReplay
// Interleaving: the secondary is down; the replay log holds more entries for it than the replayer
// keeps in memory (64 windows: 16384 with one worker per side, 32768 by default — minutes of
// writes of a busy service), then one entry for the primary (a write whose leader timed out). The
// replayer stops reading at its memory cap, so the primary's entry never lands while the secondary
// stays down.
// Promise broken (package doc): "The replayer applies each side's entries with that side's own
// workers, so a side that is down never holds up the other."
func TestAttack4DownSideHoldsUpOtherSideReplay(t *testing.T) {
	l := NewMemLog()
	const n = 64*256 + 1
	for i := 0; i < n; i++ {
		e := &Entry{Side: "secondary", Timestamp: int64(i + 1), Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{i}}}}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(context.Background(), &Entry{Side: "primary", Timestamp: n + 1,
		Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{-1}}}}); err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		return false, errors.New("secondary: no hosts available")
	})
	s := newFakeSession(t, f, WithReplayLog(l), WithReplayWorkers(1), withReplayBackoffMax(50*time.Millisecond))
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		landed := len(f.seen[primarySide])
		f.mu.Unlock()
		if landed > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the primary's replay entry did not land in 5 s while the secondary is down: held up behind %d entries of the down side", n)
}

// TestAttack4OpenIntoDualOverWritesOwedToPrimary
// Interleaving: a process runs in dual-flipped (secondary authoritative); the primary (follower)
// fails, so an acknowledged write is kept in DIR for the primary; the process is redeployed with
// WithPhase(Dual) (a rollback of the flip) while the primary has not received it yet. Open makes
// the primary authoritative at once: reads go to a side that lacks an acknowledged write.
// Promise broken (package doc): SetPhase "refuses (ErrAuthorityBacklog) to make a side
// authoritative while the replay log still holds writes …", and opening into an authoritative
// phase over a replay directory holding writes for that side "is the same switch and is refused the
// same way". Open checks only the secondary-led phases (session.go: lead != primarySide), so moving
// authority back to the primary at open is never checked. (The doc's sentence names dual-flipped
// and secondary-only only: weaker than the others, but the switch is the same.)
func TestAttack4OpenIntoDualOverWritesOwedToPrimary(t *testing.T) {
	dir := t.TempDir()
	log1, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("primary: timeout") })
	s1 := newFakeSession(t, f, WithReplayLog(log1), WithPhase(DualFlipped))
	if err := s1.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "acked").Exec(); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	log1.Close()

	log2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer log2.Close()
	if n, _ := log2.backlogFor(primarySide); n == 0 {
		t.Fatal("setup: nothing kept for the primary")
	}
	g := &fakeSides{}
	g.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("primary: timeout") })
	opts := []Option{withExecHook(g.exec), WithReplayLog(log2), WithPhase(Dual)}
	s2, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
	if err == nil {
		defer s2.Close()
		t.Fatalf("opened in dual (primary authoritative, reads from the primary) while DIR holds an acknowledged write " +
			"the primary lacks; want ErrAuthorityBacklog as for SetPhase(DualFlipped → Dual)")
	}
	if !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("Open: %v, want ErrAuthorityBacklog", err)
	}
}

// TestNotMutationNeverKept: statements that are not row mutations (TRUNCATE, schema and access
// changes, USE) are refused in the dual phases before reaching either side, single or in a
// batch; in primary-only they go to the primary alone and are never kept, even when it fails;
// and one kept by an earlier version is dead-lettered by the replayer, never applied.
func TestNotMutationNeverKept(t *testing.T) {
	stmts := []string{"TRUNCATE kv", "truncate table ks.kv", "CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY)",
		"ALTER TABLE kv DROP v", "DROP TABLE kv", "GRANT SELECT ON ks.kv TO app", "USE ks", "/* c */ Truncate kv"}
	for _, p := range []Phase{Dual, DualFlipped} {
		f := &fakeSides{}
		l := NewMemLog()
		s := newFakeSession(t, f, WithReplayLog(l), WithPhase(p))
		for _, st := range stmts {
			if err := s.Query(st).Exec(); !errors.Is(err, ErrNotReplayable) {
				t.Errorf("%s: %q: %v, want ErrNotReplayable", p, st, err)
			}
		}
		b := s.NewBatch(0)
		b.Query("INSERT INTO kv (k) VALUES (1)")
		b.Query("TRUNCATE kv")
		if err := s.ExecuteBatch(b); !errors.Is(err, ErrNotReplayable) {
			t.Errorf("%s: a batch holding TRUNCATE: %v, want ErrNotReplayable", p, err)
		}
		f.mu.Lock()
		sent := len(f.seen[primarySide]) + len(f.seen[secondarySide])
		f.mu.Unlock()
		if n, _ := l.Backlog(); n != 0 || sent != 0 {
			t.Errorf("%s: refused statements reached a side (%d) or the replay log (%d)", p, sent, n)
		}
		s.Close()
	}

	// primary-only: the primary alone, never kept, even when it fails.
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("primary: truncate timed out") })
	l := NewMemLog()
	s := newFakeSession(t, f, WithReplayLog(l), WithPhase(PrimaryOnly))
	if err := s.Query("TRUNCATE kv").Exec(); err == nil || errors.Is(err, ErrNotReplayable) {
		t.Fatalf("primary-only TRUNCATE on a failing primary: %v, want the primary's error", err)
	}
	if n, _ := l.Backlog(); n != 0 {
		t.Fatalf("primary-only TRUNCATE kept for replay: backlog %d", n)
	}
	s.Close()

	// An entry kept by an earlier version is dead-lettered, never applied.
	l = NewMemLog()
	if err := l.Append(context.Background(), &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "TRUNCATE kv"}}}); err != nil {
		t.Fatal(err)
	}
	f = &fakeSides{}
	var applied atomic.Int64
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { applied.Add(1); return true, nil })
	s = newFakeSession(t, f, WithReplayLog(l))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	if applied.Load() != 0 || len(l.DeadLetters()) != 1 {
		t.Fatalf("a kept TRUNCATE: applied %d times, %d dead letters; want 0 and 1", applied.Load(), len(l.DeadLetters()))
	}
}

// survivingFailedAppendLog is a MemLog whose appends report a failure after the record was
// kept: what recordlog leaves when a write's fsync fails and cutting the file back fails too, so
// that the record is recovered by the next open. It reports it as recordlog does (invariant 6):
// an *UncutError naming the position the record may be read back at.
type survivingFailedAppendLog struct{ *MemLog }

func (l survivingFailedAppendLog) appendAt(ctx context.Context, e *Entry) (Pos, error) {
	pos, err := l.MemLog.appendAt(ctx, e)
	if err != nil {
		return Pos{}, err
	}
	return pos, fmt.Errorf("dualwrite: replay log append: %w", &recordlog.UncutError{At: pos,
		Err: errors.New("recordlog: writing seg: input/output error (fsync); cutting it back: input/output error")})
}

func (l survivingFailedAppendLog) Append(ctx context.Context, e *Entry) error {
	_, err := l.appendAt(ctx, e)
	return err
}

// TestAttack4FailedAppendSurvivesRefusedWriteReplayed (the fourth attacker's untested note)
// Interleaving: Dual, the follower down, so the follower's entry is appended ahead of the leader's
// answer; the append returns an error, but its record survives on disk; the leader refuses the
// write. withdraw sees the append's error and withdraws nothing ("not kept"), so the surviving
// record is replayed onto the follower: a write the authoritative side refused, whose caller was
// told it failed.
func TestAttack4FailedAppendSurvivesRefusedWriteReplayed(t *testing.T) {
	l := survivingFailedAppendLog{NewMemLog()}
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	var down atomic.Bool
	down.Store(true)
	tried := make(chan struct{}) // closed once the follower's own request failed
	var once sync.Once
	f.set(secondarySide, func(_ context.Context, op *writeOp) (bool, error) {
		if down.Load() {
			once.Do(func() { close(tried) })
			return false, transientErr{}
		}
		return true, nil
	})
	s := newFakeSession(t, f, WithReplayLog(l), withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "refused", 1).Exec(); err == nil {
		t.Fatal("the leader refused the write, Exec returned nil")
	}
	// The follower's own request (sent beside the leader's, not waited for: the side is down)
	// must have failed before the side comes back, or it would land by itself, not by replay.
	<-tried
	down.Store(false)
	// Whatever was kept for the secondary is replayed (or passed, withdrawn) by then.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	landed := len(f.seen[secondarySide])
	f.mu.Unlock()
	if landed != 0 {
		t.Fatalf("a write the authoritative primary refused was replayed onto the secondary (%d landed): its append "+
			"reported a failure but its record survived, and nothing withdrew it", landed)
	}
}
