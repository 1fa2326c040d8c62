package forklift

import (
	"testing"

	"github.com/globalcloud/islands/merge"
)

// TestVerifyShortLivedSourceCellJudgedByVersion: under every resolver, a source cell with less
// than merge.ExpiryTolerance to live is judged by its writetime where the destination holds a
// version of it (alignReads): over an older destination value it is a difference; over its own
// copy (same writetime, expiring a second earlier) it is clean; where the destination holds no
// version (its copy already expired: a tombstone no read shows) it is clean. The same holds for a
// source cell that expired between the two reads (the source read a second before the destination).
func TestVerifyShortLivedSourceCellJudgedByVersion(t *testing.T) {
	w := merge.Cell{Value: []byte{0, 0, 0, 0, 0, 0, 0, 7}, WriteTime: 50}
	for _, res := range []string{"lww", "union", "prefer-source"} {
		for _, srcAt := range []int64{1000, 998} { // 998: the source cell (2 s left) expired by the destination's read
			tb := testTable(t, res, nil, modelCols...)
			run := func(dv *merge.Cell) counts {
				src := &timedSource{parts: []*merge.Partition{attack8Part(merge.Cell{Value: []byte("new"), WriteTime: 200, TTL: 2}, &w)}, readAt: []int64{srcAt}}
				var dp *merge.Partition
				if dv != nil {
					dp = attack8Part(*dv, &w)
				} else {
					dp = attack8Part(merge.Cell{}, &w)
					dp.Rows[0].Columns[0].Present = false
				}
				dst := &timedSource{parts: []*merge.Partition{dp}, readAt: []int64{1000}}
				var c counts
				if err := compareSides(tb, src, dst, &c); err != nil {
					t.Fatal(err)
				}
				return c
			}
			if c := run(&merge.Cell{Value: []byte("old"), WriteTime: 100}); c.missing+c.mismatched == 0 {
				t.Errorf("%s, source read at %d: older destination value under a short-lived newer source cell: clean (%+v)", res, srcAt, c)
			}
			if srcAt == 1000 {
				if c := run(&merge.Cell{Value: []byte("new"), WriteTime: 200, TTL: 1}); c.missing+c.mismatched != 0 {
					t.Errorf("%s: the destination's copy (same writetime, a second less to live): %+v, want clean", res, c)
				}
			}
			if c := run(nil); c.missing+c.mismatched != 0 {
				t.Errorf("%s, source read at %d: the destination's copy already expired: %+v, want clean", res, srcAt, c)
			}
		}
	}
}
