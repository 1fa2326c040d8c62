package recordlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// A full disk is survivable: appends fail with ENOSPC (nothing acknowledged is lost), failed
// appends leave no pile of empty segments, the cursor can still be written (its space is
// reserved), and once the consumed segments are freed appends succeed again.
func TestFullDiskIsSurvivable(t *testing.T) {
	dir := recordlogtest.SmallFS(t, 48<<10)
	l := open(t, dir, Options{SegmentBytes: 8 << 10})
	ctx := context.Background()
	acked, failed := 0, 0
	for i := 0; failed < 300; i++ {
		if _, err := l.Append(ctx, payload(i)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append on a full disk: %v, want ENOSPC", err)
			}
			failed++
			continue
		}
		acked++
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if max := 48/8 + 2; len(segs) > max {
		t.Fatalf("%d segment files after %d failed appends (at most %d hold anything)", len(segs), failed, max)
	}
	var last Pos
	n := 0
	for {
		recs, err := l.Read(1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		n += len(recs)
		last = recs[len(recs)-1].Pos
	}
	if n != acked {
		t.Fatalf("read back %d records, %d were acknowledged", n, acked)
	}
	if err := l.Commit(last); err != nil {
		t.Fatalf("the cursor cannot be recorded on a full disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, cursorName+".tmp")); err == nil {
		t.Fatal("cursor.tmp left behind")
	}
	if _, err := l.Append(ctx, payload(1)); err != nil {
		t.Fatalf("append after the consumed segments were freed: %v", err)
	}
	// The cursor survives a reopen.
	l.Close()
	l2 := open(t, dir, Options{SegmentBytes: 8 << 10})
	if st := l2.Stats(); st.Records != 1 {
		t.Fatalf("after reopening: %d records, want the one appended after the commit", st.Records)
	}
}
