package dualwrite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

func TestFileLogAppendPendingDoneReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0, fileLogSegmentBytes(2048)) // force rotations
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e := &Entry{Side: "secondary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT", Values: []any{i, fmt.Sprint(i), time.Unix(int64(i), 0)}}}}
			if err := l.Append(ctx, e); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if n, _ := l.Backlog(); n != 200 {
		t.Fatalf("backlog %d, want 200", n)
	}
	recs, err := l.Pending(50)
	if err != nil || len(recs) != 50 {
		t.Fatalf("pending: %d %v", len(recs), err)
	}
	if err := l.Done(recs[len(recs)-1].Pos); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Backlog(); n != 150 {
		t.Fatalf("backlog after done %d, want 150", n)
	}
	l.Close()

	// A torn tail, as a crash in mid-append leaves it, is cut off on open.
	recordlogtest.Append(t, lastSegment(t, dir), []byte{0, 0, 1, 0, 9, 9})

	l, err = OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Backlog(); n != 150 {
		t.Fatalf("backlog after reopen %d, want 150", n)
	}
	seen := map[int64]bool{}
	for {
		recs, err := l.Pending(64)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			seen[r.Entry.Timestamp] = true
		}
		if err := l.Done(recs[len(recs)-1].Pos); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 150 {
		t.Fatalf("replayed %d entries after reopen, want 150", len(seen))
	}
	if n, _ := l.Backlog(); n != 0 {
		t.Fatalf("backlog %d at the end", n)
	}
	if err := l.Append(ctx, &Entry{Timestamp: 1}); err != nil {
		t.Fatalf("append after torn tail: %v", err)
	}
}

func TestFileLogFull(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 300)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var full error
	for i := 0; i < 10 && full == nil; i++ {
		full = l.Append(context.Background(), &Entry{Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (?)", Values: []any{i}}}})
	}
	if full == nil || !errorsIs(full, ErrReplayLogFull) {
		t.Fatalf("want ErrReplayLogFull, got %v", full)
	}
}

func TestUnencodableValue(t *testing.T) {
	type private struct{ x int }
	err := NewMemLog().Append(context.Background(), &Entry{Stmts: []Stmt{{Values: []any{private{1}}}}})
	if !errorsIs(err, ErrUnencodable) {
		t.Fatalf("want ErrUnencodable, got %v", err)
	}
}
