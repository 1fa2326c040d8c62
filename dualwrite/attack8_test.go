package dualwrite

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestAttack8EarlyEntryOfFailedWriteCountsAsAcknowledged
// Interleaving: dual-flipped (secondary leads), PrimaryAuthoritative, FileLog; the secondary
// fails a write with a timeout (not a refusal: the caller is told the write failed) while the
// primary (follower) is silent past ¾ of its budget: write's `early` keeps an entry for the
// primary ahead (entryFor, Unacked false), then leaderFailed keeps the write Unacked for both.
// The process restarts into dual with the primary still failing: Open counts the early entry as
// an acknowledged write owed to the primary and refuses (ErrAuthorityBacklog).
// Promise broken (package doc): "Writes kept because their leader failed (the caller was told
// so), whether replay entries, dead letters or uncertain records, are marked Unacked and are not
// counted at open". This write's caller was told it failed; one of its entries is not marked and
// Open refuses over it (and, dead-lettered, it would show as an acknowledged write the primary lacks).
func TestAttack8EarlyEntryOfFailedWriteCountsAsAcknowledged(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) { return false, transientErr{} })
	f.set(primarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		select { // silent past ¾ of the budget, then a timeout: the primary is down
		case <-time.After(150 * time.Millisecond):
		case <-ctx.Done():
		}
		return false, transientErr{}
	})
	s := newFakeSession(t, f, WithReplayLog(l), WithPhase(DualFlipped), WithFollowerBudget(40*time.Millisecond))
	if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", 1, "a").Exec(); err == nil {
		t.Fatal("control: a write whose leader timed out succeeded")
	}
	recs, err := l.PendingEntries(100)
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for _, r := range recs {
		if r.Entry.Side == primarySide.String() && !r.Entry.Unacked {
			acked++
		}
	}
	s.Close()
	l.Close()

	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	s2, oerr := newSessionForTest(f, WithReplayLog(l2), WithPhase(Dual), WithOpenWait(200*time.Millisecond))
	if s2 != nil {
		defer s2.Close()
	}
	if acked > 0 || oerr != nil {
		t.Fatalf("a write whose leader failed (caller told so) left %d entries for the primary not marked Unacked "+
			"(entries %d); reopening in dual with the primary down: %v (want nil: only Unacked entries are owed to it)",
			acked, len(recs), oerr)
	}
}

// newSessionForTest is newFakeSession returning the error instead of failing the test.
func newSessionForTest(f *fakeSides, opts ...Option) (*Session, error) {
	opts = append([]Option{withExecHook(f.exec), WithReplayLog(NewMemLog()), WithPhase(Dual)}, opts...)
	return newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
}

// TestAttack8AsyncCopyLostOnFullLogDoesNotHoldAuthority
// Interleaving: dual, Async, FileLog full (its byte limit reached: the follower has been down for
// long); a write is acknowledged once the primary takes it, its queued copy fails on the secondary
// and its append fails with ErrReplayLogFull: asyncWorker logs "async follower write lost" and
// nothing else remembers it. SetPhase(DualFlipped) then makes the secondary authoritative at once.
// Promise broken (package doc): "When the log is full the write fails with ErrReplayLogFull …:
// losing a write silently is never an option", and SetPhase refuses to make a side authoritative
// while it may lack acknowledged writes; Async's only stated loss is "a crash loses the queued
// tail". Here an acknowledged write the secondary lacks, in a live process, leaves no count
// (not backlog, not dead letter, not uncertain) and authority moves to the side that lacks it.
func TestAttack8AsyncCopyLostOnFullLogDoesNotHoldAuthority(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 1) // full: no entry fits
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &fakeSides{}
	var secondaryDown atomic.Bool
	secondaryDown.Store(true)
	f.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		if secondaryDown.Load() {
			return false, transientErr{}
		}
		return true, nil
	})
	s := newFakeSession(t, f, WithReplayLog(l), WithPolicy(Async), WithFollowerBudget(50*time.Millisecond))
	defer s.Close()
	if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", 1, "a").Exec(); err != nil {
		t.Fatalf("control: the async write was not acknowledged: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	secondaryDown.Store(false) // the secondary is back
	f.mu.Lock()
	onSecondary := len(f.seen[secondarySide])
	f.mu.Unlock()
	if onSecondary != 0 {
		t.Fatalf("control: the secondary has %d writes", onSecondary)
	}
	if err := s.SetPhase(DualFlipped); err == nil {
		t.Fatalf("SetPhase(DualFlipped) made the secondary authoritative though it lacks an acknowledged write "+
			"(its async copy failed and the full replay log could not keep it; stats %+v)", s.Stats())
	}
}
