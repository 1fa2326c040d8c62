package dualwrite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// The reserve's invariants (reserve.go): it is written whole at open, in proportion to the file
// system; promises never exceed half of it; release frees it in halves down to nothing; refill
// makes it whole again once space is back.
func TestReserveBoundsPromisesAndRefills(t *testing.T) {
	fs := recordlogtest.SmallFS(t, 256<<10)
	dir := filepath.Join(fs, "replay")
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const want = (256 << 10) / 16
	if n := recordlogtest.Size(t, filepath.Join(dir, reserveName)); n != want {
		t.Fatalf("DIR/reserve is %d bytes, want %d (1/16 of the file system)", n, want)
	}
	promised := 0
	for l.promiseWithdrawal() {
		promised++
		if promised > want {
			t.Fatal("promises never run out")
		}
	}
	if promised != want/2/withdrawalCost {
		t.Fatalf("%d withdrawals promised, want %d (half the reserve)", promised, want/2/withdrawalCost)
	}
	l.unpromiseWithdrawal()
	if !l.promiseWithdrawal() {
		t.Fatal("a promise returned cannot be made again")
	}
	sizes := []int64{}
	for l.releaseReserve() {
		sizes = append(sizes, recordlogtest.Size(t, filepath.Join(dir, reserveName)))
	}
	if len(sizes) == 0 || sizes[len(sizes)-1] != 0 {
		t.Fatalf("releases left the reserve at %v, want halves down to 0", sizes)
	}
	if l.promiseWithdrawal() {
		// Every promise is still held: the spent reserve promises nothing more.
		t.Fatal("a spent reserve promised a withdrawal")
	}
	// The disk is full: a refill keeps what was there (nothing), and says nothing is promised.
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
	l.res.lastFill = time.Time{}
	l.res.refill()
	if n := recordlogtest.Size(t, filepath.Join(dir, reserveName)); n != 0 {
		t.Fatalf("a refill on a full disk left the reserve at %d bytes, want 0 (what was durable)", n)
	}
	if err := os.Remove(filepath.Join(fs, "filler")); err != nil {
		t.Fatal(err)
	}
	l.res.lastFill = time.Time{}
	if err := l.Done(Pos{}); err != nil { // the replayer's progress refills it
		t.Fatal(err)
	}
	if n := recordlogtest.Size(t, filepath.Join(dir, reserveName)); n != want {
		t.Fatalf("after space came back the reserve is %d bytes, want %d", n, want)
	}
}

// fillDisk writes pages into a new file of fs until the file system is full, and returns its path.
func fillDisk(t *testing.T, fs, name string) string {
	t.Helper()
	p := filepath.Join(fs, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for {
		if _, err := f.Write(page); err != nil {
			return p
		}
	}
}

// Invariant 4 of reserve.go: the space the reserve frees is taken by another writer first, so the
// withdrawal still fails once the reserve is spent. It is retried until durable: the caller (whose
// context ends first) is told the withdrawal had not finished, and once space is back the
// withdrawal lands, so no later session on the directory replays the refused write.
func TestWithdrawalRetriedUntilDurableWhenReserveIsTaken(t *testing.T) {
	fs := recordlogtest.SmallFS(t, 256<<10)
	dir := filepath.Join(fs, "replay")
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	const refusedTS = 777
	answer := make(chan struct{})
	f := &fakeSides{}
	f.set(primarySide, func(_ context.Context, op *writeOp) (bool, error) {
		if op.ts == refusedTS {
			<-answer
			return false, errInvalidTable
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
	s := newFakeSession(t, f, WithReplayLog(l), withReplayBackoffMax(10*time.Millisecond))
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "a").WithTimestamp(100).Exec(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	filler := fillDisk(t, fs, "filler")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	told := make(chan error, 1)
	go func() {
		told <- s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 2, "refused").WithTimestamp(refusedTS).WithContext(ctx).Exec()
	}()
	// The entry is kept ahead (its withdrawal promised) while the leader is slow; meanwhile
	// another writer takes whatever the reserve frees.
	for deadline := time.Now().Add(5 * time.Second); backlog(l) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the write's entry was not kept ahead of its leader's answer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for l.releaseReserve() {
	}
	other := fillDisk(t, fs, "other")
	close(answer)
	err = <-told
	if err == nil || !errors.Is(err, errInvalidTable) || !strings.Contains(err.Error(), "had not finished") {
		t.Fatalf("Exec: %v, want the leader's refusal and that the withdrawal had not finished", err)
	}
	// Space comes back: the withdrawal, still retried, lands.
	os.Remove(other)
	os.Remove(filler)
	for deadline := time.Now().Add(5 * time.Second); l.Withdrawn() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the withdrawal was not recorded once space was back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	l.Close()
	down.Store(false)
	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	s2 := newFakeSession(t, f, WithReplayLog(l2), withReplayBackoffMax(10*time.Millisecond))
	defer s2.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := s2.WaitReplayed(wctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ts := range f.seen[secondarySide] {
		if ts == refusedTS {
			t.Fatal("the refused write was replayed onto the secondary by the next session")
		}
	}
}

func backlog(l *FileLog) int64 { n, _ := l.Backlog(); return n }

// A withdrawal retried on a disk that stays full does not keep Close waiting (the caller holds
// the phase gate Close takes): Close ends the retries, and the caller, which had no deadline, is
// told the withdrawal was not recorded and that the next process may replay the write.
func TestWithdrawalRetryEndsAtClose(t *testing.T) {
	fs := recordlogtest.SmallFS(t, 256<<10)
	l, err := OpenFileLog(filepath.Join(fs, "replay"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	answer := make(chan struct{})
	f := &fakeSides{}
	f.set(primarySide, func(_ context.Context, op *writeOp) (bool, error) {
		if op.ts == 777 {
			<-answer
			return false, errInvalidTable
		}
		return true, nil
	})
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(l))
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "a").WithTimestamp(100).Exec(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	fillDisk(t, fs, "filler")
	told := make(chan error, 1)
	go func() {
		told <- s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 2, "refused").WithTimestamp(777).Exec()
	}()
	for deadline := time.Now().Add(5 * time.Second); backlog(l) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the write's entry was not kept ahead of its leader's answer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for l.releaseReserve() {
	}
	fillDisk(t, fs, "other")
	close(answer)
	time.Sleep(50 * time.Millisecond) // the withdrawal is being retried
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for good for a withdrawal retried on a full disk")
	}
	err = <-told
	if err == nil || !errors.Is(err, errInvalidTable) || !strings.Contains(err.Error(), "may replay") {
		t.Fatalf("Exec: %v, want the leader's refusal and that the withdrawal was not recorded", err)
	}
}
