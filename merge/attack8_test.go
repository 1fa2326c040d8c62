package merge

import "testing"

// TestAttack8DecideKeepSourceNullOverrideLeavesNoRowWhereDestinationHeldOne
// Scenario: a custom resolver (Decide) keeps the source's row ck=k (KeepSource), which holds only
// v = "x"@2, and overrides v with a null (a scrub). The version that stands is therefore the
// source's row with no value: a key-only row. The destination holds ck=k too, written by UPDATE
// only (no row marker): v = "y"@1, w = "z"@1. Decide deletes v and w but sets no Row.Marker
// (replaceRowWith sets it only when the source row itself is key-only), so applied in Cassandra the
// row is gone. Where the destination lacked ck=k, the very same decision writes the key-only row
// (the control below, attack6's fix): the decided outcome is "the row exists". Resolving again over
// what the write left (no row ck=k) now writes that key-only row: the decision is not idempotent, a
// copy leaves the row missing and only a later verify + repair brings it.
// Promise broken: Decide "brings the destination there … a kept source row the destination lacks is
// always written (a key-only row where the override leaves no cell to write)"; Row.Marker "the
// version that stands is a key-only row, while the destination's row holds cells the Write deletes
// and may have no marker at all (a row written by UPDATE only)": the writer must write the marker.
func TestAttack8DecideKeepSourceNullOverrideLeavesNoRowWhereDestinationHeldOne(t *testing.T) {
	s := row("k", simple("v", c("x", 2)), absent("w"))
	src := part(s)
	decide := func(dst *Partition) Resolution {
		var d *Row
		for i := range dst.Rows {
			if SameKey(dst.Rows[i].Clustering, s.Clustering) {
				d = &dst.Rows[i]
			}
		}
		return Decide(src, dst, []RowDecision{{Source: &src.Rows[0], Destination: d, Keep: KeepSource, Column: "v", Value: Cell{}}})
	}
	// Control: the destination lacks ck=k (it holds another row): the decision writes the key-only row.
	other := part(row("other", absent("v"), simple("w", c("q", 5))))
	ctl := decide(other)
	if ctl.Write == nil || len(ctl.Write.Rows) != 1 || !SameKey(ctl.Write.Rows[0].Clustering, s.Clustering) {
		t.Fatalf("control: the kept source row must be written where the destination lacks it; Write = %s", dump(ctl.Write))
	}

	dst := part(row("k", simple("v", c("y", 1)), simple("w", c("z", 1)))) // UPDATE-only: no marker
	res := decide(dst)
	if res.Write == nil || len(res.Write.Rows) != 1 {
		t.Fatalf("expected one row written, got %s", dump(res.Write))
	}
	wr := res.Write.Rows[0]
	live := false
	for _, col := range wr.Columns {
		if col.Present && col.Kind == Simple && !col.Cell.Deleted && col.Cell.Value != nil {
			live = true
		}
	}
	if !live && !wr.Marker && !wr.Deleted {
		// Applied: v and w deleted, no marker written; the destination's row had none: ck=k is gone.
		again := decide(part())
		t.Fatalf("the Write deletes every cell of the destination's row ck=k and writes no marker (Row.Marker=false), "+
			"so a destination row written by UPDATE only disappears; resolving again over that result writes %s "+
			"(the key-only row the decision stands for): not idempotent. Write = %s", dump(again.Write), dump(res.Write))
	}
}
