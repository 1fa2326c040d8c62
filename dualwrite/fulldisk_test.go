package dualwrite

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// Defect 11: a replay log on a full disk. Writes that cannot be kept fail with ENOSPC; failed
// appends leave no pile of empty segments; once the follower is back the backlog drains (the
// cursor can be written, consumed segments freed) and writes are kept again.
func TestFullDiskReplayDrains(t *testing.T) {
	dir := recordlogtest.SmallFS(t, 48<<10)
	f := &fakeSides{}
	var down atomic.Bool
	down.Store(true)
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		if down.Load() {
			return false, errors.New("secondary down")
		}
		return true, nil
	})
	l, err := OpenFileLog(filepath.Join(dir, "replay"), 0, fileLogSegmentBytes(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newFakeSession(t, f, WithReplayLog(l))
	defer s.Close()
	kept, refused := 0, 0
	for i := 0; refused < 300; i++ {
		err := s.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", i, "0123456789012345678901234567890123456789").Exec()
		switch {
		case err == nil:
			kept++
		case errors.Is(err, syscall.ENOSPC):
			refused++
		default:
			t.Fatalf("write on a full disk: %v, want ENOSPC", err)
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "replay", "*.seg")); len(segs) > 8 {
		t.Fatalf("%d segment files after %d refused writes", len(segs), refused)
	}
	down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		n, age := s.Backlog()
		t.Fatalf("the backlog did not drain once the follower was back: %d entries, oldest %s: %v", n, age, err)
	}
	// Space was freed: a failing follower's write is kept again.
	down.Store(true)
	if err := s.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", -1, "x").Exec(); err != nil {
		t.Fatalf("write after the log drained: %v", err)
	}
	t.Logf("%d writes kept, %d refused with ENOSPC", kept, refused)
}
