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
