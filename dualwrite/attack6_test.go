package dualwrite

import (
	"context"
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
