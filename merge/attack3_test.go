package merge

import "testing"

// TestAttack3NewestByTimeuuidSameTimestampOrderedUnlikeCassandra
// Scenario: newest-by on a timeuuid column "u". Both sides' rows carry timeuuids with the same
// 60-bit timestamp (two islands' application instances writing in the same millisecond: drivers
// mint time-based UUIDs as ms × 10000 per process) and different clock sequences: source u has
// clock-seq bytes 80 7f, destination u has 80 80.
// Promise broken (newest-by: "the version with the larger application column wins, ordered as its
// CQL type orders"): Cassandra's TimeUUIDType compares the low 8 bytes as SIGNED bytes on a timestamp
// tie ("this has to be a signed per-byte comparison for compatibility", TimeUUIDType.compareCustom,
// signedBytesToNativeLong), so 0x7f > 0x80 and the source's u is the larger; ValueOrder("timeuuid")
// breaks the tie with unsigned bytes.Compare (the rule of uuid, not timeuuid), keeps the
// destination's row and loses the newer one by Cassandra's order.
func TestAttack3NewestByTimeuuidSameTimestampOrderedUnlikeCassandra(t *testing.T) {
	r, err := New("newest-by", map[string]any{"column": "u"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = WithColumnTypes(r, map[string]string{"k": "int", "u": "timeuuid", "v": "text"}); err != nil {
		t.Fatal(err)
	}
	// Same time_low, time_mid, version 1 + time_hi; variant bits 10 in byte 8 on both.
	msb := []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x11, 0xde}
	su := string(append(append([]byte{}, msb...), 0x80, 0x7f, 1, 2, 3, 4, 5, 6))
	du := string(append(append([]byte{}, msb...), 0x80, 0x80, 1, 2, 3, 4, 5, 6))
	src := part(row("k", simple("u", c(su, 100)), simple("v", c("source", 100))))
	dst := part(row("k", simple("u", c(du, 200)), simple("v", c("destination", 200))))
	res, err := r.Resolve(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Write == nil || len(res.Write.Rows) != 1 {
		t.Fatalf("source u = %x is larger than destination u = %x by Cassandra's timeuuid order (same time, "+
			"signed low bytes 0x7f > 0x80), so newest-by must write the source row; it writes %+v, conflicts %+v",
			su, du, res.Write, res.Conflicts)
	}
}
