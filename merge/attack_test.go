package merge

import "testing"

// TestAttackDecideOverrideOfAbsentColumnWrittenAtOneMicrosecond
// Scenario: a custom resolver keeps the destination's row (a@100 in the source, a@200 in the
// destination) and sets column "b" — absent on both sides, e.g. the application set it to null at 150,
// leaving a tombstone a CQL read cannot show — to a new value through RowDecision.Column/Value.
// Promise broken (Decide, package doc "Timestamps"): "any other value is written above both
// versions" / "at max(input writetimes) + 1 µs, so it lands against both originals". With no
// version of the cell, bump(nil, nil) stamps it at writetime 1 µs (1970), below every real write
// and deletion of the row: Cassandra keeps the tombstone, the override never appears, and
// forklift's verify (resolve again: it would still write) reports it on every run — repair cannot
// fix a value it keeps writing below the destination's deletion.
func TestAttackDecideOverrideOfAbsentColumnWrittenAtOneMicrosecond(t *testing.T) {
	src := part(row("k", simple("a", c("a", 100)), absent("b")))
	dst := part(row("k", simple("a", c("b", 200)), absent("b")))
	res := Decide(src, dst, []RowDecision{{Source: &src.Rows[0], Destination: &dst.Rows[0], Keep: KeepDestination,
		Column: "b", Value: c("x", 300)}})
	if res.Write == nil || len(res.Write.Rows) != 1 {
		t.Fatalf("want one row written (the override), got %+v", res.Write)
	}
	var got *Column
	for i := range res.Write.Rows[0].Columns {
		if res.Write.Rows[0].Columns[i].Name == "b" {
			got = &res.Write.Rows[0].Columns[i]
		}
	}
	if got == nil {
		t.Fatalf("override not written: %+v", res.Write.Rows[0])
	}
	// Replay in the reference store: the destination as Cassandra holds it, with the null written at
	// 150 (a tombstone), then the Write.
	st := newStore(dst, dst.Key)
	st.apply(part(row("k", simple("b", Cell{Deleted: true, WriteTime: 150}))))
	st.apply(res.Write)
	rd := st.read()
	var seen *Column
	if rd != nil && len(rd.Rows) == 1 {
		seen = colOf(&rd.Rows[0], "b")
	}
	if seen == nil || !seen.Present || string(seen.Cell.Value) != "x" {
		t.Fatalf("override of an absent column written at writetime %d, below both row versions (100, 200) and the "+
			"destination's null at 150: the destination reads b=%+v, want \"x\"", got.Cell.WriteTime, seen)
	}
}
