package dualwrite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// lastSegment returns the path of the replay log's newest segment file in dir (recordlog's, *.seg).
func lastSegment(t *testing.T, dir string) string {
	return recordlogtest.LastFile(t, dir, "*.seg")
}

func appendN(t *testing.T, l *FileLog, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		e := &Entry{Side: "secondary", Timestamp: int64(i + 1), Stmts: []Stmt{{Stmt: "INSERT INTO t (k, v) VALUES (?, ?)", Values: []any{i, "v"}}}}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// drainAll reads every pending entry within d, failing if Pending errs or does not return.
func drainAll(t *testing.T, l *FileLog, d time.Duration) []Record {
	t.Helper()
	type res struct {
		recs []Record
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		var all []Record
		for {
			recs, err := l.Pending(64)
			for _, r := range recs {
				if !r.SetAside { // a position Pending already dead-lettered, not an entry
					all = append(all, r)
				}
			}
			if err != nil || len(recs) == 0 {
				ch <- res{all, err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("pending: %v", r.err)
		}
		return r.recs
	case <-time.After(d):
		t.Fatalf("Pending did not return within %s (it loops)", d)
		return nil
	}
}

// A crash after the file grew but before its data reached the disk leaves zeros at the tail
// (ext4, xfs): they must be cut off on open, not read as records.
func TestFileLogZeroFilledTail(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	l.Close()
	recordlogtest.Append(t, lastSegment(t, dir), make([]byte, 4096))

	l, err = OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Backlog(); n != 3 {
		t.Fatalf("backlog %d after a zero-filled tail, want 3", n)
	}
	appendN(t, l, 1)
	if recs := drainAll(t, l, 5*time.Second); len(recs) != 4 {
		t.Fatalf("read %d entries, want 4", len(recs))
	}
}

// A bit flipped in a durable record (media error) must not make Pending or Close loop.
func TestFileLogBadChecksumDoesNotLoop(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		done := make(chan struct{})
		go func() { l.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("Close hangs after a bad checksum")
		}
	}()
	appendN(t, l, 3)
	seg := lastSegment(t, dir)
	recordlogtest.FlipBit(t, seg, recordlogtest.Size(t, seg)/2, 6) // inside the second record
	recs := drainAll(t, l, 5*time.Second)
	if len(recs) > 3 {
		t.Fatalf("read %d entries from 3 appended", len(recs))
	}
	appendN(t, l, 1)
	drainAll(t, l, 5*time.Second)
}

// An empty blob and a null are different values in CQL: the log must keep them apart.
func TestEntryEmptyBytesRoundTrip(t *testing.T) {
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO t (k, b, n) VALUES (?, ?, ?)", Values: []any{1, []byte{}, []byte(nil)}}}}
	b, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	v1, ok := got.Stmts[0].Values[1].([]byte)
	if !ok || v1 == nil || len(v1) != 0 {
		t.Fatalf("[]byte{} came back as %#v", got.Stmts[0].Values[1])
	}
	if v2, ok := got.Stmts[0].Values[2].([]byte); ok && v2 != nil {
		t.Fatalf("[]byte(nil) came back as %#v", v2)
	}
}

// Close racing appends (run under -race): no panic, no hang, every append returns nil (and the
// entry is there after reopen) or ErrClosed.
func TestFileLogCloseRacesAppends(t *testing.T) {
	for round := 0; round < 10; round++ {
		dir := t.TempDir()
		l, err := OpenFileLog(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		acked := make(chan int64, 100000)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					ts := int64(g*1_000_000 + i)
					err := l.Append(context.Background(), &Entry{Side: "secondary", Timestamp: ts, Stmts: []Stmt{{Stmt: "I", Values: []any{i}}}})
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("append: %v", err)
						}
						return
					}
					acked <- ts
				}
			}(g)
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		closed := make(chan struct{})
		go func() { l.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hangs with appends queued")
		}
		wg.Wait()
		close(acked)
		l, err = OpenFileLog(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]bool{}
		for _, r := range drainAll(t, l, 10*time.Second) {
			got[r.Entry.Timestamp] = true
		}
		for ts := range acked {
			if !got[ts] {
				t.Fatalf("round %d: acknowledged entry %d lost", round, ts)
			}
		}
		l.Close()
	}
}
