package dualwrite

import (
	"context"
	"testing"
	"time"
)

// entriesFor returns the waiting entries of side sd in l: how many, and how many not marked
// Unacked.
func entriesFor(t *testing.T, l *FileLog, sd side) (all, acked int) {
	t.Helper()
	recs, err := l.PendingEntries(100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Entry.Side == sd.String() {
			all++
			if !r.Entry.Unacked {
				acked++
			}
		}
	}
	return all, acked
}

// The follower-down path keeps the follower's entry before the leader answers (hold.go). When the
// leader then fails without refusing (the caller is told the write failed), the follower is owed
// the write as an Unacked entry only: one entry, marked, durably; a restart in dual with the
// primary (the follower) still down opens (settleUnacked).
func TestLeaderFailedFollowerDownPathKeepsOnlyUnacked(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(l), WithPhase(DualFlipped), WithFollowerBudget(time.Second))
	s.sides[primarySide].misses.Store(downAfter) // the primary has missed its budget again and again
	if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", 1, "a").Exec(); err == nil {
		t.Fatal("control: a write whose leader failed succeeded")
	}
	all, acked := entriesFor(t, l, primarySide)
	s.Close()
	l.Close()
	if all != 1 || acked != 0 {
		t.Fatalf("a write whose leader failed (caller told so), kept ahead for the down primary: %d entries for the "+
			"primary, %d not marked Unacked; want 1 entry, marked", all, acked)
	}
	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	s2, err := newSessionForTest(f, WithReplayLog(l2), WithPhase(Dual), WithOpenWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("reopening in dual with the primary down over Unacked entries only: %v", err)
	}
	s2.Close()
}

// The ¾-budget early entry of a write whose leader failed while the follower then took the write:
// the follower is owed nothing, and the early entry (kept unmarked before anyone knew) is
// withdrawn, so that no acknowledged entry is left for a write whose caller was told it failed.
func TestLeaderFailedFollowerTookItEarlyEntryWithdrawn(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &fakeSides{}
	var s *Session
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	f.set(primarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		// Silent until the early entry is in the log (three quarters of the budget), then it lands.
		for s.Stats().Logged == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		return true, nil
	})
	s = newFakeSession(t, f, WithReplayLog(l), WithPhase(DualFlipped), WithFollowerBudget(400*time.Millisecond))
	defer s.Close()
	if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", 1, "a").Exec(); err == nil {
		t.Fatal("control: a write whose leader failed succeeded")
	}
	if st := s.Stats(); st.Logged == 0 {
		t.Fatalf("control: no early entry was kept: %+v", st)
	}
	if _, acked := entriesFor(t, l, primarySide); acked != 0 {
		t.Fatalf("%d entries for the primary not marked Unacked after the leader failed and the primary took the write", acked)
	}
}
