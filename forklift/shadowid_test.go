package forklift

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// TestPropertiesShadowRecordsNameExactCells is model-based: a repair records the differences left
// between a source S0 and a destination D0 (one row with a set and a map column, each absent or
// holding random elements), then both sides change at random (elements kept, dropped, rewritten or
// new) and verify runs with those records. Model: an element cell of the source that the
// destination lacks, or holds at a version it would lose to (merge.Reconcile), is a difference; it
// is shadowed exactly when the same column recorded that very cell (element, value, writetime),
// and otherwise verify must count it as missing or mismatched.
func TestPropertiesShadowRecordsNameExactCells(t *testing.T) {
	tb := testTable(t, "lww", nil,
		cql.Column{Name: "tags", Type: "set<text>", Kind: "regular", Shape: cql.MultiSet},
		cql.Column{Name: "attrs", Type: "map<text, text>", Kind: "regular", Shape: cql.MultiMap})
	kinds := []merge.Kind{merge.Set, merge.Map}
	names := []string{"tags", "attrs"}
	keys := []string{"x", "y", "z"}
	vals := []string{"", "a", "b"}
	rng := rand.New(rand.NewSource(5))
	fresh := func(k merge.Kind, key string) merge.Elem {
		v := []byte{}
		if k == merge.Map {
			v = []byte(vals[rng.Intn(len(vals))])
		}
		return merge.Elem{Key: []byte(key), Cell: merge.Cell{Value: v, WriteTime: int64(1 + rng.Intn(4))}}
	}
	// gen draws a side's columns; from (when not nil) is an earlier version each element may keep.
	gen := func(from [][]merge.Elem) [][]merge.Elem {
		out := make([][]merge.Elem, len(kinds))
		for ci, k := range kinds {
			for _, key := range keys {
				var old *merge.Elem
				if from != nil {
					for i := range from[ci] {
						if string(from[ci][i].Key) == key {
							old = &from[ci][i]
						}
					}
				}
				switch {
				case old != nil && rng.Intn(3) > 0:
					out[ci] = append(out[ci], *old)
				case rng.Intn(2) == 0:
					out[ci] = append(out[ci], fresh(k, key))
				}
			}
		}
		return out
	}
	partOf := func(cols [][]merge.Elem) *merge.Partition {
		row := merge.Row{Clustering: [][]byte{{0, 0, 0, 1}}}
		for ci, k := range kinds {
			row.Columns = append(row.Columns, merge.Column{Name: names[ci], Kind: k, Present: len(cols[ci]) > 0, Elems: cols[ci]})
		}
		return &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}, Rows: []merge.Row{row}}
	}
	// diffs is the model: the source element cells verify must not call equal, per column.
	diffs := func(s, d [][]merge.Elem) [][]merge.Elem {
		out := make([][]merge.Elem, len(kinds))
		for ci := range kinds {
			for _, e := range s[ci] {
				var de *merge.Elem
				for i := range d[ci] {
					if bytes.Equal(d[ci][i].Key, e.Key) {
						de = &d[ci][i]
					}
				}
				if de == nil || !merge.SameVersion(e.Cell, de.Cell) && merge.SameVersion(merge.Reconcile(e.Cell, de.Cell), e.Cell) {
					out[ci] = append(out[ci], e)
				}
			}
		}
		return out
	}
	exact := func(e merge.Elem) string { return fmt.Sprintf("%x=%x@%d", e.Key, e.Cell.Value, e.Cell.WriteTime) }
	for run := 0; run < 3000; run++ {
		s0, d0 := gen(nil), gen(nil)
		rec := counts{collect: true}
		if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{partOf(s0)}}, &sliceSource{parts: []*merge.Partition{partOf(d0)}}, &rec); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, d := range rec.found {
			ids[d.id()] = true
		}
		recorded := map[string]bool{}
		for ci, es := range diffs(s0, d0) {
			for _, e := range es {
				recorded[names[ci]+"\x00"+exact(e)] = true
			}
		}
		s1, d1 := gen(s0), gen(d0)
		var wantOpen, wantShadowed int64
		for ci, es := range diffs(s1, d1) {
			for _, e := range es {
				if recorded[names[ci]+"\x00"+exact(e)] {
					wantShadowed++
				} else {
					wantOpen++
				}
			}
		}
		c := counts{shadowed: ids}
		if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{partOf(s1)}}, &sliceSource{parts: []*merge.Partition{partOf(d1)}}, &c); err != nil {
			t.Fatal(err)
		}
		if c.missing+c.mismatched != wantOpen || c.nshadowed != wantShadowed {
			t.Fatalf("run %d: verify counts %d open and %d shadowed differences, the model %d and %d\nS0 %v\nD0 %v\nS1 %v\nD1 %v\nrecords %q",
				run, c.missing+c.mismatched, c.nshadowed, wantOpen, wantShadowed, s0, d0, s1, d1, attackKeys(ids))
		}
	}
}
