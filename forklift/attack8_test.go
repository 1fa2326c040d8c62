package forklift

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// attack8Part is partition pk=1 with row ck=1 holding v (text) and, when w is not nil, w (bigint).
func attack8Part(v merge.Cell, w *merge.Cell) *merge.Partition {
	cols := []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: v}}
	if w != nil {
		cols = append(cols, merge.Column{Name: "w", Kind: merge.Simple, Present: true, Cell: *w})
	} else {
		cols = append(cols, merge.Column{Name: "w", Kind: merge.Simple})
	}
	return &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)}, Columns: cols}}}
}

// TestAttack8VerifyCleanOverOlderValueWhileSourceCellIsAboutToExpire
// Scenario: lww. Source row ck=1: v = "new" written at 200 with 2 s left to live, w = 7 at 50.
// Destination row ck=1: v = "old" written at 100 (no TTL), w = 7 at 50. Both read at second 1000.
// Whatever happens to the source's v (alive 2 s more, then an expired cell, i.e. a tombstone at
// 200), it beats the destination's "old"@100 by writetime: Cassandra's reconciliation of both sides
// is "new" for 2 s and then null for good, never "old". Verify's compare drops every cell with less
// than merge.ExpiryTolerance left from the source (alignReads/keepCells) and then finds nothing to
// compare for v: Clean, while the destination will show "old" forever (and once the source cell has
// expired no later verify can see it: this verify was the last chance).
// Promise broken: forklift doc 5 "Verify never says clean when the destination differs; each cell
// is judged by merge.Reconcile"; alignReads' reason for the skip ("neither version can be told
// wrong") does not hold where the destination's version is older than the source's cell.
func TestAttack8VerifyCleanOverOlderValueWhileSourceCellIsAboutToExpire(t *testing.T) {
	tb := testTable(t, "lww", nil, modelCols...)
	w := merge.Cell{Value: []byte{0, 0, 0, 0, 0, 0, 0, 7}, WriteTime: 50}
	srcP := attack8Part(merge.Cell{Value: []byte("new"), WriteTime: 200, TTL: 2}, &w)
	dstP := attack8Part(merge.Cell{Value: []byte("old"), WriteTime: 100}, &w)
	if merge.Reconcile(srcP.Rows[0].Columns[0].Cell, dstP.Rows[0].Columns[0].Cell).WriteTime != 200 {
		t.Fatal("control: Cassandra keeps the source's v (writetime 200 over 100)")
	}
	var sh, dh recorder
	hashPartition(&sh, srcP, 1000)
	hashPartition(&dh, dstP, 1000)
	if bytes.Equal(sh.Bytes(), dh.Bytes()) {
		t.Fatal("control: the sides hash differently, so the subrange is compared")
	}
	src := &timedSource{parts: []*merge.Partition{srcP}, readAt: []int64{1000}}
	dst := &timedSource{parts: []*merge.Partition{dstP}, readAt: []int64{1000}}
	var c counts
	if err := compareSides(tb, src, dst, &c); err != nil {
		t.Fatal(err)
	}
	if c.missing+c.mismatched == 0 {
		t.Fatalf("the destination's v = \"old\"@100 is beaten by the source's v@200 whether that cell lives or expires "+
			"(Cassandra: \"new\", then null), yet verify finds no difference (counts %+v): Clean", c)
	}
}

