package recordlog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// damage is what a crash or the disk did to the bytes after offset at.
type damage int

const (
	cut      damage = iota // the file ends at `at` (torn write)
	zeroFill               // bytes from `at` on read as zeros (size grew, data lost)
	flip                   // one bit flipped at `at`
	garbage                // bytes from `at` on are overwritten with junk
)

func (d damage) String() string { return [...]string{"cut", "zero", "flip", "garbage"}[d] }

// apply does d to the file at path from offset at; junk picks the bit flipped (junk%8) and the
// garbage (junk+offset).
func (d damage) apply(t testing.TB, path string, at int64, junk byte) {
	t.Helper()
	switch d {
	case cut:
		recordlogtest.Cut(t, path, at)
	case zeroFill:
		recordlogtest.ZeroFill(t, path, at)
	case flip:
		recordlogtest.FlipBit(t, path, at, uint(junk%8))
	case garbage:
		b := make([]byte, recordlogtest.Size(t, path)-at)
		for i := range b {
			b[i] = junk + byte(at+int64(i))
		}
		recordlogtest.Overwrite(t, path, at, b)
	}
}

// checkCrash builds a log whose first synced records were appended (and fsynced) through Append,
// adds the framed bytes of unsynced records the way a crash could leave them, damages the file at
// offset at, reopens it and checks the invariants:
//   - what is read is a prefix of synced ++ unsynced, in order, each record intact (nothing invented);
//   - every synced record that ends at or before the damage survives;
//   - after recovery, appends work and are read back after the survivors.
func checkCrash(t testing.TB, synced, unsynced [][]byte, at int64, d damage, junk byte) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for _, p := range synced {
		pos, err := l.Append(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, pos.Offset)
	}
	l.Close()
	seg := lastSeg(t, dir)
	var tail []byte
	for _, p := range unsynced {
		tail = appendRecord(tail, p)
	}
	recordlogtest.Append(t, seg, tail)
	if size := recordlogtest.Size(t, seg); at > size {
		at = size
	}
	d.apply(t, seg, at, junk)

	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after %s at %d: %v", d, at, err)
	}
	defer l.Close()
	got := readAll(t, l)
	all := append(append([][]byte{}, synced...), unsynced...)
	if len(got) > len(all) {
		t.Fatalf("%s at %d: read %d records, only %d were written", d, at, len(got), len(all))
	}
	for i, r := range got {
		if !bytes.Equal(r.Payload, all[i]) {
			t.Fatalf("%s at %d: record %d is %q, want %q (invented or reordered)", d, at, i, r.Payload, all[i])
		}
	}
	for i, end := range ends {
		if end <= at && i >= len(got) {
			t.Fatalf("%s at %d: synced record %d (ending at %d) lost; read %d", d, at, i, end, len(got))
		}
	}
	if _, err := l.Append(context.Background(), []byte("after")); err != nil {
		t.Fatalf("%s at %d: append after recovery: %v", d, at, err)
	}
	more := readAll(t, l)
	if len(more) != 1 || string(more[0].Payload) != "after" {
		t.Fatalf("%s at %d: after recovery read %d records", d, at, len(more))
	}
}

// TestCrashAtEveryOffset cuts or corrupts the log at every byte offset of its last records.
func TestCrashAtEveryOffset(t *testing.T) {
	synced := [][]byte{[]byte("alpha"), {}, bytes.Repeat([]byte{0}, 20), []byte("delta-delta")}
	unsynced := [][]byte{[]byte("epsilon"), bytes.Repeat([]byte{0xA1}, 13)}
	var size int64
	for _, p := range append(append([][]byte{}, synced...), unsynced...) {
		size += int64(headerSize + len(p))
	}
	from := int64(headerSize + len(synced[0])) // the last records: all but the first
	step := int64(1)
	if testing.Short() {
		step = 3
	}
	for _, d := range []damage{cut, zeroFill, flip, garbage} {
		for at := from; at <= size; at += step {
			checkCrash(t, synced, unsynced, at, d, byte(at*7+1))
		}
	}
}

// FuzzCrash lets the fuzzer choose the records, the damage and where it lands (make fuzz).
func FuzzCrash(f *testing.F) {
	f.Add([]byte("abc"), []byte(""), []byte("unsynced"), uint16(20), uint8(0), byte(1))
	f.Add([]byte{}, []byte{0, 0, 0}, []byte{}, uint16(0), uint8(1), byte(0))
	f.Add([]byte("x"), []byte("yy"), []byte("zzz"), uint16(30), uint8(2), byte(5))
	f.Fuzz(func(t *testing.T, a, b, u []byte, at uint16, d uint8, junk byte) {
		checkCrash(t, [][]byte{a, b}, [][]byte{u}, int64(at), damage(d%4), junk)
	})
}

func ExampleLog() {
	dir, _ := os.MkdirTemp("", "recordlog")
	defer os.RemoveAll(dir)
	l, _ := Open(dir, Options{})
	defer l.Close()
	l.Append(context.Background(), []byte("one"))
	l.Append(context.Background(), []byte("two"))
	recs, _ := l.Read(10)
	for _, r := range recs {
		fmt.Println(string(r.Payload))
	}
	l.Commit(recs[len(recs)-1].Pos) // consumed: gone after the next Open
	// Output:
	// one
	// two
}
