package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func deadIDs(t *testing.T, l *FileLog) []int {
	t.Helper()
	d, err := l.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, a := range d {
		ids = append(ids, a.ID)
	}
	return ids
}

func deadLetterN(t *testing.T, l *FileLog, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		rec := Record{Entry: Entry{Side: "secondary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: fmt.Sprintf("INSERT INTO t (k) VALUES (%d)", i)}}}}
		if err := l.DeadLetter(context.Background(), rec, errors.New("refused")); err != nil {
			t.Fatal(err)
		}
	}
}

// An ID `islands replay inspect` showed never names another entry later: not after a drop, not
// after a retry, not after a reopen.
func TestReplayIDsStable(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	deadLetterN(t, l, 1, 3)
	if got := fmt.Sprint(deadIDs(t, l)); got != "[1 2 3]" {
		t.Fatalf("IDs %s", got)
	}
	if _, err := l.DropDeadLetters(context.Background(), []int{2}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(deadIDs(t, l)); got != "[1 3]" {
		t.Fatalf("after dropping 2: IDs %s, want [1 3]", got)
	}
	if _, err := l.DropDeadLetters(context.Background(), []int{3}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err = OpenFileLog(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadLetterN(t, l, 10, 1)
	if got := fmt.Sprint(deadIDs(t, l)); got != "[1 4]" {
		t.Fatalf("after dropping 3, reopening and a new dead letter: IDs %s, want [1 4]", got)
	}
	d, _ := l.DeadLetters()
	if d[1].Entry.Timestamp != 10 {
		t.Fatalf("ID 4 names %+v", d[1].Entry)
	}
	if n, err := l.RetryDeadLetters(context.Background(), []int{1}); err != nil || n != 1 {
		t.Fatalf("retry 1: %d %v", n, err)
	}
	if got := fmt.Sprint(deadIDs(t, l)); got != "[4]" {
		t.Fatalf("after retrying 1: IDs %s, want [4]", got)
	}
}

// A retry that fails half-way (the replay log is full) leaves every dead letter exactly once.
func TestReplayRetryHalfWayNoDuplicates(t *testing.T) {
	one, _ := encodeEntry(&Entry{Side: "secondary", Timestamp: 2, Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (2)"}}})
	l, err := OpenFileLog(t.TempDir(), int64(len(one)+12+8)) // room for one entry

	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadLetterN(t, l, 1, 3)
	if _, err := l.RetryDeadLetters(context.Background(), []int{2, 3}); !errors.Is(err, ErrReplayLogFull) {
		t.Fatalf("retry into a full log: %v, want ErrReplayLogFull", err)
	}
	if got := fmt.Sprint(deadIDs(t, l)); got != "[1 2 3]" {
		t.Fatalf("after a retry that failed half-way: IDs %s, want [1 2 3]", got)
	}
}
