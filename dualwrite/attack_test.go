package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAttackStrictCounterFollowerFailureAcknowledged
// Interleaving: policy Strict, phase Dual; a counter UPDATE c = c + 1 succeeds on the primary,
// the secondary answers with an error (timeout). Exec returns nil.
// Promise broken (package doc, Strict): "both sides must accept; a follower failure is returned
// to the caller". settleFollower routes every counter follower failure to recordUncertain and
// acknowledges, whatever the policy: a Strict caller is told the increment is on both sides.
func TestAttackStrictCounterFollowerFailureAcknowledged(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary timed out") })
	s := newFakeSession(t, f, WithPolicy(Strict))
	defer s.Close()
	err := s.Query("UPDATE hits SET c = c + ? WHERE k = ?", int64(1), 1).Exec()
	if err == nil || !errors.Is(err, ErrFollower) {
		t.Fatalf("Strict: counter update failed on the follower, Exec = %v, want ErrFollower", err)
	}
}

// TestAttackStrictLWTFollowerFailureAcknowledged
// Interleaving: policy Strict, phase Dual; INSERT … IF NOT EXISTS applies on the primary, the
// secondary fails (timeout). Exec returns nil: the row may be on one side only.
// Promise broken (package doc, Strict): "both sides must accept; a follower failure is returned
// to the caller" — settleFollower logs the LWT follower error and acknowledges.
func TestAttackStrictLWTFollowerFailureAcknowledged(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary timed out") })
	s := newFakeSession(t, f, WithPolicy(Strict))
	defer s.Close()
	applied, err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS", 1, "x").MapScanCAS(map[string]any{})
	if err == nil {
		t.Fatalf("Strict: conditional write failed on the follower, MapScanCAS = (%v, nil), want an error", applied)
	}
}

// TestAttackCounterBothSidesFailNoUncertain
// Interleaving: phase Dual, default policy; a counter update times out on the primary (leader)
// and on the secondary (follower). Exec returns the leader's error; nothing is recorded.
// Promise broken (package doc): "a failed follower update is recorded as uncertain (Uncertain,
// metric) and never replayed" — leaderFailed records the follower only when it succeeded; a
// follower timeout (may have applied) vanishes from Uncertain() and the metric.
func TestAttackCounterBothSidesFailNoUncertain(t *testing.T) {
	f := &fakeSides{}
	fail := func(context.Context, *writeOp) (bool, error) { return false, errors.New("timed out") }
	f.set(primarySide, fail)
	f.set(secondarySide, fail)
	log := NewMemLog()
	s := newFakeSession(t, f, WithReplayLog(log))
	defer s.Close()
	if err := s.Query("UPDATE hits SET c = c + ? WHERE k = ?", int64(1), 1).Exec(); err == nil {
		t.Fatal("leader failed but Exec returned nil")
	}
	var sec bool
	for _, u := range s.Uncertain() {
		if u.Side == "secondary" {
			sec = true
		}
	}
	if !sec {
		t.Fatalf("follower counter update failed (may have applied) but Uncertain() = %+v has nothing for the secondary; stats %+v", s.Uncertain(), s.Stats())
	}
}

// TestAttackTextualBatchSecondTTLNotShortened
// Interleaving: a textual BEGIN BATCH … APPLY BATCH with two USING TTL statements (100 s, 200 s)
// fails on the follower and is logged at t0; the replayer applies it at t0+50 s.
// Promise broken (package doc): "The TTL of a replayed USING TTL write is what remains of it
// counted from when the entry was logged" — the lexer records only the first TTL, so the second
// statement is replayed with its full 200 s and outlives the copy on the authoritative side.
func TestAttackTextualBatchSecondTTLNotShortened(t *testing.T) {
	log := NewMemLog()
	stmt := "BEGIN BATCH INSERT INTO a (k, v) VALUES (1, 'x') USING TTL 100; " +
		"INSERT INTO b (k, v) VALUES (1, 'y') USING TTL 200; APPLY BATCH"
	logged := time.Now()
	if err := log.Append(context.Background(), &Entry{Side: "secondary", Timestamp: logged.UnixMicro(), Logged: logged,
		Stmts: []Stmt{{Stmt: stmt}}}); err != nil {
		t.Fatal(err)
	}
	recs, err := log.Pending(1)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	got := remainingTTL(recs[0].Entry.Stmts[0], logged.Add(50*time.Second)).Stmt // what applyReplay sends
	if !strings.Contains(got, "USING TTL 50;") || !strings.Contains(got, "USING TTL 150;") {
		t.Fatalf("replayed 50 s after logging:\n  %s\nwant TTL 50 and TTL 150 (what remains of 100 s and 200 s)", got)
	}
}

