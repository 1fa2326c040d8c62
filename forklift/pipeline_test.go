package forklift

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/merge"
)

// The reader fills the next page while the writer works on the one before: a writer that waits
// for the reader to have started the next page finishes only if the copy is pipelined.
func TestPipelineReadsAheadWhileWriting(t *testing.T) {
	reading2 := make(chan struct{})
	read := func(ctx context.Context, emit func(page) error) error {
		if err := emit(page{last: 1}); err != nil {
			return err
		}
		close(reading2) // reading page 2 now
		return emit(page{last: 2})
	}
	var written []int64
	write := func(p page) error {
		if p.last == 1 {
			select {
			case <-reading2:
			case <-time.After(2 * time.Second):
				return errors.New("page 2 was not read while page 1 was being written")
			}
		}
		written = append(written, p.last)
		return nil
	}
	if err := pipeline(context.Background(), read, write); err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || written[0] != 1 || written[1] != 2 {
		t.Fatalf("written %v, want [1 2]", written)
	}
}

// Memory stays bounded: the reader is never more than one page ahead of the writer, and the
// writer sees every page once, in order.
func TestPipelineBoundedAndInOrder(t *testing.T) {
	const n = 200
	var emitted, written atomic.Int64
	read := func(ctx context.Context, emit func(page) error) error {
		for i := int64(1); i <= n; i++ {
			if err := emit(page{last: i}); err != nil {
				return err
			}
			if ahead := emitted.Add(1) - written.Load(); ahead > 1 {
				t.Errorf("after emitting page %d the reader is %d pages ahead of the writer", i, ahead)
			}
		}
		return nil
	}
	write := func(p page) error {
		if want := written.Load() + 1; p.last != want {
			t.Errorf("wrote page %d, want %d", p.last, want)
		}
		time.Sleep(50 * time.Microsecond)
		written.Add(1)
		return nil
	}
	if err := pipeline(context.Background(), read, write); err != nil {
		t.Fatal(err)
	}
	if written.Load() != n {
		t.Fatalf("wrote %d pages of %d", written.Load(), n)
	}
}

// A failed write stops the reader and nothing after the failed page is written; the error is the
// write's.
func TestPipelineWriteFailureStopsReading(t *testing.T) {
	boom := errors.New("write timeout")
	var emitted atomic.Int64
	read := func(ctx context.Context, emit func(page) error) error {
		for i := int64(1); ; i++ {
			if err := emit(page{last: i}); err != nil {
				return err
			}
			emitted.Add(1)
		}
	}
	var saved int64
	write := func(p page) error {
		if p.last == 3 {
			return boom
		}
		if p.last > 3 {
			t.Errorf("page %d written after page 3 failed", p.last)
		}
		saved = p.last
		return nil
	}
	if err := pipeline(context.Background(), read, write); !errors.Is(err, boom) {
		t.Fatalf("pipeline = %v, want the write's error", err)
	}
	if saved != 2 {
		t.Fatalf("last page saved %d, want 2: only tokens whose partitions are all written", saved)
	}
	if e := emitted.Load(); e > 4 {
		t.Fatalf("the reader went on to emit %d pages after the write failed", e)
	}
}

// A failed read still writes (and so checkpoints) every page read before it.
func TestPipelineReadFailureKeepsPagesRead(t *testing.T) {
	boom := errors.New("read timeout")
	read := func(ctx context.Context, emit func(page) error) error {
		for i := int64(1); i <= 3; i++ {
			if err := emit(page{last: i}); err != nil {
				return err
			}
		}
		return boom
	}
	var saved int64
	write := func(p page) error {
		time.Sleep(time.Millisecond)
		saved = p.last
		return nil
	}
	if err := pipeline(context.Background(), read, write); !errors.Is(err, boom) {
		t.Fatalf("pipeline = %v, want the read's error", err)
	}
	if saved != 3 {
		t.Fatalf("last page saved %d, want 3", saved)
	}
}

// A page that waited before being written has its TTLs aged by the wait: the copy expires when the
// source does; what expired meanwhile is not written, and a row left with nothing goes too.
func TestAgeTTLs(t *testing.T) {
	cell := func(ttl int32) merge.Cell { return merge.Cell{Value: []byte{1}, WriteTime: 1, TTL: ttl} }
	p := &merge.Partition{Key: [][]byte{{1}}, Rows: []merge.Row{
		{Clustering: [][]byte{{1}}, Columns: []merge.Column{
			{Name: "a", Kind: merge.Simple, Present: true, Cell: cell(100)},
			{Name: "b", Kind: merge.Simple, Present: true, Cell: cell(0)},
			{Name: "c", Kind: merge.Simple, Present: true, Cell: cell(2)},
			{Name: "s", Kind: merge.Set, Present: true, Elems: []merge.Elem{{Key: []byte{1}, Cell: cell(2)}, {Key: []byte{2}, Cell: cell(50)}}},
		}},
		{Clustering: [][]byte{{2}}, Columns: []merge.Column{{Name: "a", Kind: merge.Simple, Present: true, Cell: cell(3)}}},
		{Clustering: [][]byte{{3}}, Columns: []merge.Column{{Name: "a", Kind: merge.Simple}}}, // key-only
	}}
	ageTTLs(p, 3)
	// An expired cell is what Cassandra holds in its place, a tombstone at its writetime: it stays,
	// to be written as a deletion (TestAttack8CopyLeavesOverwrittenValueWhenSourceCellExpiresBeforeWrite).
	isTomb := func(c merge.Cell) bool { return c.Deleted && c.WriteTime == 1 && c.Value == nil && c.TTL == 0 }
	if len(p.Rows) != 3 {
		t.Fatalf("%d rows left, want 3: a row whose only cell expired holds its tombstone, the key-only row stays", len(p.Rows))
	}
	r := p.Rows[0].Columns
	if r[0].Cell.TTL != 97 || r[1].Cell.TTL != 0 || !r[1].Present || !r[2].Present || !isTomb(r[2].Cell) {
		t.Fatalf("simple cells after 3 s: %+v", r[:3])
	}
	if len(r[3].Elems) != 2 || !isTomb(r[3].Elems[0].Cell) || r[3].Elems[1].Cell.TTL != 47 {
		t.Fatalf("set after 3 s: %+v", r[3].Elems)
	}
	if c := p.Rows[1].Columns[0]; !c.Present || !isTomb(c.Cell) {
		t.Fatalf("row 2's expired only cell: %+v, want its tombstone", c)
	}
	if !merge.SameKey(p.Rows[2].Clustering, [][]byte{{3}}) {
		t.Fatalf("third row left is %x, want the key-only row", p.Rows[2].Clustering)
	}
	l := &merge.Partition{Key: [][]byte{{1}}, Rows: []merge.Row{{Clustering: [][]byte{{1}}, Columns: []merge.Column{
		{Name: "l", Kind: merge.List, Present: true, Elems: []merge.Elem{{Key: []byte{1}, Cell: cell(2)}}}}}}}
	ageTTLs(l, 3)
	if len(l.Rows) != 0 {
		t.Fatalf("a row whose only list expired whole: %+v, want it gone (lists are written whole; no marker to write)", l.Rows)
	}
}
