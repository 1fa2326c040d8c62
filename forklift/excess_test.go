package forklift

import (
	"math/rand/v2"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// TestExcessDifferencesAreNeverShadowable: under prefer-source, whatever the destination holds
// that the source lacks (a whole row, a cell, a map entry, a whole collection) is a deletion still to
// do; verify reports it, and it never gets a shadow id, so no repair can record it as shadowed (only a
// source cell hidden by a newer destination deletion can be), while a source cell the destination
// lacks keeps an id naming its version.
func TestExcessDifferencesAreNeverShadowable(t *testing.T) {
	tb := testTable(t, "prefer-source", nil, modelCols...)
	ck := func(i byte) [][]byte { return [][]byte{{0, 0, 0, i}} }
	col := func(name string, c merge.Cell) merge.Column {
		return merge.Column{Name: name, Kind: merge.Simple, Present: true, Cell: c}
	}
	elems := func(name string, es ...merge.Elem) merge.Column {
		return merge.Column{Name: name, Kind: merge.Map, Present: true, Elems: es}
	}
	src := &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{
		{Clustering: ck(1), Columns: []merge.Column{col("v", merge.Cell{Value: []byte("a"), WriteTime: 5})}},
		{Clustering: ck(2), Columns: []merge.Column{elems("m", merge.Elem{Key: []byte("k"), Cell: merge.Cell{Value: []byte("x"), WriteTime: 5}})}},
	}}
	dst := &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{
		// v is missing (a source cell: shadowable), w is destination-only (excess).
		{Clustering: ck(1), Columns: []merge.Column{col("w", merge.Cell{Value: []byte{0, 0, 0, 0, 0, 0, 0, 7}, WriteTime: 3})}},
		// the map holds an entry the source lacks, and a destination-only collection l.
		{Clustering: ck(2), Columns: []merge.Column{
			elems("m", merge.Elem{Key: []byte("k"), Cell: merge.Cell{Value: []byte("x"), WriteTime: 5}},
				merge.Elem{Key: []byte("z"), Cell: merge.Cell{Value: []byte("y"), WriteTime: 4}}),
			{Name: "l", Kind: merge.List, Present: true, Elems: []merge.Elem{{Key: []byte{1}, Cell: merge.Cell{Value: []byte("e"), WriteTime: 2}}}},
		}},
		// a destination-only row.
		{Clustering: ck(3), Columns: []merge.Column{col("v", merge.Cell{Value: []byte("d"), WriteTime: 2})}},
	}}
	c := &counts{collect: true, shadowed: map[string]bool{}}
	if err := comparePartition(tb, src, dst, c); err != nil {
		t.Fatal(err)
	}
	var shadowable, excess int
	for _, d := range c.found {
		if d.Column == "v" && d.Clustering == "1" {
			if d.id() == "" {
				t.Errorf("the missing source cell %+v has no shadow id", d)
			}
			shadowable++
			continue
		}
		if d.id() != "" {
			t.Errorf("difference %+v (the destination holds too much) has shadow id %q", d, d.id())
		}
		excess++
	}
	if shadowable != 1 || excess < 4 {
		t.Fatalf("found %d shadowable and %d excess differences, want 1 and ≥4: %+v", shadowable, excess, c.found)
	}
}

// TestModelRepairNeverShadowsSurvivingRows is model-based: random source and destination tables
// under prefer-source, the destination's rows re-inserted key-only at random timestamps, some ahead
// of forklift's clock (a marker a row deletion at the read instant cannot remove), then a repair
// (copy, verify collecting what remains, record it as shadowed, verify again). Invariant: while the
// destination holds a row the source lacks in a partition the source holds, verify is never clean.
func TestModelRepairNeverShadowsSurvivingRows(t *testing.T) {
	tb := testTable(t, "prefer-source", nil, modelCols...)
	rng := rand.New(rand.NewPCG(43, 9))
	ahead := int64(2_000_000_000) // copyModel's clock is 1e9 µs
	survived := 0
	for run := range 400 {
		src, dst := newModelDB(), newModelDB()
		fillModel(rng, src, t, tb, []int{0, 1, 2, 3}[:1+rng.IntN(4)])
		fillModel(rng, dst, t, tb, []int{1, 2, 4}[:rng.IntN(4)])
		for _, pk := range []int{1, 2, 3, 4} {
			for range rng.IntN(3) {
				ts := int64(1 + rng.IntN(12))
				if rng.IntN(3) == 0 {
					ts = ahead + int64(rng.IntN(5))
				}
				dst.apply(t, stmt{text: `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`,
					args: []any{cql.Raw(be32(pk)), cql.Raw(be32(rng.IntN(5))), ts, 0}})
			}
		}
		copyModel(t, tb, src, dst)
		clean, c, ids := repairModel(t, tb, src, dst)
		extra := false
		for _, k := range src.keys() {
			sp, dp := src.read(t, tb, k), dst.read(t, tb, k)
			if sp != nil && rowKeys(dp) != rowKeys(sp) {
				extra = true
			}
		}
		if extra {
			survived++
		}
		if extra && clean {
			t.Fatalf("run %d: the destination still holds rows the source lacks, yet verify after the repair is clean (recorded %q): %+v",
				run, keysOf(ids), c)
		}
	}
	if survived == 0 {
		t.Fatal("no run left a surviving destination-only row: the test proves nothing")
	}
}
