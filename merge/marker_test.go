package merge

import "testing"

// TestKeyOnlySourceRowKeepsItsMarker: a source row that exists by its row marker alone, kept over a
// destination row that holds cells (perhaps without a marker: a row written by UPDATE only), must
// reach the destination as a live row. The Write deletes the destination's cells, so the row it
// writes must say the row exists by its marker (Row.Marker), or a writer sends only the cell
// deletions and the row is gone. prefer-source and Decide's KeepSource (with and without an
// override) take that path; a key-only row over a key-only row writes nothing.
func TestKeyOnlySourceRowKeepsItsMarker(t *testing.T) {
	ck := [][]byte{{1}}
	// As a read returns them: every column of the table, absent ones not Present.
	src := &Partition{Key: [][]byte{{9}}, Rows: []Row{{Clustering: ck, Columns: []Column{{Name: "v"}, {Name: "w"}}}}}
	dst := &Partition{Key: [][]byte{{9}}, Rows: []Row{{Clustering: ck, Columns: []Column{
		{Name: "v", Kind: Simple, Present: true, Cell: Cell{Value: []byte("d"), WriteTime: 3}}, {Name: "w"},
	}}}}
	ps, err := New("prefer-source", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ps.Resolve(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]Resolution{
		"prefer-source":     res,
		"Decide KeepSource": Decide(src, dst, []RowDecision{{Source: &src.Rows[0], Destination: &dst.Rows[0], Keep: KeepSource}}),
		"Decide KeepSource with an override": Decide(src, dst, []RowDecision{{Source: &src.Rows[0], Destination: &dst.Rows[0],
			Keep: KeepSource, Column: "w", Value: Cell{Value: []byte("o"), TTL: 60}}}),
	}
	for name, res := range cases {
		if res.Write == nil || len(res.Write.Rows) != 1 {
			t.Fatalf("%s: Write %+v, want one row", name, res.Write)
		}
		r := res.Write.Rows[0]
		if !r.Marker || r.Deleted {
			t.Errorf("%s: the written row %+v does not carry the source row's marker", name, r)
		}
	}
	same := &Partition{Key: [][]byte{{9}}, Rows: []Row{{Clustering: ck, Columns: []Column{{Name: "v"}, {Name: "w"}}}}}
	if res, _ := ps.Resolve(src, same); res.Write != nil {
		t.Errorf("a key-only row over a key-only row writes %+v, want nothing", res.Write)
	}
}
