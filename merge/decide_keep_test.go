package merge

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestModelDecideKeepSourceRowAlwaysWritten: a custom resolver keeps every source row (KeepSource)
// of partitions the destination holds other rows of, with a random override of one column (none, a
// null, or a value) over source rows with random columns absent or present. Invariant, checked
// after every step: every kept source row the destination lacks is in the Write (as a key-only row
// at least), whatever the override.
func TestModelDecideKeepSourceRowAlwaysWritten(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 2))
	for step := 0; step < 3000; step++ {
		n := 1 + rng.IntN(4)
		src := part()
		for i := 0; i < n; i++ {
			r := row(fmt.Sprintf("k%d", i), absent("v"), absent("w"))
			for j := range r.Columns {
				if rng.IntN(2) == 0 {
					r.Columns[j] = simple(r.Columns[j].Name, c("s", int64(1+rng.IntN(9))))
				}
			}
			src.Rows = append(src.Rows, r)
		}
		dst := part(row("other", simple("w", c("x", int64(1+rng.IntN(9))))))
		ds := make([]RowDecision, n)
		for i := range ds {
			ds[i] = RowDecision{Source: &src.Rows[i], Keep: KeepSource}
			switch rng.IntN(3) {
			case 1:
				ds[i].Column, ds[i].Value = "v", Cell{}
			case 2:
				ds[i].Column, ds[i].Value = "v", Cell{Value: []byte("o")}
			}
		}
		res := Decide(src, dst, ds)
		for i := range src.Rows {
			s := &src.Rows[i]
			found := false
			if res.Write != nil {
				for _, w := range res.Write.Rows {
					if SameKey(w.Clustering, s.Clustering) && !w.Deleted {
						found = true
					}
				}
			}
			if !found {
				t.Fatalf("step %d: kept source row %q (override %q=%+v) the destination lacks is not written: %+v",
					step, s.Clustering, ds[i].Column, ds[i].Value, res.Write)
			}
		}
	}
}
