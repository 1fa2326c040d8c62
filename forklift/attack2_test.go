package forklift

import (
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// tokenSource yields partitions in the order given, all at one token (a Murmur3 collision).
type tokenSource struct {
	parts []*merge.Partition
	tok   int64
	i     int
}

// at: a tokenSource's partitions are all stated as of one instant.
func (s *tokenSource) at() int64 { return 0 }

func (s *tokenSource) next() (*merge.Partition, int64) {
	if s.i >= len(s.parts) {
		return nil, 0
	}
	s.i++
	return s.parts[s.i-1], s.tok
}

// TestAttack2SameTokenCompositeKeysOutOfCassandraOrder
// Scenario: a table with a composite partition key (a text, b text). Two partitions share one
// Murmur3 token: D = ('b','x'), only in the destination (allowed), and P = ('aa','y'), copied
// exactly. Cassandra returns same-token partitions in DecoratedKey order: unsigned bytes of the
// serialised key, for a composite key <u16 length><bytes><0> per component, so D (length 1) comes
// before P (length 2). compareSides orders same-token keys by bytes.Join(components, 0), where
// "aa\0y" < "b\0x": it takes P as absent from the destination, skips past D, and never sees the
// destination's P.
// Promise broken: compareSides/Verify "destination-only partitions are allowed" and verify reports
// only what the destination lacks: P is reported missing though the destination holds it cell for
// cell; a repair re-copies it and the next verify reports it again (a repair loop, never clean).
func TestAttack2SameTokenCompositeKeysOutOfCassandraOrder(t *testing.T) {
	st := &cql.Table{Keyspace: "ks", Name: "t",
		PartitionKey: []cql.Column{{Name: "a", Type: "text", Kind: "partition_key"}, {Name: "b", Type: "text", Kind: "partition_key"}},
		Clustering:   []cql.Column{{Name: "ck", Type: "int", Kind: "clustering"}},
		Regular:      []cql.Column{{Name: "v", Type: "text", Kind: "regular"}}}
	tb, err := newTable(TableConfig{Keyspace: "ks", Table: "t", Resolver: "lww"}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(a, b string) *merge.Partition {
		return &merge.Partition{Key: [][]byte{[]byte(a), []byte(b)}, Rows: []merge.Row{{Clustering: [][]byte{{0, 0, 0, 1}},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte("v"), WriteTime: 10}}}}}}
	}
	p, d := mk("aa", "y"), mk("b", "x")
	// Cassandra's order within the token: D's serialised key 0001 62 00 … is below P's 0002 6161 00 ….
	src := &tokenSource{parts: []*merge.Partition{p}, tok: 42}
	dst := &tokenSource{parts: []*merge.Partition{d, mk("aa", "y")}, tok: 42}
	c := counts{collect: true}
	if err := compareSides(tb, src, dst, &c); err != nil {
		t.Fatal(err)
	}
	if c.missing+c.mismatched != 0 {
		t.Fatalf("destination holds P ('aa','y') exactly, beside a destination-only partition of the same token, "+
			"yet verify reports %d missing, %d mismatched: same-token partitions are walked in bytes.Join order, "+
			"not Cassandra's (serialised composite key) order", c.missing, c.mismatched)
	}
}
