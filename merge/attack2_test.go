package merge

import "testing"

// TestAttack2NewestByEightByteTextComparedAsSignedInteger
// Scenario: newest-by on a text column "u". Source row u = "éaaaaaa" (8 UTF-8 bytes, first byte
// 0xC3), destination row u = "zzzzzzzz" (8 bytes). As bytes, the source's value is the larger.
// Promise broken (newest-by doc, compareValues): "bigint and timestamp as signed integers, anything
// else as bytes (unsigned, lexicographic), which orders text … correctly". compareValues treats any
// two 8-byte values as signed int64, so text (or blob, varint, double …) values of 8 bytes whose first
// byte is ≥ 0x80 compare as negative: the destination's row is kept and the newer source row lost.
func TestAttack2NewestByEightByteTextComparedAsSignedInteger(t *testing.T) {
	r, err := New("newest-by", map[string]any{"column": "u"})
	if err != nil {
		t.Fatal(err)
	}
	// The comparer is given the column's type, as forklift does from the table's schema.
	if r, err = WithColumnTypes(r, map[string]string{"k": "text", "u": "text", "v": "text"}); err != nil {
		t.Fatal(err)
	}
	sv, dv := "éaaaaaa", "zzzzzzzz"
	if len(sv) != 8 || len(dv) != 8 || !(sv > dv) {
		t.Fatalf("setup: %d %d", len(sv), len(dv))
	}
	src := part(row("k", simple("u", c(sv, 100)), simple("v", c("new", 100))))
	dst := part(row("k", simple("u", c(dv, 200)), simple("v", c("old", 200))))
	res, err := r.Resolve(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Write == nil || len(res.Write.Rows) != 1 {
		t.Fatalf("u=%q (source) is larger as bytes than u=%q (destination): newest-by must write the source row, "+
			"but writes %+v (conflicts %+v): 8-byte text compared as a signed int64", sv, dv, res.Write, res.Conflicts)
	}
}
