package forklift

import (
	"math/rand/v2"
	"testing"

	"github.com/globalcloud/islands/merge"
)

// TestModelCompareSidesReadLag drives compareSides with both sides of a partition read at random
// seconds (either side first, lags up to a minute) and checks the invariant after every step:
// the verdict depends on the two expiry instants only, never on when each side was read. A
// destination holding the source's expiry (within merge.ExpiryTolerance's truncation) is clean;
// one expiring earlier by more than the tolerance is mismatched (the later expiry wins); one
// expiring later wins over the source and is no difference.
func TestModelCompareSidesReadLag(t *testing.T) {
	tb := testTable(t, "lww", nil)
	rng := rand.New(rand.NewPCG(6, 29))
	part := func(ttl int32) *merge.Partition {
		return &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true,
				Cell: merge.Cell{Value: []byte("a"), WriteTime: 10, TTL: ttl}}}}}}
	}
	tol := int64(merge.ExpiryTolerance.Seconds())
	for step := 0; step < 2000; step++ {
		sAt, dAt := 1000+rng.Int64N(60), 1000+rng.Int64N(60)
		exp := int64(2000 + rng.IntN(1000)) // the source's expiry instant
		var shift int64                     // the destination's expiry minus the source's
		switch rng.IntN(3) {
		case 0: // held
		case 1:
			shift = -(tol + 1 + rng.Int64N(100)) // earlier: the source wins
		case 2:
			shift = tol + 1 + rng.Int64N(100) // later: the destination wins
		}
		src := &timedSource{parts: []*merge.Partition{part(int32(exp - sAt))}, readAt: []int64{sAt}}
		dst := &timedSource{parts: []*merge.Partition{part(int32(exp + shift - dAt))}, readAt: []int64{dAt}}
		var c counts
		if err := compareSides(tb, src, dst, &c); err != nil {
			t.Fatal(err)
		}
		diff := c.missing + c.mismatched
		if (shift < 0) != (diff > 0) || c.missing != 0 || c.rows != 1 {
			t.Fatalf("step %d: source expires at %d (read at %d), destination at %d (read at %d): "+
				"missing=%d mismatched=%d rows=%d", step, exp, sAt, exp+shift, dAt, c.missing, c.mismatched, c.rows)
		}
	}
}
