package forklift

import (
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// testTable is a table (pk int, ck int, v text, [s text static,] PRIMARY KEY (pk, ck)) in keyspace
// ks on both sides, or with the columns given, under resolver.
func testTable(t testing.TB, resolver string, opts map[string]any, cols ...cql.Column) *table {
	t.Helper()
	if cols == nil {
		cols = []cql.Column{{Name: "v", Type: "text", Kind: "regular"}}
	}
	st := &cql.Table{Keyspace: "ks", Name: "t",
		PartitionKey: []cql.Column{{Name: "pk", Type: "int", Kind: "partition_key"}},
		Clustering:   []cql.Column{{Name: "ck", Type: "int", Kind: "clustering"}},
		Regular:      cols}
	tb, err := newTable(TableConfig{Keyspace: "ks", Table: "t", Resolver: resolver, Options: opts}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func onePart(cells ...merge.Cell) *merge.Partition {
	p := &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}}
	for i, c := range cells {
		p.Rows = append(p.Rows, merge.Row{Clustering: [][]byte{{0, 0, 0, byte(i)}},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: c}}})
	}
	return p
}

// Verify's tie rule is Cassandra's (merge.Reconcile): at equal writetimes an expiring cell beats a
// live one before values are compared, so a destination holding the expiring cell is clean and one
// holding the live cell where the source's expiring cell wins is a difference repair can fix.
func TestVerifyTieRuleIsReconcile(t *testing.T) {
	tb := testTable(t, "lww", nil)
	live := func(v string) merge.Cell { return merge.Cell{Value: []byte(v), WriteTime: 10} }
	exp := func(v string) merge.Cell { return merge.Cell{Value: []byte(v), WriteTime: 10, TTL: 100} }
	for _, tc := range []struct {
		name     string
		src, dst merge.Cell
		clean    bool
	}{
		{"destination expiring a beats source live b", live("b"), exp("a"), true},
		{"source expiring a beats destination live b", exp("a"), live("b"), false},
		{"greater value wins between live cells", live("a"), live("b"), true},
		{"smaller destination value loses", live("b"), live("a"), false},
		{"same cell", exp("a"), exp("a"), true},
	} {
		var c counts
		if err := comparePartition(tb, onePart(tc.src), onePart(tc.dst), &c); err != nil {
			t.Fatal(err)
		}
		if clean := c.missing+c.mismatched == 0; clean != tc.clean {
			t.Errorf("%s: clean = %v, want %v (%+v)", tc.name, clean, tc.clean, c)
		}
	}
}
