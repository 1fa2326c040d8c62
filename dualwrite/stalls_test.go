package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Defect 8: a write that cannot take the phase gate by its deadline (SetPhase waits behind a slow
// write) fails with its context's error and is sent nowhere.
func TestWriteHonoursDeadlineWhileSetPhasePending(t *testing.T) {
	f := &fakeSides{}
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	f.set(primarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		if op.ts == 1 {
			<-release // the slowest in-flight write
		}
		return true, nil
	})
	s := newFakeSession(t, f, WithPhase(PrimaryOnly))
	defer s.Close()
	slow := make(chan error, 1)
	go func() { slow <- s.Query("INSERT INTO kv (k, v) VALUES (1, 'a')").WithTimestamp(1).Exec() }()
	time.Sleep(20 * time.Millisecond)
	switched := make(chan error, 1)
	go func() { switched <- s.SetPhase(Dual) }()
	time.Sleep(20 * time.Millisecond) // SetPhase waits for the slow write
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.Query("INSERT INTO kv (k, v) VALUES (2, 'b')").WithTimestamp(2).WithContext(ctx).Exec()
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write that could not start by its deadline: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		free()
		t.Fatal("a write waited for the phase gate 5s past its 50ms deadline")
	}
	free()
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for sd, seen := range f.seen {
		for _, ts := range seen {
			if ts == 2 {
				t.Fatalf("the write that failed on its deadline was sent to the %s side", side(sd))
			}
		}
	}
}

// Defect 9: a follower failure whose append to the replay log is still under way (its caller
// gone) counts when SetPhase decides whether authority may move.
func TestSetPhaseCountsAppendsUnderWay(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary down") })
	s := newFakeSession(t, f, WithReplayLog(slowAppendLog{NewMemLog(), 300 * time.Millisecond}))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = s.Query("INSERT INTO kv (k, v) VALUES (1, 'a')").WithContext(ctx).Exec() // the append outlives the caller
	if err := s.SetPhase(DualFlipped); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("SetPhase(DualFlipped) while an append for the secondary is under way: %v (phase %s), want ErrAuthorityBacklog", err, s.Phase())
	}
}

// Defect 10: listings of the uncertain (and dead-letter) store running at once each see every entry.
func TestConcurrentAsideListings(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 300; i++ {
		e := &Entry{Side: "secondary", Timestamp: int64(i + 1), Stmts: []Stmt{{Stmt: "UPDATE c SET n = n + 1 WHERE k = 1"}}}
		if err := l.RecordUncertain(context.Background(), e, errors.New("timeout")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				got, err := l.UncertainEntries()
				if err != nil || len(got) != 300 {
					errs <- fmt.Errorf("listing saw %d entries (%v), want 300", len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
