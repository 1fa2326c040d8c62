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

// TestExpiringRowNotJudgedMissing: a copy expires up to a second or two before its source (its TTL
// is aged by whole seconds from the page's read), so a row with less than ExpiryTolerance left may
// be gone from the destination while the source still serves it (TestForkliftStaticColumns failed
// so in the CI run at faa4192: a 6 s row verified at the end of its life, "1 missing"). It is
// judged on neither side; a row with longer to live that the destination lacks is missing.
func TestExpiringRowNotJudgedMissing(t *testing.T) {
	tb := testTable(t, "union", nil)
	row := func(ck int, ttl int32) merge.Row {
		return merge.Row{Clustering: [][]byte{be32(ck)}, Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true,
			Cell: merge.Cell{Value: []byte("a"), WriteTime: 10, TTL: ttl}}}}
	}
	for _, tc := range []struct {
		ttl     int32
		missing int64
	}{{1, 0}, {2, 0}, {3, 1}, {60, 1}, {0, 1}} {
		src := &timedSource{parts: []*merge.Partition{{Key: [][]byte{be32(1)}, Rows: []merge.Row{row(1, 0), row(2, tc.ttl)}}}, readAt: []int64{1000}}
		dst := &timedSource{parts: []*merge.Partition{{Key: [][]byte{be32(1)}, Rows: []merge.Row{row(1, 0)}}}, readAt: []int64{1000}}
		var c counts
		if err := compareSides(tb, src, dst, &c); err != nil {
			t.Fatal(err)
		}
		if c.missing != tc.missing || c.mismatched != 0 {
			t.Errorf("source row with %d s to live, absent from the destination: missing=%d mismatched=%d, want missing=%d",
				tc.ttl, c.missing, c.mismatched, tc.missing)
		}
	}
}