// TestAttackAsyncFullQueueIgnoresDeadline
// Interleaving: policy Async, queue 1 / worker 1, the follower stalls so the queue fills; the next
// caller (100 ms deadline) finds the queue full and its write goes to the replay log, whose fsync
// takes 1 s. enqueue replaced op.ctx by context.WithoutCancel before keep, so the caller waits the
// full second. Promise broken (package doc): the replay log append is "fsync before the caller
// returns, the wait bounded by the caller's context"; Query.WithContext "sets the context of the
// request on both sides" — here the caller's deadline bounds nothing.
func TestAttackAsyncFullQueueIgnoresDeadline(t *testing.T) {
	f := &fakeSides{}
	release := make(chan struct{})
	f.set(secondarySide, blockUntil(release))
	s := newFakeSession(t, f, WithPolicy(Async), WithAsyncQueue(1, 1),
		WithReplayLog(slowAppendLog{NewMemLog(), time.Second}))
	defer s.Close()
	defer close(release)
	for i := 0; i < 2; i++ { // one in the worker, one in the queue
		if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "x").Exec(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the worker takes the first before the second is queued
	}
	if st := s.Stats(); st.Logged != 0 {
		t.Fatalf("setup: a write already went to the log: %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 9, "x").WithContext(ctx).Exec()
	t.Logf("err=%v d=%v stats=%+v", err, time.Since(start), s.Stats())
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("caller with a 100 ms deadline waited %v (the replay log's fsync), past its deadline", d)
	}
}

// TestAttackFollowerRefusalFailsAcceptedWrite
// Interleaving: PrimaryAuthoritative, Dual; the primary (authoritative) accepts the INSERT, the
// secondary answers "Undefined column" (schema change not there yet). Exec returns an error and
// nothing is kept for the secondary. Promise broken (package doc): "PrimaryAuthoritative: the
// caller's write succeeds when the authoritative side accepts it; a follower failure … is
// appended to the durable replay log" (the replayer even has a 5-attempt/10 s floor for refusals
// "since a schema may still be on its way"). The caller is told its write failed while the
// authoritative side holds it, and the follower never gets it.
func TestAttackFollowerRefusalFailsAcceptedWrite(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	log := NewMemLog()
	s := newFakeSession(t, f, WithReplayLog(log))
	defer s.Close()
	err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec()
	n, _ := log.Backlog()
	if err != nil || n == 0 {
		t.Fatalf("primary accepted, secondary refused: Exec = %v, entries kept for the secondary = %d; want nil and 1", err, n)
	}
}

// TestAttackUndecodableTailBlocksAuthorityForever
// Interleaving: the replay log's last record cannot be decoded (written by a newer version before
// a rollback); a session on the directory starts, Pending dead-letters it, the operator drops the
// dead letter with `islands replay drop`. Pending read past the record but the replayer never got
// a position for it, so Done never passes it: Backlog stays 1 for ever.
// Promise broken (package doc): SetPhase refuses authority only "while the replay log still holds
// writes, or while that side has dead letters"; here it holds neither, yet SetPhaseWait and
// WaitReplayed never return.
func TestAttackUndecodableTailBlocksAuthorityForever(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	// The record is appended once the session is open: opening in dual over it would be refused
	// as soon as the replayer dead-letters it (a dead letter that cannot be decoded counts as an
	// acknowledged write for every side, TestAttack7OpenIntoDualOverAckedUncertainCounterForPrimary),
	// and what this test drives is the replayer's position past it, not the open.
	s := newFakeSession(t, f, WithReplayLog(l))
	defer s.Close()
	if _, err := l.log.Append(context.Background(), []byte{0xff, 0xfe, 0xfd}); err != nil { // CRC-valid, undecodable
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if d, _ := l.DeadLetters(); len(d) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("undecodable entry not dead-lettered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := l.DropDeadLetters(context.Background(), nil); err != nil { // the operator drops it
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.SetPhaseWait(ctx, DualFlipped); err != nil {
		n, _ := s.Backlog()
		d, _ := l.DeadLetters()
		t.Fatalf("nothing left to replay and no dead letters (%d), backlog %d: SetPhaseWait = %v", len(d), n, err)
	}
}

// TestAttackLateFollowerReadsCallersReusedValues
// Interleaving: Dual, budget 20 ms; Exec(stmt, vals...) returns after the budget while the
// follower's request is still running (or being retried by gocql, which marshals the values again
// on each attempt); the caller, as gocql allows once Exec has returned, reuses vals for its next
// write (vals[1] = "b"). The follower then sends "b" under the first write's timestamp, while the
// replay log kept "a": the two sides hold different values for one timestamp (Cassandra breaks
// the tie by value, so a replay may never repair it). Also a data race under -race.
// Promise broken (package doc): "Every write gets one client timestamp … sent to both sides, so
// the two copies reconcile to the same cells"; Query is "shaped like *gocql.Query".
func TestAttackLateFollowerReadsCallersReusedValues(t *testing.T) {
	f := &fakeSides{}
	got := make(chan string, 1)
	f.set(secondarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		time.Sleep(150 * time.Millisecond) // slow follower: past the budget
		got <- fmt.Sprint(op.stmts[0].Values[1])
		return true, nil
	})
	s := newFakeSession(t, f, WithFollowerBudget(20*time.Millisecond))
	defer s.Close()
	vals := []any{1, "a"}
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", vals...).Exec(); err != nil {
		t.Fatal(err)
	}
	vals[1] = "b" // the caller's next write reuses its values slice
	if v := <-got; v != "a" {
		t.Fatalf("the follower wrote v=%q for the write acknowledged with v=\"a\"", v)
	}
}

// TestAttackAsyncFollowerReadsCallersReusedValues
// Interleaving: policy Async; Exec(stmt, vals...) returns once the leader took v="a" and the
// follower write is queued; the caller reuses vals (vals[1] = "b") before an async worker sends
// it. The follower stores "b" under the timestamp of the write that stored "a" on the leader.
// Promise broken (package doc): one client timestamp "sent to both sides, so the two copies
// reconcile to the same cells"; Async only promises that a crash loses the queued tail.
func TestAttackAsyncFollowerReadsCallersReusedValues(t *testing.T) {
	f := &fakeSides{}
	release := make(chan struct{})
	got := make(chan string, 1)
	f.set(secondarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		<-release
		got <- fmt.Sprint(op.stmts[0].Values[1])
		return true, nil
	})
	s := newFakeSession(t, f, WithPolicy(Async))
	defer s.Close()
	vals := []any{1, "a"}
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", vals...).Exec(); err != nil {
		t.Fatal(err)
	}
	vals[1] = "b"
	close(release)
	if v := <-got; v != "a" {
		t.Fatalf("the follower wrote v=%q for the write acknowledged with v=\"a\"", v)
	}
}
