package forklift

import (
	"encoding/binary"
	"testing"

	"github.com/globalcloud/islands/examples/viewinghistory"
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

func a7bigint(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// TestAttack7VerifyHashSkipsResolverThatWouldWrite
// Scenario: table viewing_history under the shipped example resolver viewing-history (cap 1: a
// member keeps only the most recently watched title). A member created after the fleet began
// dual-writing has the same two titles on both sides (every write went to both). Resolving the
// source against the destination drops the older title (the cap), but verify hashes the subrange
// first, finds the two sides byte-identical and counts it equal: Clean, without asking the resolver.
// Promise broken: Job.Verify "Other resolvers: resolving the source against the destination again
// must write nothing" (and doc invariant 5, never clean when the destination differs from what the
// resolver decides): equal sides are not "nothing to write" for a resolver that is not the identity
// on equal inputs (a cap, a scrub, any Decide override of a value of neither version).
func TestAttack7VerifyHashSkipsResolverThatWouldWrite(t *testing.T) {
	_ = viewinghistory.Name
	cols := []cql.Column{
		{Name: "position", Type: "bigint", Kind: "regular"},
		{Name: "watched_at", Type: "timestamp", Kind: "regular"},
	}
	tb := testTable(t, viewinghistory.Name, map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 1}, cols...)
	part := func() *merge.Partition {
		row := func(title int, pos, at, wt int64) merge.Row {
			return merge.Row{Clustering: [][]byte{be32(title)}, Columns: []merge.Column{
				{Name: "position", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: a7bigint(pos), WriteTime: wt}},
				{Name: "watched_at", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: a7bigint(at), WriteTime: wt}},
			}}
		}
		return &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{row(1, 100, 1000, 10), row(2, 200, 2000, 20)}}
	}
	res, err := tb.resolver.Resolve(part(), part())
	if err != nil {
		t.Fatal(err)
	}
	if res.Write == nil || len(res.Write.Rows) == 0 {
		t.Fatalf("control: the resolver should drop the older title over cap 1; wrote nothing")
	}
	// Control: verify's partition compare alone does see it (the resolver would delete a row).
	var c counts
	if err := compareSides(tb, &sliceSource{parts: []*merge.Partition{part()}}, &sliceSource{parts: []*merge.Partition{part()}}, &c); err != nil {
		t.Fatal(err)
	}
	if c.missing+c.mismatched == 0 {
		t.Fatalf("control: compare should report the row the resolver would delete: %+v", c)
	}
	// verifySubrange: hash both sides under the run's key; equal sums count the subrange equal and
	// nothing is compared (sh == dh → SubrangesEqual, return).
	key, err := newSubrangeKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := func(p *merge.Partition) subrangeSum {
		h := newBufferedHash(key.hasher())
		hashPartition(h, p, 1000)
		return h.sum()
	}
	clean := sum(part()) == sum(part())
	if clean {
		t.Fatalf("verify says Clean, yet resolving the source against the destination would still write %d row(s) "+
			"(the resolver's cap drops the older title): the equal-hash shortcut never asks the resolver", len(res.Write.Rows))
	}
}
