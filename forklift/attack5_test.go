package forklift

import (
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// TestAttack5RepairRecordsSurvivingRowDeletionAsShadowed
// Scenario: prefer-source; the destination holds a destination-only key-only row ck=1 whose marker
// is stamped ahead of forklift's clock (a writer's clock ahead, or an explicit USING TIMESTAMP), so
// the row deletion at readAt does not remove it (the documented case of invariant 8). Repair's
// verify then finds the row deletion still to do ("row deleted", a mismatch with no cell), records
// its id as shadowed (Difference.id is non-empty: keyOnly is only set on missing rows), and every
// later verify counts it as superseded: Clean, while the destination holds a row the source lacks.
// Promise broken: invariant 8 "Only a marker stamped ahead of this host's clock survives; verify
// reports its row and a later repair deletes it", and invariant 5 / ShadowStore: only source cells
// shadowed by a newer destination deletion are recorded, and "a key-only row ... is never recorded
// as shadowed". Here nothing is shadowed: the destination holds too much, and no later repair runs,
// since the row is no longer in DifferingRanges.
func TestAttack5RepairRecordsSurvivingRowDeletionAsShadowed(t *testing.T) {
	tb := testTable(t, "prefer-source", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	run(src, `INSERT INTO "ks"."t" ("pk", "ck", "v") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(2)), cql.Raw("s"), int64(5), 0)
	// copyModel's clock is Unix 1000 s = 1e9 µs; this marker is 1000 s ahead of it.
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(1)), int64(2_000_000_000), 0)
	copyModel(t, tb, src, dst)
	clean, c, ids := repairModel(t, tb, src, dst)
	held := false
	for _, r := range dst.read(t, tb, string(be32(1))).Rows {
		if merge.SameKey(r.Clustering, [][]byte{be32(1)}) {
			held = true
		}
	}
	if held && clean {
		t.Fatalf("after the repair the destination still holds the destination-only row ck=1 prefer-source must delete, "+
			"yet verify is clean: the pending row deletion was recorded as shadowed (ids %q), counts %+v", keysOf(ids), c)
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAttack5PreferSourceLosesKeyOnlySourceRow
// Scenario: prefer-source; the source's row ck=1 exists by its marker alone (INSERT (pk, ck) @5);
// the destination's row ck=1 was written by UPDATE only (v = 'd' @3: cells, no row marker). The
// copy replaces the row: it deletes v @4 and writes nothing else (the Write row has a cell, a
// deletion, so it is not a key-only row and no marker INSERT goes out), and the row is gone.
// Promise broken: prefer-source makes "the destination's copy ... equal to the source's" (and the
// model test's own claim: "one prefer-source copy leaves every partition the source holds with
// exactly the source's rows"); a row the source holds is lost by the copy, which Cassandra's
// reconciliation of the two sides (marker @5 live, v deleted) would keep.
func TestAttack5PreferSourceLosesKeyOnlySourceRow(t *testing.T) {
	tb := testTable(t, "prefer-source", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	run(src, `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(1)), int64(5), 0)
	run(dst, `UPDATE "ks"."t" USING TIMESTAMP ? AND TTL ? SET "v" = ? WHERE "pk" = ? AND "ck" = ?`, int64(3), 0, cql.Raw("d"), pk, cql.Raw(be32(1)))
	copyModel(t, tb, src, dst)
	sp, dp := src.read(t, tb, string(be32(1))), dst.read(t, tb, string(be32(1)))
	if got, want := rowKeys(dp), rowKeys(sp); got != want {
		t.Fatalf("after one prefer-source copy the destination holds rows %s, the source %s: the source's key-only row is lost", got, want)
	}
}
