package recordlog

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
)

// failOps makes the writer's operations named in ops fail with EIO (none: no fault).
func failOps(l *Log, ops ...string) {
	if len(ops) == 0 {
		l.fault.Store(nil)
		return
	}
	fn := func(op string) error {
		for _, o := range ops {
			if o == op {
				return syscall.EIO
			}
		}
		return nil
	}
	l.fault.Store(&fn)
}

// Invariant 6: an append whose fsync failed is cut back durably, and never read back, in this
// process or after a reopen; when the cut-back fails too, the error says so (ErrUncut) and where
// the record may be read back after a reopen, and that position is never given to another record.
func TestFailedAppendCutBackOrUncut(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if _, err := l.Append(ctx, []byte("A")); err != nil {
		t.Fatal(err)
	}

	// The fsync fails and the cut-back works: the record is gone for good.
	failOps(l, "sync")
	_, err := l.Append(ctx, []byte("cut"))
	if err == nil || errors.Is(err, ErrUncut) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing fsync: %v, want EIO, not ErrUncut", err)
	}

	// The fsync fails and so does the cut-back: the record is in the file, past the valid end.
	failOps(l, "sync", "truncate")
	_, err = l.Append(ctx, []byte("uncut"))
	var ue *UncutError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUncut) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing fsync and cut-back: %v, want an *UncutError wrapping EIO", err)
	}
	if l.Holds(ue.At) {
		t.Fatalf("the log holds the uncut record at %s in the process that failed it", ue.At)
	}
	failOps(l)
	posC, err := l.Append(ctx, []byte("C"))
	if err != nil {
		t.Fatal(err)
	}
	if posC.Segment == ue.At.Segment {
		t.Fatalf("an append after an uncut failure went to its segment %d: the failed position may be reused", posC.Segment)
	}
	got := readAll(t, l)
	if len(got) != 2 || string(got[0].Payload) != "A" || string(got[1].Payload) != "C" {
		t.Fatalf("read %q, want A and C", payloads(got))
	}
	l.Close()

	// Reopened: the uncut record is read back at exactly the position its error named.
	l2 := open(t, dir, Options{})
	got = readAll(t, l2)
	if len(got) != 3 || string(got[0].Payload) != "A" || string(got[1].Payload) != "uncut" || string(got[2].Payload) != "C" {
		t.Fatalf("after a reopen, read %q, want A, uncut, C", payloads(got))
	}
	if got[1].Pos.Segment != ue.At.Segment || got[1].Pos.Offset != ue.At.Offset {
		t.Fatalf("the uncut record was read back at %s, its error said %s", got[1].Pos, ue.At)
	}
	if !l2.Holds(ue.At) {
		t.Fatalf("the reopened log does not hold the uncut record at %s", ue.At)
	}
	// A reopened log appends to a new segment, never after an earlier process's records.
	posD, err := l2.Append(ctx, []byte("D"))
	if err != nil {
		t.Fatal(err)
	}
	if posD.Segment <= posC.Segment {
		t.Fatalf("an append after a reopen went to segment %d, an earlier process wrote segment %d", posD.Segment, posC.Segment)
	}
}

// An uncut failed record that did not survive (here: cut by hand before the reopen) is not held
// after the reopen, and its position is not given to a later record.
func TestUncutPositionNeverReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir, Options{})
	failOps(l, "write", "truncate")
	_, err := l.Append(ctx, []byte("lost"))
	var ue *UncutError
	if !errors.As(err, &ue) {
		t.Fatalf("append with a failing write and cut-back: %v, want an *UncutError", err)
	}
	failOps(l)
	for i := 0; i < 3; i++ {
		pos, err := l.Append(ctx, []byte("lost")) // same size: would end at the same offset
		if err != nil {
			t.Fatal(err)
		}
		if pos.Segment == ue.At.Segment && pos.Offset == ue.At.Offset {
			t.Fatalf("record %d took the failed record's position %s", i, ue.At)
		}
	}
	l.Close()
	l2 := open(t, dir, Options{})
	if l2.Holds(ue.At) {
		t.Fatalf("after a reopen the log holds %s, where nothing was written", ue.At)
	}
	for i := 0; i < 3; i++ {
		pos, err := l2.Append(ctx, []byte("lost"))
		if err != nil {
			t.Fatal(err)
		}
		if pos.Segment == ue.At.Segment && pos.Offset == ue.At.Offset {
			t.Fatalf("after a reopen, record %d took the failed record's position %s", i, ue.At)
		}
	}
}

func payloads(rs []Record) [][]byte {
	var out [][]byte
	for _, r := range rs {
		out = append(out, bytes.Clone(r.Payload))
	}
	return out
}
