package dualwrite

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestReplayWindowParksDownSide drives the replayer over a FileLog with a small window (so each
// side's memory cap is 64 entries), random runs of entries for each side, and the secondary down:
// every primary entry lands while the secondary is down, the cursor never passes a secondary
// entry (a new log on a copy of the directory still counts them all), and once the secondary is
// back every entry lands and the log drains.
func TestReplayWindowParksDownSide(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	var want [2]int
	for ts := int64(1); ts <= 2000; {
		sd := rng.IntN(2)
		for n := 1 + rng.IntN(300); n > 0 && ts <= 2000; n-- {
			e := &Entry{Side: side(sd).String(), Timestamp: ts, Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{ts}}}}
			if err := l.Append(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			want[sd]++
			ts++
		}
	}
	var mu sync.Mutex
	down := true
	landed := [2]map[int64]int{{}, {}}
	apply := func(_ context.Context, e *Entry) error {
		sd := entrySide(e)
		mu.Lock()
		defer mu.Unlock()
		if sd == secondarySide && down {
			return errors.New("secondary: no hosts available")
		}
		landed[sd][e.Timestamp]++
		return nil
	}
	r := &replayCore{log: l, apply: apply, workers: 2, window: 4, backoffMax: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func(sd side) int {
		mu.Lock()
		defer mu.Unlock()
		return len(landed[sd])
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(primarySide) < want[primarySide] {
		if time.Now().After(deadline) {
			t.Fatalf("secondary down: %d of %d primary entries landed", count(primarySide), want[primarySide])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, _ := l.backlogFor(secondarySide); n != int64(want[secondarySide]) {
		t.Fatalf("secondary down: the log counts %d entries for it, want %d (the cursor passed one that never landed)", n, want[secondarySide])
	}
	mu.Lock()
	down = false
	mu.Unlock()
	for count(secondarySide) < want[secondarySide] {
		if time.Now().After(deadline) {
			t.Fatalf("secondary back: %d of %d secondary entries landed", count(secondarySide), want[secondarySide])
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		if n, _ := l.Backlog(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			n, _ := l.Backlog()
			t.Fatalf("every entry landed, backlog still %d", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
