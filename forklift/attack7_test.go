package forklift

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gocql/gocql"

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
	clean := subrangeEqual(tb, sum(part()), sum(part())) // verifySubrange's shortcut
	if clean {
		t.Fatalf("verify says Clean, yet resolving the source against the destination would still write %d row(s) "+
			"(the resolver's cap drops the older title): the equal-hash shortcut never asks the resolver", len(res.Write.Rows))
	}
}

// TestAttack7PreferDestinationRetryAfterPartialWriteLosesRows
// Scenario: prefer-destination; the destination lacks partition pk=1, the source holds it with 4
// rows. Its statements exceed max_batch_bytes, so execOnce sends them as two unlogged batches; the
// first lands, the second times out (retryable). writePartition's retry reads the destination
// again, now finds the partition (the first batch's rows), and prefer-destination writes nothing:
// the retry "succeeds" with the rows of the second batch never written. Verify, resolving again,
// also finds nothing to write: Clean. (A run killed between the two batches and resumed does the same.)
// Promise broken: prefer-destination "a partition it lacks is copied" (merge package doc), and
// forklift's retry premise (retry.go: "Every forklift write is idempotent … a retry can never apply
// a cell twice with a different result"): the retry's decision depends on what the failed attempt
// wrote, and the source's rows are lost while verify reports the partition clean.
func TestAttack7PreferDestinationRetryAfterPartialWriteLosesRows(t *testing.T) {
	tb := testTable(t, "prefer-destination", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	for ck := range 4 {
		src.apply(t, stmt{text: `INSERT INTO "ks"."t" ("pk", "ck", "v", "w") VALUES (?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?`,
			args: []any{pk, cql.Raw(be32(ck)), cql.Raw([]byte{'a' + byte(ck)}), cql.Raw(a7bigint(int64(ck))), int64(10 + ck), 0}})
	}
	c := testCopier(t)
	c.j.cfg.MaxBatchBytes = 150 // the partition's statements need more than one batch
	c.now = func() time.Time { return time.Unix(1000, 0) }
	reads := 0
	c.readDst = func(_ context.Context, _ *table, key [][]byte) (*merge.Partition, error) {
		reads++
		return dst.read(t, tb, string(key[0])), nil
	}
	c.quarPut = func(context.Context, *table, [][]byte, *merge.Quarantine) error { return nil }
	c.markerTS = 50
	attempts, batches := 0, 0
	c.sendStmt = func(_ context.Context, stmts []stmt) error {
		attempts++
		// execOnce's batching: statements in order, batches no larger than MaxBatchBytes.
		for len(stmts) > 0 {
			n, size := 0, 0
			for n < len(stmts) && (n == 0 || size+stmts[n].size <= c.j.cfg.MaxBatchBytes) {
				size += stmts[n].size
				n++
			}
			batches++
			if attempts == 1 && batches == 2 {
				return gocql.ErrTimeoutNoResponse // the second batch times out (and did not land)
			}
			for _, st := range stmts[:n] {
				dst.apply(t, st)
			}
			stmts = stmts[n:]
		}
		return nil
	}
	p := src.read(t, tb, string(be32(1)))
	if err := c.writePartition(context.Background(), tb, &tableStats{}, p, 1000); err != nil {
		t.Fatal(err)
	}
	if batches < 2 {
		t.Fatalf("control: the partition should need two batches, sent %d", batches)
	}
	got := rowKeys(dst.read(t, tb, string(be32(1))))
	want := rowKeys(src.read(t, tb, string(be32(1))))
	clean, cnt := verifyModel(t, tb, src, dst)
	if got != want {
		t.Fatalf("the destination lacked the partition, so prefer-destination copies it whole; after a retried "+
			"write it holds rows %s of the source's %s (%d destination reads, %d sends), and verify says clean=%v (%+v)",
			got, want, reads, attempts, clean, cnt)
	}
}

// TestAttack7NewestByRetryAfterPartialWriteMixesRows
// Scenario: newest-by (column w). Destination row ck=1: w=1, v='d' (writetime 100); source row:
// w=5, v='s' (writetime 10, v with a TTL). The source's version wins (5 > 1), so both cells are
// written above the destination's (at 101), in two statements (their TTLs differ), which the
// batch limit puts in two batches. The first (w=5) lands, the second (v) times out. The retry reads
// the destination again: w is now 5 on both sides, a tie, so the row merges by lww and the
// destination's newer v='d' stands: nothing more is written. The destination ends with w=5,
// v='d', a version neither side holds; verify (resolving again: a tie, lww) says clean.
// Promise broken: newest-by "per row, the version with the larger application column wins" (the
// whole row: replaceRow), and retry.go's premise that a retried write cannot give another result.
func TestAttack7NewestByRetryAfterPartialWriteMixesRows(t *testing.T) {
	tb := testTable(t, "newest-by", map[string]any{"column": "w"}, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk, ck := cql.Raw(be32(1)), cql.Raw(be32(1))
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck", "v", "w") VALUES (?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, ck, cql.Raw("d"), cql.Raw(a7bigint(1)), int64(100), 0)
	run(src, `INSERT INTO "ks"."t" ("pk", "ck", "w") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, ck, cql.Raw(a7bigint(5)), int64(10), 0)
	run(src, `UPDATE "ks"."t" USING TIMESTAMP ? AND TTL ? SET "v" = ? WHERE "pk" = ? AND "ck" = ?`, int64(10), 1000, cql.Raw("s"), pk, ck)
	c := testCopier(t)
	c.j.cfg.MaxBatchBytes = 60 // each statement its own batch
	c.now = func() time.Time { return time.Unix(1000, 0) }
	c.readDst = func(_ context.Context, _ *table, key [][]byte) (*merge.Partition, error) {
		return dst.read(t, tb, string(key[0])), nil
	}
	c.quarPut = func(context.Context, *table, [][]byte, *merge.Quarantine) error { return nil }
	c.markerTS = 50
	attempts, batches := 0, 0
	c.sendStmt = func(_ context.Context, stmts []stmt) error {
		attempts++
		for len(stmts) > 0 { // execOnce's batching
			n, size := 0, 0
			for n < len(stmts) && (n == 0 || size+stmts[n].size <= c.j.cfg.MaxBatchBytes) {
				size += stmts[n].size
				n++
			}
			batches++
			if attempts == 1 && batches == 2 {
				return gocql.ErrTimeoutNoResponse
			}
			for _, st := range stmts[:n] {
				dst.apply(t, st)
			}
			stmts = stmts[n:]
		}
		return nil
	}
	if err := c.writePartition(context.Background(), tb, &tableStats{}, src.read(t, tb, string(be32(1))), 1000); err != nil {
		t.Fatal(err)
	}
	if batches < 2 {
		t.Fatalf("control: the row's two statements should go in two batches, sent %d", batches)
	}
	var v string
	for _, r := range dst.read(t, tb, string(be32(1))).Rows {
		for _, col := range r.Columns {
			if col.Name == "v" && col.Present {
				v = string(col.Cell.Value)
			}
		}
	}
	clean, cnt := verifyModel(t, tb, src, dst)
	if v != "s" {
		t.Fatalf("the source's row (w=5 > 1) stands under newest-by, so v must be 's'; after a retried write the "+
			"destination holds v=%q with the source's w=5, and verify says clean=%v (%+v)", v, clean, cnt)
	}
}
