package forklift

import (
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// TestMissingRowSampleCarriesValues (issue 31): a row missing from the destination is sampled with
// its source cells (values and writetimes), as missing and mismatched cells are, so the sample
// says what is missing, not only where.
func TestMissingRowSampleCarriesValues(t *testing.T) {
	tb := &table{
		src: &cql.Table{Keyspace: "island", Name: "profiles",
			PartitionKey: []cql.Column{{Name: "member_id", Type: "int"}},
			Clustering:   []cql.Column{{Name: "ck", Type: "int"}}},
		cols:  []cql.Column{{Name: "name", Type: "text"}, {Name: "plan", Type: "text"}},
		blind: true,
	}
	be32 := func(i int) []byte { return []byte{0, 0, 0, byte(i)} }
	src := &merge.Partition{Key: [][]byte{be32(7)}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)}, Columns: []merge.Column{
		{Name: "name", Present: true, Cell: merge.Cell{Value: []byte("Omar"), WriteTime: 5}},
		{Name: "plan", Present: true, Cell: merge.Cell{Value: []byte("gold"), WriteTime: 6}},
	}}}}
	var c counts
	if err := comparePartition(tb, src, nil, &c); err != nil {
		t.Fatal(err)
	}
	if c.missing != 1 || len(c.samples) != 1 {
		t.Fatalf("missing %d samples %d, want 1 and 1", c.missing, len(c.samples))
	}
	d := c.samples[0]
	for _, want := range []string{`name="Omar" @5`, `plan="gold" @6`} {
		if !strings.Contains(d.Source, want) {
			t.Errorf("missing-row sample %+v: Source lacks %s", d, want)
		}
	}
}
