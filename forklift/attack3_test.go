package forklift

import (
	"encoding/hex"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
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

// TestAttack3DecideOverrideToNullNeverWritten
// Scenario: a custom resolver (merge.Decide) keeps the destination's row and overrides its simple
// column v with a null — merge's own spelling of one ("a nil Value on a live cell is a null"), or
// explicitly a Deleted cell. The destination holds v = "x" @20, the source v = "y" @10.
// Promise broken (merge.Decide / RowDecision: "optionally a new value for one simple column of the
// version that stands"; package doc: "what must disappear is a Deleted cell stamped the same way";
// forklift: Run writes the Resolution, Verify's "resolving the source against the destination again
// must write nothing"): overrideCell rebuilds the value as a live cell {Value: nil} (dropping
// Deleted), and forklift's writer skips a live nil cell ("a null is not written"), sending only a
// key-only INSERT. The destination keeps v = "x", and every verify resolves to the same write again:
// a mismatch no repair can clear.
func TestAttack3DecideOverrideToNullNeverWritten(t *testing.T) {
	tb := testTable(t, "lww", nil, modelCols...)
	pk, ck := []byte{0, 0, 0, 1}, []byte{0, 0, 0, 1}
	for _, null := range []merge.Cell{{}, {Deleted: true}} {
		srcDB, dstDB := newModelDB(), newModelDB()
		srcDB.write(srcDB.part(pk).row(ck, false), "v", "=", []byte("y"), 10, 0)
		dstDB.write(dstDB.part(pk).row(ck, false), "v", "=", []byte("x"), 20, 0)
		decide := func() merge.Resolution {
			src, dst := srcDB.read(t, tb, string(pk)), dstDB.read(t, tb, string(pk))
			// Once v is deleted, the destination's row (written by UPDATE, so without a row marker)
			// has no live cell left and no longer exists: the decision then has no destination row.
			var dstRows []merge.Row
			if dst != nil {
				dstRows = dst.Rows
			}
			var dstRow *merge.Row
			if srcTo, _ := merge.MatchRows(src.Rows, dstRows); srcTo[0] >= 0 {
				dstRow = &dstRows[srcTo[0]]
			}
			return merge.Decide(src, dst, []merge.RowDecision{{Source: &src.Rows[0], Destination: dstRow,
				Keep: merge.KeepDestination, Column: "v", Value: null}})
		}
		res := decide()
		if res.Write == nil {
			t.Fatalf("override of v with %+v: Decide writes nothing", null)
		}
		for _, st := range tb.statements(res.Write, 50, 0) {
			dstDB.apply(t, st)
		}
		after := dstDB.read(t, tb, string(pk))
		var v merge.Column
		for i := 0; after != nil && i < len(after.Rows); i++ { // nil: the row (no marker) is gone
			if !after.Rows[i].Static {
				if c := findColumn(&after.Rows[i], "v", 0); c != nil {
					v = *c
				}
			}
		}
		again := decide()
		if v.Present || again.Write != nil {
			t.Fatalf("override of v with a null (%+v): Decide wrote %+v, the destination still reads v=%q @%d, "+
				"and resolving again writes %+v again (verify: mismatched forever)",
				null, res.Write.Rows, v.Cell.Value, v.Cell.WriteTime, again.Write)
		}
	}
}

// TestAttack3SubrangeHashCollisionVerifiesClean
// Scenario: table (pk int, ck int, v blob). Row (1,1): the source holds v = 0x5d9c5bcc281ca19c @10,
// the destination v = 0x47496c1a188d323c @10. At the same writetime Cassandra keeps the greater value,
// the source's: the destination differs (compare counts it mismatched; a repair would change it).
// The two values were found by a generic birthday (Pollard rho) search of about 2^33 FNV-1a steps
// from the state hashPartition reaches just before v's bytes — minutes of one core, no weakness needed
// beyond the 64-bit width and FNV's lack of keying.
// Promise broken (invariant 5: "Verify never says clean when the destination differs: the subrange
// hash is an injective, framed encoding of everything compared"): the encoding is injective, but
// verifySubrange compares only its unkeyed 64-bit FNV-1a sums; equal sums count the subrange
// SubrangesEqual and its partitions are never compared, so this subrange verifies clean. (Whoever
// writes values — any application user — can plant such a pair; a keyed or 128-bit+ hash would not
// allow it.)
func TestAttack3SubrangeHashCollisionVerifiesClean(t *testing.T) {
	tb := testTable(t, "lww", nil, cql.Column{Name: "v", Type: "blob", Kind: "regular"})
	mk := func(v string) *merge.Partition {
		b, err := hex.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		return &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}, Rows: []merge.Row{{Clustering: [][]byte{{0, 0, 0, 1}},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: b, WriteTime: 10}}}}}}
	}
	src, dst := mk("5d9c5bcc281ca19c"), mk("47496c1a188d323c")
	c := counts{}
	if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{src}}, &sliceSource{parts: []*merge.Partition{dst}}, &c); err != nil {
		t.Fatal(err)
	}
	if c.mismatched != 1 {
		t.Fatalf("setup: compare must find the destination's v mismatched, got %+v", c)
	}
	// What hashRange computes for each side of the subrange (one partition, no TTL) under a verify
	// run's key. (At ce8c579 this was a fresh FNV-1a, hashRange's unkeyed hash, and it collided.)
	key, err := newSubrangeKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := func(p *merge.Partition) subrangeSum {
		h := key.hasher()
		hashPartition(h, p, 1000)
		return sumOf(h)
	}
	if sum(src) == sum(dst) {
		t.Fatalf("source and destination subranges hash alike (%x) though v differs (compare: %d mismatched): "+
			"verifySubrange counts the subrange equal and verify says clean", sum(src), c.mismatched)
	}
}
