package merge

import "testing"

// TestAttack6DecideKeepSourceLosesKeyOnlyRowUnderNullOverride
// Scenario: a custom resolver (Decide) keeps the source's row ck=k, a key-only row (INSERT of the
// key alone: every column absent), which the destination lacks, and overrides column "v" with a
// null (the "latest of both sides" of a column absent on both). Decide writes nothing at all: the
// override of an absent column is rightly no write, but then endRow drops the empty row instead of
// writing the key-only row it stands for (replaceRowWith only appends *s as it is when ov == nil).
// Promise broken (Decide: "a kept source cell keeps its writetime …"; KeepSource: "the source's
// version of the row stands"): the source's row never reaches the destination, and verify (which
// resolves again and finds nothing to write) calls the partition clean. Without the override the
// same decision writes the row (shown below), so the override alone loses it.
func TestAttack6DecideKeepSourceLosesKeyOnlyRowUnderNullOverride(t *testing.T) {
	s := row("k", absent("v"), absent("w"))
	src := part(s)
	dst := part()                                          // the destination holds no row of the partition…
	dst.Rows = []Row{row("other", simple("w", c("x", 5)))} // …but another row, so it is read

	plain := Decide(src, dst, []RowDecision{{Source: &src.Rows[0], Keep: KeepSource}})
	if plain.Write == nil || len(plain.Write.Rows) != 1 {
		t.Fatalf("control: KeepSource without override should write the key-only row, wrote %+v", plain.Write)
	}
	res := Decide(src, dst, []RowDecision{{Source: &src.Rows[0], Keep: KeepSource, Column: "v", Value: Cell{}}})
	if res.Write == nil || len(res.Write.Rows) != 1 || !SameKey(res.Write.Rows[0].Clustering, s.Clustering) {
		t.Fatalf("KeepSource of a key-only source row the destination lacks, with a null override of a column "+
			"absent on both sides, must still write the row; Write = %+v", res.Write)
	}
}
