package dualwrite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/globalcloud/islands/internal/private/privatetest"
)

// The replay log, its dead letters and its uncertain entries hold member rows: 0600 files in
// 0700 directories (internal/private).
func TestFilesArePrivate(t *testing.T) {
	root := t.TempDir()
	l, err := OpenFileLog(filepath.Join(root, "var", "replay"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT", Values: []any{"member-1"}}}}
	for range 2 {
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := l.Pending(1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("pending: %d %v", len(recs), err)
	}
	if err := l.DeadLetter(ctx, recs[0], errors.New("table altered")); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordUncertain(ctx, e, errors.New("counter")); err != nil {
		t.Fatal(err)
	}
	if err := l.Done(recs[0].Pos); err != nil { // writes the cursor
		t.Fatal(err)
	}
	l.Close()
	if n := privatetest.CheckTree(t, root); n < 7 { // 3 × (LOCK, segment) + cursor
		t.Fatalf("%d files: the log wrote less than expected", n)
	}
}
