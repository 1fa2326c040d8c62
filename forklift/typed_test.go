package forklift

import (
	"errors"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// A table's resolver is bound to the source's column types: newest-by on a text column orders
// 8-byte texts as text, and a newest-by column the table lacks, or one of a type with no order,
// is a configuration error when the table is built, before any data moves.
func TestNewestByTakesTheColumnTypeFromTheSchema(t *testing.T) {
	tb := testTable(t, "newest-by", map[string]any{"column": "u"},
		cql.Column{Name: "u", Type: "text", Kind: "regular"}, cql.Column{Name: "v", Type: "text", Kind: "regular"})
	mk := func(u, v string, wt int64) *merge.Partition {
		return &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)}, Columns: []merge.Column{
			{Name: "u", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte(u), WriteTime: wt}},
			{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte(v), WriteTime: wt}}}}}}
	}
	res, err := tb.resolver.Resolve(mk("éaaaaaa", "new", 100), mk("zzzzzzzz", "old", 200))
	if err != nil {
		t.Fatal(err)
	}
	if res.Write == nil || len(res.Write.Rows) != 1 {
		t.Fatalf("u is text: \"éaaaaaa\" > \"zzzzzzzz\", the source row must be written; got %+v", res.Write)
	}
	st := &cql.Table{Keyspace: "ks", Name: "t",
		PartitionKey: []cql.Column{{Name: "pk", Type: "int", Kind: "partition_key"}},
		Clustering:   []cql.Column{{Name: "ck", Type: "int", Kind: "clustering"}},
		Regular:      []cql.Column{{Name: "d", Type: "duration", Kind: "regular"}}}
	for _, col := range []string{"missing", "d"} {
		for _, tc := range []TableConfig{
			{Keyspace: "ks", Table: "t", Resolver: "newest-by", Options: map[string]any{"column": col}},
			{Keyspace: "ks", Table: "t", Resolver: "quarantine", Options: map[string]any{"resolver": "newest-by",
				"options": map[string]any{"column": col}, "max-conflicts": 1}},
		} {
			if _, err := newTable(tc, st, st); !errors.Is(err, ErrConfig) {
				t.Errorf("%s on column %q: %v, want ErrConfig", tc.Resolver, col, err)
			}
		}
	}
}
