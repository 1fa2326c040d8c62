package forklift

import (
	"math/rand/v2"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// TestAttack4VerifyRendersRegularColumnByAStaticColumnsType
// Scenario: lww table with a static column before the regular ones (the model's layout: l, m,
// s static text, st static set<text>, v text, w bigint); the destination's row lacks w = 7.
// The reader keeps only the regular columns in a regular row (splitStatic), but comparePartition
// takes the type as t.cols[ci] with ci the index in that row, so w (index 3 in the row) is rendered
// with st's type set<text>: "0x0000000000000007 @3" instead of "7 @3", and v by s's type.
// Promise broken: a Difference names the source's cell (its value as the column's type renders it,
// codec.Format); the report tells the operator a wrong value for every regular column after a static.
func TestAttack4VerifyRendersRegularColumnByAStaticColumnsType(t *testing.T) {
	tb := testTable(t, "lww", nil, modelCols...)
	ck := [][]byte{be32(1)}
	src := &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: ck, Columns: []merge.Column{
		{Name: "l", Kind: merge.List}, {Name: "m", Kind: merge.Map},
		{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte("x"), WriteTime: 3}},
		{Name: "w", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: i64b(7), WriteTime: 3}},
	}}}}
	dst := &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: ck, Columns: []merge.Column{
		{Name: "l", Kind: merge.List}, {Name: "m", Kind: merge.Map},
		{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte("x"), WriteTime: 3}},
		{Name: "w", Kind: merge.Simple},
	}}}}
	c := counts{collect: true}
	if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{src}}, &sliceSource{parts: []*merge.Partition{dst}}, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.found) != 1 {
		t.Fatalf("want one difference (w missing), got %+v", c.found)
	}
	if d := c.found[0]; d.Column != "w" || d.Source != "7 @3" {
		t.Fatalf("w is a bigint 7 at writetime 3; verify reports it as %q (column %q): rendered by another column's type", d.Source, d.Column)
	}
}

// TestAttack4PreferSourceLeavesDestinationOnlyRowWithNewerMarker
// Scenario: prefer-source; the destination's partition holds a row the source lacks, written
// INSERT (pk, ck, v) @5 then re-inserted key-only INSERT (pk, ck) @9 (its marker newer than its
// readable cells). The source's partition holds another row. The copy deletes the row at
// max(readable writetimes) + 1 = 6, below its marker @9, so the row survives as a row of nulls.
// Promise broken: prefer-source "destination-only cells and rows are deleted" (merge.Row.Deleted:
// "the writer deletes the row itself (row marker included)"); Cassandra still returns the row.
func TestAttack4PreferSourceLeavesDestinationOnlyRowWithNewerMarker(t *testing.T) {
	tb := testTable(t, "prefer-source", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	run(src, `INSERT INTO "ks"."t" ("pk", "ck", "v") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(2)), cql.Raw("s"), int64(5), 0)
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck", "v") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(1)), cql.Raw("d"), int64(5), 0)
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(1)), int64(9), 0)
	copyModel(t, tb, src, dst)
	p := dst.read(t, tb, string(be32(1)))
	for _, r := range p.Rows {
		if merge.SameKey(r.Clustering, [][]byte{be32(1)}) {
			t.Fatalf("prefer-source must delete the destination-only row ck=1; after the copy the destination still returns it: %+v", r)
		}
	}
}

// TestModelPreferSourceDeletesRowsWhateverTheirMarkers: random tables whose destination rows are
// also re-inserted key-only (INSERT (pk, ck)) at random timestamps, so a row's marker may be
// newer or older than every cell a read shows, or the row may hold only a marker. One
// prefer-source copy leaves every partition the source holds with exactly the source's rows (no
// row of nulls left by a marker above the deletion), verify is clean, and a second copy sends
// nothing. (No deletions in the destination here: a source cell a newer, unreadable destination
// tombstone shadows is the documented limit of every copy, TestModelRepairProvesShadows.)
func TestModelPreferSourceDeletesRowsWhateverTheirMarkers(t *testing.T) {
	tb := testTable(t, "prefer-source", nil, modelCols...)
	rng := rand.New(rand.NewPCG(41, 7))
	for run := range 600 {
		src, dst := newModelDB(), newModelDB()
		fillModel(rng, src, t, tb, []int{0, 1, 2, 3}[:1+rng.IntN(4)])
		fillModel(rng, dst, t, tb, []int{1, 2, 4}[:rng.IntN(4)])
		for _, pk := range []int{1, 2, 3, 4} {
			for range rng.IntN(3) {
				dst.apply(t, stmt{text: `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`,
					args: []any{cql.Raw(be32(pk)), cql.Raw(be32(rng.IntN(5))), int64(1 + rng.IntN(12)), []int{0, 100}[rng.IntN(2)]}})
			}
		}
		copyModel(t, tb, src, dst)
		for _, k := range src.keys() {
			sp, dp := src.read(t, tb, k), dst.read(t, tb, k)
			if sp == nil {
				continue
			}
			if got, want := rowKeys(dp), rowKeys(sp); got != want {
				t.Fatalf("run %d: after one copy partition %x holds rows %s, the source %s", run, k, got, want)
			}
		}
		if clean, c := verifyModel(t, tb, src, dst); !clean {
			t.Fatalf("run %d: verify after the copy: %+v", run, c)
		}
		if again := copyModel(t, tb, src, dst); again != 0 {
			t.Fatalf("run %d: a second copy sent %d statements", run, again)
		}
	}
}
