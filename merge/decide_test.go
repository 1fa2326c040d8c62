package merge

import (
	"math/rand"
	"testing"
)

// TestPropertiesDecideOverrideLands drives Decide with random row decisions that override a simple
// column with a value of neither version, against a reference store holding the destination as
// Cassandra does: with, on the overridden column, a tombstone no read shows (absent from the read,
// or older than the cell it shows) at any writetime up to the newest of the row's versions. After
// the Write the store must read the override, stamped above every writetime of both row versions
// and never more than 1 µs above the newest writetime of both partitions (package doc, Timestamps).
func TestPropertiesDecideOverrideLands(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for run := 0; run < propertyRuns; run++ {
		src, dst := genPair(rng, true)
		if dst == nil {
			continue
		}
		srcTo, _ := MatchRows(src.Rows, dst.Rows)
		var ds []RowDecision
		for i, j := range srcTo {
			if j < 0 {
				continue
			}
			keep := KeepSource
			if rng.Intn(2) == 0 {
				keep = KeepDestination
			}
			name := []string{"a", "b"}[rng.Intn(2)]
			ds = append(ds, RowDecision{Source: &src.Rows[i], Destination: &dst.Rows[j], Keep: keep,
				Column: name, Value: Cell{Value: []byte("override")}})
		}
		if len(ds) == 0 {
			continue
		}
		st := newStore(dst, dst.Key)
		for _, d := range ds {
			// A tombstone a read of the destination cannot show, at or below the row's newest input.
			limit := max(rowMaxTime(d.Source), rowMaxTime(d.Destination))
			if dc := colOf(d.Destination, d.Column); dc != nil && dc.Present {
				limit = min(limit, dc.Cell.WriteTime-1)
			}
			if limit >= 1 {
				st.apply(&Partition{Key: dst.Key, Rows: []Row{{Clustering: d.Destination.Clustering,
					Columns: []Column{{Name: d.Column, Kind: Simple, Present: true, Cell: Cell{Deleted: true, WriteTime: 1 + rng.Int63n(limit)}}}}}})
			}
		}
		res := Decide(src, dst, ds)
		st.apply(res.Write)
		rd := st.read()
		var ceiling int64
		for _, p := range []*Partition{src, dst} {
			for i := range p.Rows {
				ceiling = max(ceiling, rowMaxTime(&p.Rows[i]))
			}
		}
		for _, d := range ds {
			var got *Column
			if rd != nil {
				if r := findRowByCk(rd, d.Destination.Clustering); r != nil {
					got = colOf(r, d.Column)
				}
			}
			if got == nil || !got.Present || string(got.Cell.Value) != "override" {
				t.Fatalf("run %d: override of %s not read back (got %+v)\nsrc: %s\ndst: %s\nwrite: %s", run, d.Column, got, dump(src), dump(dst), dump(res.Write))
			}
			floor := max(rowMaxTime(d.Source), rowMaxTime(d.Destination))
			if got.Cell.WriteTime <= floor || got.Cell.WriteTime > ceiling+1 {
				t.Fatalf("run %d: override of %s stamped %d, want in (%d, %d]\nsrc: %s\ndst: %s", run, d.Column, got.Cell.WriteTime, floor, ceiling+1, dump(src), dump(dst))
			}
		}
	}
}

func findRowByCk(p *Partition, ck [][]byte) *Row {
	for i := range p.Rows {
		if ckString(p.Rows[i].Clustering) == ckString(ck) {
			return &p.Rows[i]
		}
	}
	return nil
}
