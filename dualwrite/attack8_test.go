package dualwrite

import (
	"context"
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
