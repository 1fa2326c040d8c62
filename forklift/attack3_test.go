package forklift

import (
	"testing"

	"github.com/globalcloud/islands/merge"
)

// attack3KeyOnlyPart is partition pk=1 holding key-only rows (column v null: the row exists by its
// marker alone, whose writetime CQL cannot read) for the clustering keys given.
func attack3KeyOnlyPart(cks ...byte) *merge.Partition {
	p := &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}}
	for _, ck := range cks {
		p.Rows = append(p.Rows, merge.Row{Clustering: [][]byte{{0, 0, 0, ck}},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple}}})
	}
	return p
}

// TestAttack3ShadowRecordOfKeyOnlyRowHidesReinsertedRow
// Scenario: row (1,1) is key-only (INSERT of the primary key alone, e.g. a membership table) in the
// source, marker @10. The destination deleted the row at D, newer than the repair's re-copy (which
// writes a key-only row's marker at its own start, markerTS), so it stays missing and Repair records
// its id — key, clustering, "(row marker only)" — as shadowed. Later the source application
// re-inserts (1,1) at T > D and the destination does not get it (a lost dual write: what verify is
// for). Cassandra's reconciliation of both sides keeps the row (marker T > deletion D), and a Run or
// Repair would bring it back (its marker at the run's start > D); the destination lacks it.
// Promise broken: package doc "a source cell shadowed by a newer deletion … is reported as superseded
// while that exact cell (… with its writetime) is unchanged" and invariant 5 "Verify never says clean
// when the destination differs": a missing key-only row's Difference is named "(row marker only)",
// which names no version, so the old record matches the re-inserted row and verify counts it
// shadowed/superseded and says clean — and Repair, which re-copies only differing ranges, never
// restores it.
func TestAttack3ShadowRecordOfKeyOnlyRowHidesReinsertedRow(t *testing.T) {
	tb := testTable(t, "lww", nil)
	src := attack3KeyOnlyPart(1)
	afterRepair := attack3KeyOnlyPart(2) // the partition is there (another row); (1,1) shadowed by the deletion at D
	ids := attackRecordShadowed(t, tb, src, afterRepair)

	// The source re-inserts (1,1) at T > D: a CQL read of it is the same key-only row.
	reinserted := attack3KeyOnlyPart(1)
	c := attackVerifyWith(t, tb, reinserted, afterRepair, ids)
	if c.missing+c.mismatched == 0 {
		t.Fatalf("verify says clean while row (1,1), re-inserted in the source after the destination's deletion, is "+
			"missing from the destination (a re-copy would restore it); shadow ids %q; counts %+v", attackKeys(ids), c)
	}
}
