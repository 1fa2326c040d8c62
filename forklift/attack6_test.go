package forklift

import (
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// attack6Scrub is a custom resolver as merge.Register admits one: every source row stands
// (KeepSource) with column v cleared (a null override: a scrub of a column), and the destination's
// other rows stay.
type attack6Scrub struct{}

func (attack6Scrub) Name() string           { return "attack6-scrub-v" }
func (attack6Scrub) NeedsDestination() bool { return true }
func (attack6Scrub) Resolve(src, dst *merge.Partition) (merge.Resolution, error) {
	var dstRows []merge.Row
	if dst != nil {
		dstRows = dst.Rows
	}
	srcTo, _ := merge.MatchRows(src.Rows, dstRows)
	ds := make([]merge.RowDecision, len(src.Rows))
	for i := range src.Rows {
		ds[i] = merge.RowDecision{Source: &src.Rows[i], Keep: merge.KeepSource, Column: "v", Value: merge.Cell{}}
		if srcTo[i] >= 0 {
			ds[i].Destination = &dstRows[srcTo[i]]
		}
	}
	return merge.Decide(src, dst, ds), nil
}

func init() {
	merge.Register("attack6-scrub-v", func(map[string]any) (merge.Resolver, error) { return attack6Scrub{}, nil })
}

// TestAttack6DecideKeyOnlySourceRowNeverCopiedYetVerifyClean
// Scenario: a custom resolver keeps every source row (KeepSource) with v overridden by a null. The
// source's row ck=1 is key-only (INSERT (pk, ck)); the destination's partition holds another row
// (ck=9). The copy writes nothing for ck=1 (merge.Decide drops the row when the null override of a
// column absent on both sides writes no cell), and verify, resolving again, finds nothing to write:
// Clean, while the destination lacks a row the source holds and the resolver decided stands.
// Promise broken: Verify "Other resolvers: resolving the source against the destination again must
// write nothing" is only a proof when the resolution brings the destination to the decision;
// merge.Decide: KeepSource "the source's version of the row stands", and Run copies it.
func TestAttack6DecideKeyOnlySourceRowNeverCopiedYetVerifyClean(t *testing.T) {
	tb := testTable(t, "attack6-scrub-v", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	run(src, `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(1)), int64(5), 0)
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck", "w") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(9)), cql.Raw([]byte{0, 0, 0, 0, 0, 0, 0, 7}), int64(3), 0)
	copyModel(t, tb, src, dst)
	held := false
	for _, r := range dst.read(t, tb, string(be32(1))).Rows {
		if merge.SameKey(r.Clustering, [][]byte{be32(1)}) {
			held = true
		}
	}
	clean, c := verifyModel(t, tb, src, dst)
	if !held {
		t.Fatalf("the source's key-only row ck=1, kept by the resolver (KeepSource), is not in the destination after "+
			"the copy; verify clean=%v (counts %+v)", clean, c)
	}
}