// TestAttack8CopyLeavesOverwrittenValueWhenSourceCellExpiresBeforeWrite
// Scenario: lww (blind). The source's row ck=1 holds v = "new" written at 200 with 1 s left when
// its page is read (second 1000); the destination holds v = "old" written at 100. The write is
// decided at second 1002 (rate limiter, read-ahead queue): ageTTLs drops the expired cell and
// writes nothing for v. In Cassandra an expired cell is a tombstone at its writetime: the source
// holds "v deleted at 200", which beats "old"@100, so lww of both sides is v = null. The destination
// keeps "old" for good, and no verify can see it any more (the source's expired cell is no longer
// read) — see also TestAttack8VerifyCleanOverOlderValueWhileSourceCellIsAboutToExpire, the window
// in which verify could.
// Promise broken: merge lww "cell by cell, Cassandra 5.0's own reconciliation", forklift doc 3 "a
// copy never outlives its source" (here the destination's overwritten value outlives the source's
// newer version): the expired cell was read with its writetime, and only its shadowing is lost.
func TestAttack8CopyLeavesOverwrittenValueWhenSourceCellExpiresBeforeWrite(t *testing.T) {
	tb := testTable(t, "lww", nil, modelCols...)
	dst := newModelDB()
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	pk, ck := be32(1), be32(1)
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck", "v") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`,
		cql.Raw(pk), cql.Raw(ck), cql.Raw("old"), int64(100), 0)
	before := dst.read(t, tb, string(pk))
	if before == nil || len(before.Rows) != 1 || string(before.Rows[0].Columns[findCol(before.Rows[0], "v")].Cell.Value) != "old" {
		t.Fatalf("control: the destination holds v = old: %+v", before)
	}
	c := testCopier(t)
	c.now = func() time.Time { return time.Unix(1002, 0) }
	c.readDst = func(_ context.Context, _ *table, key [][]byte) (*merge.Partition, error) {
		return dst.read(t, tb, string(key[0])), nil
	}
	c.sendStmt = func(_ context.Context, stmts []stmt) error {
		for _, st := range stmts {
			dst.apply(t, st)
		}
		return nil
	}
	c.markerTS = 50
	p := attack8Part(merge.Cell{Value: []byte("new"), WriteTime: 200, TTL: 1}, nil)
	if err := c.writePartition(context.Background(), tb, &tableStats{}, p, 1000); err != nil {
		t.Fatal(err)
	}
	after := dst.read(t, tb, string(pk))
	if after != nil {
		for _, r := range after.Rows {
			if i := findCol(r, "v"); i >= 0 && r.Columns[i].Present && string(r.Columns[i].Cell.Value) == "old" {
				t.Fatalf("after the copy the destination still shows v = \"old\"@%d, which the source's v@200 (expired: a "+
					"tombstone at 200) shadows in Cassandra's reconciliation of both sides; lww's result is v = null",
					r.Columns[i].Cell.WriteTime)
			}
		}
	}
}

func findCol(r merge.Row, name string) int {
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// TestAttack8NewestByKeyOrStaticColumnAcceptedThenFailsEveryPartition
// Scenario: newest-by with column "ck" (the clustering column) or "s" (a static column) of the
// model table. Opening the table binds the resolver to the source schema (newTable →
// merge.WithColumnTypes with every key, clustering and regular column): accepted, no error. Yet the
// rows the resolver is given never carry a key column, and the regular rows never carry a static one
// (splitStatic), so every partition both sides hold fails with merge.ErrMissingColumn at copy time,
// after the source-only partitions before it were written.
// Promise broken: merge.WithColumnTypes / forklift: "forklift binds every table's resolver to the
// source's schema when it opens a Job, so a rule's column that is missing ... is a configuration
// error before any data moves".
func TestAttack8NewestByKeyOrStaticColumnAcceptedThenFailsEveryPartition(t *testing.T) {
	for _, col := range []string{"ck", "s"} {
		t.Run(col, func(t *testing.T) {
			st := &cql.Table{Keyspace: "ks", Name: "t",
				PartitionKey: []cql.Column{{Name: "pk", Type: "int", Kind: "partition_key"}},
				Clustering:   []cql.Column{{Name: "ck", Type: "int", Kind: "clustering"}},
				Regular:      modelCols}
			tb, err := newTable(TableConfig{Keyspace: "ks", Table: "t", Resolver: "newest-by",
				Options: map[string]any{"column": col}}, st, st)
			if err != nil {
				return // refused at configuration: the promise holds
			}
			w := merge.Cell{Value: []byte{0, 0, 0, 0, 0, 0, 0, 7}, WriteTime: 50}
			src := attack8Part(merge.Cell{Value: []byte("a"), WriteTime: 10}, &w)
			dst := attack8Part(merge.Cell{Value: []byte("b"), WriteTime: 20}, &w)
			if _, rerr := tb.resolver.Resolve(src, dst); rerr != nil {
				t.Fatalf("newest-by column %q was accepted when the table was opened, but resolving a partition both "+
					"sides hold fails at copy time: %v", col, rerr)
			}
		})
	}
}
