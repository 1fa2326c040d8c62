package dualwrite

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// An Async follower copy the full replay log could not keep is held in memory, holds the
// follower's authority, and is appended once the replayer has made room; it then lands on the
// follower and authority may move (unkept.go, invariants 1 and 2).
func TestAsyncUnkeptCopyAppendedWhenLogHasRoom(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 2<<10, fileLogSegmentBytes(1<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &fakeSides{}
	var down atomic.Bool
	down.Store(true)
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		if down.Load() {
			return false, transientErr{}
		}
		return true, nil
	})
	s := newFakeSession(t, f, WithReplayLog(l), WithPolicy(Async), WithFollowerBudget(50*time.Millisecond))
	defer s.Close()
	var acked []int64
	for i := 0; s.Stats().AsyncUnkept == 0; i++ {
		if i > 1000 {
			t.Fatalf("the replay log never filled: stats %+v", s.Stats())
		}
		ts := time.Now().UnixMicro()*10 + int64(i) // distinct
		q := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", i, "0123456789012345678901234567890123456789").WithTimestamp(ts)
		if err := q.Exec(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		acked = append(acked, ts)
		for s.stats.asyncInFlight.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := s.SetPhase(DualFlipped); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("SetPhase(DualFlipped) with an acknowledged copy the log could not keep: %v, want ErrAuthorityBacklog", err)
	}
	down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.SetPhaseWait(ctx, DualFlipped); err != nil {
		t.Fatalf("SetPhaseWait(DualFlipped) once the secondary is back: %v (stats %+v)", err, s.Stats())
	}
	f.mu.Lock()
	on := map[int64]bool{}
	for _, ts := range f.seen[secondarySide] {
		on[ts] = true
	}
	f.mu.Unlock()
	for _, ts := range acked {
		if !on[ts] {
			t.Fatalf("acknowledged write %d is not on the secondary after authority moved to it (stats %+v)", ts, s.Stats())
		}
	}
	if st := s.Stats(); st.AsyncLost != 0 || s.unkeptHeld() != 0 {
		t.Fatalf("stats %+v, held %d: want nothing lost or held", st, s.unkeptHeld())
	}
}

// Close drains the async queue into a full log: a copy still not kept once Close has given it
// its time is reported (logged at error, counted), never dropped silently (invariant 4).
func TestAsyncUnkeptAtCloseIsReported(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 1) // full: no entry fits
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &fakeSides{}
	release := make(chan struct{})
	f.set(secondarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		select { // the secondary hangs: the copy is still queued or running when Close starts
		case <-release:
		case <-ctx.Done():
		}
		return false, transientErr{}
	})
	defer close(release)
	var logs syncBuffer
	s := newFakeSession(t, f, WithReplayLog(l), WithPolicy(Async), WithFollowerBudget(20*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", 1, "a").Exec(); err != nil {
		t.Fatalf("control: the async write was not acknowledged: %v", err)
	}
	s.Close()
	if st := s.Stats(); st.AsyncUnkept != 1 || st.AsyncLost != 1 {
		t.Fatalf("Close drained an acknowledged copy into a full log: stats %+v, want AsyncUnkept 1, AsyncLost 1", st)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "lost at Close") {
		t.Fatalf("the copy lost at Close was not logged at error:\n%s", logs.String())
	}
}

// The copies held in memory are bounded by the async queue's size: past it, the follower copy is
// kept while the caller waits, and a full log fails the caller's write with ErrReplayLogFull
// (invariant 3), as an overflow of the queue does.
func TestAsyncUnkeptBoundedByQueue(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(l), WithPolicy(Async), WithAsyncQueue(2, 1), WithFollowerBudget(20*time.Millisecond))
	defer s.Close()
	full := 0
	for i := 0; i < 10; i++ {
		err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", i, "a").Exec()
		switch {
		case err == nil:
		case errors.Is(err, ErrReplayLogFull):
			full++
		default:
			t.Fatalf("write %d: %v", i, err)
		}
		for s.stats.asyncInFlight.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if h := s.unkeptHeld(); h > 2 || full != 10-int(h) {
		t.Fatalf("%d copies held in memory (bound 2), %d writes failed with ErrReplayLogFull", h, full)
	}
}

// On a full disk the held copy is appended with the replay directory's reserve (reserve.go,
// invariant 3), as an uncertain record is, without waiting for the replayer to free space
// (unkept.go, invariant 1).
func TestAsyncUnkeptCopyUsesReserveOnFullDisk(t *testing.T) {
	fs := recordlogtest.SmallFS(t, 256<<10)
	l, err := OpenFileLog(filepath.Join(fs, "replay"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fillDisk(t, fs, "filler")
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(l), WithPolicy(Async), WithFollowerBudget(20*time.Millisecond))
	defer s.Close()
	if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", 1, "a").Exec(); err != nil {
		t.Fatalf("control: the async write was not acknowledged: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for (s.stats.asyncInFlight.Load() > 0 || s.unkeptHeld() > 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.Stats(); st.AsyncUnkept != 1 {
		t.Fatalf("control: the copy's first append did not fail on the full disk: %+v", st)
	}
	if h, b := s.unkeptHeld(), backlog(l); h != 0 || b != 1 {
		t.Fatalf("on a full disk with a reserve: %d copies still held, backlog %d; want 0 held, 1 in the log", h, b)
	}
}
