package forklift

import (
	"testing"

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
