package dualwrite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// snapshot copies dir (recursively) as a process killed at this instant leaves it: every byte
// written is in the page cache and survives a process crash; what an fsync alone protects (a
// power loss) is covered by the torn-record cases below.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "snap")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// replayedOnto opens a session (every side accepting) on dir, lets it replay, and returns the
// timestamps that landed on the secondary.
func replayedOnto(t *testing.T, dir string) []int64 {
	t.Helper()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := &fakeSides{}
	s := newFakeSession(t, g, WithReplayLog(l), withReplayBackoffMax(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int64(nil), g.seen[secondarySide]...)
}

// TestWithdrawalCrashPoints kills the process (a copy of the replay directory at that instant)
// at each point between the entry kept ahead for the down follower and the withdrawal that
// follows the leader's refusal, and checks what the next session on that directory does:
//   - entry durable, leader not answered yet (the caller has been told nothing): the entry
//     replays (outcome unknown: the choice that never loses the write when the leader accepts);
//   - the instant Exec returned the refusal, and after Close: never replayed, and no reader counts
//     it (Backlog, the secondary's owed writes, PendingEntries);
//   - the withdrawal record torn at every byte (a crash in mid-fsync): cut on open, the entry
//     replays; whole: withdrawn.
func TestWithdrawalCrashPoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "replay")
	log1, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var beforeAnswer string
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) {
		// The leader answers once the entry kept ahead for the follower is durable.
		for deadline := time.Now().Add(3 * time.Second); ; {
			if n, _ := log1.Backlog(); n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Error("the entry kept ahead never became durable")
				break
			}
			time.Sleep(time.Millisecond)
		}
		beforeAnswer = snapshot(t, dir)
		return false, errInvalidTable
	})
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(log1))
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	const ts = 1_700_000_000_000_000
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "refused", 1).WithTimestamp(ts).Exec(); !errors.Is(err, errInvalidTable) {
		t.Fatalf("Exec = %v, want the leader's refusal", err)
	}
	told := snapshot(t, dir) // killed the instant the caller was told
	s.Close()
	log1.Close()

	if got := replayedOnto(t, beforeAnswer); len(got) != 1 || got[0] != ts {
		t.Fatalf("killed before the leader answered: replayed %v onto the secondary, want [%d] (outcome unknown: it replays)", got, ts)
	}
	for name, d := range map[string]string{"told": told, "closed": dir} {
		l, err := OpenFileLog(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := l.Backlog()
		owed, _ := l.backlogFor(secondarySide)
		pend, _ := l.PendingEntries(10)
		if n != 0 || owed != 0 || len(pend) != 0 || l.Withdrawn() != 1 {
			t.Fatalf("%s: a withdrawn entry counted: Backlog %d, owed to the secondary %d, PendingEntries %d, Withdrawn %d",
				name, n, owed, len(pend), l.Withdrawn())
		}
		l.Close()
		if got := replayedOnto(t, d); len(got) != 0 {
			t.Fatalf("%s: the next session replayed %v, a write the caller was told the leader refused", name, got)
		}
	}

	// The withdrawal record torn at every byte, as a crash during its fsync can leave it.
	seg := recordlogtest.LastFile(t, filepath.Join(told, withdrawnDir), "*.seg")
	size := recordlogtest.Size(t, seg)
	for _, zero := range []bool{false, true} {
		for at := int64(0); at <= size; at++ {
			d := snapshot(t, told)
			p := filepath.Join(d, withdrawnDir, filepath.Base(seg))
			if zero {
				recordlogtest.ZeroFill(t, p, at)
			} else {
				recordlogtest.Cut(t, p, at)
			}
			l, err := OpenFileLog(d, 0)
			if err != nil {
				t.Fatalf("torn at %d: %v", at, err)
			}
			pend, _ := l.PendingEntries(10)
			l.Close()
			whole := at == size
			if whole && len(pend) != 0 || !whole && (len(pend) != 1 || pend[0].Entry.Timestamp != ts) {
				t.Fatalf("withdrawal torn at %d of %d (zero-filled %v): %d entries pending, want %d", at, size, zero, len(pend), map[bool]int{true: 0, false: 1}[whole])
			}
		}
	}
}

// TestWithdrawalNamesOneEntry: a withdrawal names its entry by position, not by side and
// timestamp: a later write the caller gives the same timestamp (a retry of the refused write,
// accepted this time) is replayed, in this process and the next; and once the replayer has passed
// the withdrawn entry, its record is consumed (not read again at every open).
func TestWithdrawalNamesOneEntry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "replay")
	log1, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	refuse := true
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) {
		if refuse {
			return false, errInvalidTable
		}
		return true, nil
	})
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(log1), withReplayBackoffMax(10*time.Millisecond))
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	const ts = 1_700_000_000_000_000
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).WithTimestamp(ts).Exec(); err == nil {
		t.Fatal("the leader refused, Exec returned nil")
	}
	refuse = false
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).WithTimestamp(ts).Exec(); err != nil {
		t.Fatal(err)
	}
	if n := s.owedTo(secondarySide); n != 1 {
		t.Fatalf("owed to the secondary: %d, want 1 (the accepted retry; the refused write is withdrawn)", n)
	}
	s.Close()
	log1.Close()
	if got := replayedOnto(t, dir); len(got) != 1 || got[0] != ts {
		t.Fatalf("replayed %v, want the accepted retry [%d] once", got, ts)
	}
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Backlog(); n != 0 || l.Withdrawn() != 0 || len(l.voids.recs) != 0 {
		t.Fatalf("after the replay: Backlog %d, Withdrawn %d, withdrawal records still read %d", n, l.Withdrawn(), len(l.voids.recs))
	}
}
