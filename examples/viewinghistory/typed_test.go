package viewinghistory_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/globalcloud/islands/examples/viewinghistory"
	"github.com/globalcloud/islands/merge"
)

// Bound to the table's schema (forklift binds it), the rule orders positions and times by their
// columns' types, not by their lengths: an 8-byte text time "été 9p" is later than "10:00 am"
// as text even though, read as a signed integer, it is negative.
func TestViewingHistoryOrdersByColumnType(t *testing.T) {
	r, err := merge.New(viewinghistory.Name, map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 1})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = merge.WithColumnTypes(r, map[string]string{"title": "text", "position": "int", "watched_at": "text"}); err != nil {
		t.Fatal(err)
	}
	i32 := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	row := func(title string, pos int32, at string, wt int64) merge.Row {
		return merge.Row{Clustering: [][]byte{[]byte(title)}, Columns: []merge.Column{
			{Name: "position", Present: true, Cell: merge.Cell{Value: i32(pos), WriteTime: wt}},
			{Name: "watched_at", Present: true, Cell: merge.Cell{Value: []byte(at), WriteTime: wt}}}}
	}
	// Two titles, cap 1: the one watched last stays. "\xc3\xa9t\xc3\xa9 9p" (été 9p, 8 bytes) > "10:00 am" as text.
	src := &merge.Partition{Key: [][]byte{[]byte("m")}, Rows: []merge.Row{row("a", 10, "\xc3\xa9t\xc3\xa9 9p", 5)}}
	dst := &merge.Partition{Key: [][]byte{[]byte("m")}, Rows: []merge.Row{row("b", 10, "10:00 am", 5)}}
	res, err := r.Resolve(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	if res.Write != nil {
		for _, w := range res.Write.Rows {
			kept[string(w.Clustering[0])] = !w.Deleted
		}
	}
	if !kept["a"] {
		t.Fatalf("title a, watched at the later time (as text), must stand and b go: wrote %+v", res.Write)
	}
	// A position -1 (int, 4 bytes) is below 5, not above it as bytes.
	src = &merge.Partition{Key: [][]byte{[]byte("m")}, Rows: []merge.Row{row("a", -1, "x", 9)}}
	dst = &merge.Partition{Key: [][]byte{[]byte("m")}, Rows: []merge.Row{row("a", 5, "x", 1)}}
	if res, err = r.Resolve(src, dst); err != nil || res.Write != nil {
		t.Fatalf("position -1 (source) against 5 (destination): the destination stands, wrote %+v (%v)", res.Write, err)
	}
	if _, err := merge.WithColumnTypes(r, map[string]string{"position": "int"}); !errors.Is(err, merge.ErrMissingColumn) {
		t.Fatalf("binding without the time column: %v, want ErrMissingColumn", err)
	}
}
