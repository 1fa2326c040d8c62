package forklift

import (
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// attackSetTable is a table with one non-frozen set<text> column "tags" (pk int, ck int).
func attackSetTable(t *testing.T) *table {
	return testTable(t, "lww", nil, cql.Column{Name: "tags", Type: "set<text>", Kind: "regular", Shape: cql.MultiSet})
}

func attackSetPart(elems ...merge.Elem) *merge.Partition {
	col := merge.Column{Name: "tags", Kind: merge.Set, Present: len(elems) > 0, Elems: elems}
	return &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}, Rows: []merge.Row{{Clustering: [][]byte{{0, 0, 0, 1}}, Columns: []merge.Column{col}}}}
}

func attackElem(k string, wt int64) merge.Elem {
	return merge.Elem{Key: []byte(k), Cell: merge.Cell{Value: []byte{}, WriteTime: wt}}
}

// attackRecordShadowed is what Repair does after its re-copy: verify collecting what remains and
// record every remaining difference's id as shadowed.
func attackRecordShadowed(t *testing.T, tb *table, src, dst *merge.Partition) map[string]bool {
	c := counts{collect: true}
	if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{src}}, &sliceSource{parts: []*merge.Partition{dst}}, &c); err != nil {
		t.Fatal(err)
	}
	if c.missing != 1 || len(c.found) != 1 {
		t.Fatalf("setup: want exactly one missing cell after the repair, got %+v", c)
	}
	return map[string]bool{c.found[0].id(): true}
}

func attackVerifyWith(t *testing.T, tb *table, src, dst *merge.Partition, shadowed map[string]bool) counts {
	c := counts{shadowed: shadowed}
	if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{src}}, &sliceSource{parts: []*merge.Partition{dst}}, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAttackShadowRecordHidesAnotherSetElement
// Scenario: the source wrote tags = {a, b, c} in one statement at writetime 10; the destination
// deleted element a at 20 (invisible to reads), so after a repair a is still missing and Repair records
// it as shadowed. Later element b is lost in the destination (a repair with the source's timestamps
// would bring it back: nothing shadows it). Verify must report b missing.
// Promise broken: "Verify never says clean when the destination differs" and shadow.go's "the record
// names its value and writetime", "a changed source cell is compared afresh": a set element's
// shadow id is key+row+column+"0x @10" — the element itself is not in it (Format of a set element's
// empty Value), so the record for a covers every element of the column written at the same
// writetime, and verify counts b as superseded/shadowed and says clean.
func TestAttackShadowRecordHidesAnotherSetElement(t *testing.T) {
	tb := attackSetTable(t)
	src := attackSetPart(attackElem("a", 10), attackElem("b", 10), attackElem("c", 10))
	afterRepair := attackSetPart(attackElem("b", 10), attackElem("c", 10)) // a shadowed by a newer element deletion
	ids := attackRecordShadowed(t, tb, src, afterRepair)

	lost := attackSetPart(attackElem("c", 10)) // b lost later: a real, repairable difference
	c := attackVerifyWith(t, tb, src, lost, ids)
	if c.missing+c.mismatched == 0 {
		t.Fatalf("verify says clean while element b (not shadowed, repairable) is missing from the destination; shadow ids %q; counts %+v", attackKeys(ids), c)
	}
}

// TestAttackShadowRecordHidesNewerCollectionContents
// Scenario: the destination deleted the whole tags collection at 20; the source's tags {a@10} stays
// missing after a repair and is recorded shadowed. The source application then adds z at 30 (newer
// than the deletion), and the destination does not have it (not copied yet / lost). A repair would
// bring z back (30 > 20), so the destination differs.
// Promise broken: "Verify never says clean when the destination differs" / "a changed source cell is
// compared afresh": a collection column absent in the destination is reported with the source's
// zero Cell ("null @0" — not its contents), so its shadow id matches whatever the column later holds.
func TestAttackShadowRecordHidesNewerCollectionContents(t *testing.T) {
	tb := attackSetTable(t)
	src := attackSetPart(attackElem("a", 10))
	afterRepair := attackSetPart() // the row is there (its marker), tags absent: the deletion at 20 shadows a
	ids := attackRecordShadowed(t, tb, src, afterRepair)

	src2 := attackSetPart(attackElem("a", 10), attackElem("z", 30)) // a changed source cell
	c := attackVerifyWith(t, tb, src2, afterRepair, ids)
	if c.missing+c.mismatched == 0 {
		t.Fatalf("verify says clean while element z@30 (newer than any deletion) is missing; shadow ids %q; counts %+v", attackKeys(ids), c)
	}
}

func attackKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
