package forklift

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/merge"
)

func testCopier(t testing.TB) *copier {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{cfg: Config{Retries: 3, WriteConcurrency: 1, MaxBatchBytes: 1 << 20}, m: m}
	return &copier{j: j}
}

// TTLs are aged at write time, on every attempt: a partition read at second 1000 with 100 s left,
// first sent at second 1005 and, after that attempt timed out, again at second 1008, is written
// with TTL 95 and then 92 — never with TTLs computed before the wait or before the first attempt.
func TestTTLsAgedAtEveryWriteAttempt(t *testing.T) {
	tb := testTable(t, "lww", nil)
	c := testCopier(t)
	clock := []int64{1005, 1008}
	attempt := 0
	c.now = func() time.Time { return time.Unix(clock[min(attempt, len(clock)-1)], 0) }
	var sent []int
	c.sendStmt = func(_ context.Context, stmts []stmt) error {
		for _, st := range stmts {
			sent = append(sent, st.args[len(st.args)-1].(int))
		}
		attempt++
		if attempt == 1 {
			return gocql.ErrTimeoutNoResponse
		}
		return nil
	}
	p := onePart(merge.Cell{Value: []byte("x"), WriteTime: 1, TTL: 100})
	if err := c.writePartition(context.Background(), tb, &tableStats{}, p, 1000); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || sent[0] != 95 || sent[1] != 92 {
		t.Fatalf("TTLs sent per attempt: %v, want [95 92]", sent)
	}
}

// A partition holding a list is resolved against the destination even under blind lww, on every
// attempt: a list the destination already holds (the write landed before a timeout, or a resumed
// run redoes the page) is not written again, which would duplicate its elements.
func TestListNotRewrittenWhereTheDestinationHoldsIt(t *testing.T) {
	tb := testTable(t, "lww", nil)
	c := testCopier(t)
	list := func() *merge.Partition {
		return &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}, Rows: []merge.Row{{Clustering: [][]byte{{0, 0, 0, 1}}, Columns: []merge.Column{
			{Name: "v", Kind: merge.List, Present: true, Elems: []merge.Elem{
				{Key: []byte{0}, Cell: merge.Cell{Value: []byte("a"), WriteTime: 7}},
				{Key: []byte{1}, Cell: merge.Cell{Value: []byte("b"), WriteTime: 9}}}}}}}}
	}
	var dst *merge.Partition
	c.readDst = func(context.Context, *table, [][]byte) (*merge.Partition, error) { return dst, nil }
	sends := 0
	c.sendStmt = func(context.Context, []stmt) error { sends++; return nil }
	if err := c.writePartition(context.Background(), tb, &tableStats{}, list(), time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	dst = list() // as the destination now reads it: the same values and writetimes
	for i := range dst.Rows[0].Columns[0].Elems {
		dst.Rows[0].Columns[0].Elems[i].Key = []byte{9, byte(i)} // the destination's own paths
		dst.Rows[0].Columns[0].Elems[i].Cell.WriteTime = 9
	}
	if err := c.writePartition(context.Background(), tb, &tableStats{}, list(), time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	if sends != 1 {
		t.Fatalf("the list was sent %d times, want once", sends)
	}
}

// A partition's rows read from later pages (later seconds) have their remaining TTLs restated as
// of the partition's first row, so ageing the partition from that second is exact for every row.
func TestPartitionTTLsStatedAsOfItsFirstRow(t *testing.T) {
	tb := testTable(t, "lww", nil)
	var pr partitionReader
	row := func(ck byte, ttl int32) merge.Row {
		return merge.Row{Clustering: [][]byte{{0, 0, 0, ck}}, Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true,
			Cell: merge.Cell{Value: []byte("x"), WriteTime: 1, TTL: ttl}}}}
	}
	pk := [][]byte{{0, 0, 0, 1}}
	pr.add(tb, 1, pk, row(1, 100), 1000)
	pr.add(tb, 1, pk, row(2, 95), 1005) // the next page, requested 5 s later: 95 s left then
	pr.add(tb, 1, pk, row(3, 0), 1005)
	p, _ := pr.flush()
	if pr.doneAt != 1000 || p.Rows[1].Columns[0].Cell.TTL != 100 || p.Rows[2].Columns[0].Cell.TTL != 0 {
		t.Fatalf("read at %d, TTLs %d %d %d; want 1000 and 100 100 0", pr.doneAt,
			p.Rows[0].Columns[0].Cell.TTL, p.Rows[1].Columns[0].Cell.TTL, p.Rows[2].Columns[0].Cell.TTL)
	}
}
