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

// TestModelDecideKeepSourceRowStandsOverDestinationRow: a custom resolver keeps the source's row
// (KeepSource) where the destination holds the same row, written by UPDATE only (no marker), with a
// random override of one column (none, a null, or a value) over source rows with random columns
// absent or present. The Write is applied as Cassandra would (merge.Reconcile per cell; the row
// exists after it by Row.Marker or by a live cell). Invariant, checked after every step: the kept
// row exists after the Write, holding exactly the live values of the version that stands (the
// source row with the override applied), and deciding again over what the Write left writes nothing
// more for the row's existence (TestAttack8DecideKeepSourceNullOverrideLeavesNoRowWhereDestinationHeldOne).
func TestModelDecideKeepSourceRowStandsOverDestinationRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	for step := 0; step < 3000; step++ {
		s := row("k", absent("v"), absent("w"))
		d := row("k", absent("v"), absent("w"))
		for j := range s.Columns {
			if rng.IntN(2) == 0 {
				s.Columns[j] = simple(s.Columns[j].Name, c("s", int64(1+rng.IntN(9))))
			}
			if rng.IntN(3) > 0 {
				d.Columns[j] = simple(d.Columns[j].Name, c("d", int64(1+rng.IntN(9))))
			}
		}
		if keyOnly(&d) {
			d.Columns[1] = simple("w", c("d", 3)) // an UPDATE-only row holds a cell
		}
		src, dst := part(s), part(d)
		dec := RowDecision{Source: &src.Rows[0], Destination: &dst.Rows[0], Keep: KeepSource}
		switch rng.IntN(3) {
		case 1:
			dec.Column, dec.Value = "v", Cell{}
		case 2:
			dec.Column, dec.Value = "v", Cell{Value: []byte("o")}
		}
		want := map[string]string{} // the live values of the version that stands
		for _, col := range s.Columns {
			if col.Present {
				want[col.Name] = string(col.Cell.Value)
			}
		}
		if dec.Column != "" {
			delete(want, dec.Column)
			if dec.Value.Value != nil {
				want[dec.Column] = string(dec.Value.Value)
			}
		}
		res := Decide(src, dst, []RowDecision{dec})
		// Apply: cells reconcile one by one; the destination's row had no marker.
		cells := map[string]Cell{}
		for _, col := range d.Columns {
			if col.Present {
				cells[col.Name] = col.Cell
			}
		}
		marker := false
		if res.Write != nil {
			for _, w := range res.Write.Rows {
				if !SameKey(w.Clustering, s.Clustering) {
					continue
				}
				if w.Deleted {
					t.Fatalf("step %d: the kept row is deleted: %s", step, dump(res.Write))
				}
				marker = marker || w.Marker
				for _, col := range w.Columns {
					if !col.Present {
						continue
					}
					cell := col.Cell
					if cell.Value == nil {
						cell.Deleted = true
					}
					if old, ok := cells[col.Name]; ok {
						cell = Reconcile(old, cell)
					}
					cells[col.Name] = cell
				}
			}
		}
		got := map[string]string{}
		for name, cell := range cells {
			if !cell.Deleted && cell.Value != nil {
				got[name] = string(cell.Value)
			}
		}
		if !marker && len(got) == 0 {
			t.Fatalf("step %d: source %s over destination %s (override %q=%+v): the kept row is gone after the Write %s",
				step, dump(src), dump(dst), dec.Column, dec.Value, dump(res.Write))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("step %d: source %s over destination %s (override %q=%+v): the row holds %v after the Write %s, want %v",
				step, dump(src), dump(dst), dec.Column, dec.Value, got, dump(res.Write), want)
		}
	}
}
