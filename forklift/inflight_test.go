package forklift

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// TestResumeRepairsPartitionLeftInFlight: prefer-destination, the destination lacks partition
// pk=1, the source holds 4 rows whose statements need two batches. The run is killed between the
// two (the first landed). Before the fix nothing recorded it: the resumed run redid the page by
// resolving against the half-done write (prefer-destination: the destination "has" the partition,
// write nothing) and verify, resolving alike, said clean with two rows lost. Now the partition is
// recorded in flight before its first batch; verify refuses to call the run clean and names it;
// the resumed run repairs it by union (every row of both sides), clears the record and names it
// in its report; verify is then clean.
func TestResumeRepairsPartitionLeftInFlight(t *testing.T) {
	for _, sameRun := range []bool{false, true} {
		testRepairInFlight(t, sameRun)
	}
}

// testRepairInFlight: sameRun, the write fails for good (not a kill) and the same run redoes the
// page (copyRange's retry from its checkpoint); otherwise a new process resumes the run.
func testRepairInFlight(t *testing.T, sameRun bool) {
	tb := testTable(t, "prefer-destination", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	for ck := range 4 {
		src.apply(t, stmt{text: `INSERT INTO "ks"."t" ("pk", "ck", "v", "w") VALUES (?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?`,
			args: []any{pk, cql.Raw(be32(ck)), cql.Raw([]byte{'a' + byte(ck)}), cql.Raw(a7bigint(int64(ck))), int64(10 + ck), 0}})
	}
	store := &MemoryCheckpoints{}
	kill := true
	newCopier := func() *copier {
		c := testCopier(t)
		c.j.log = slog.New(slog.DiscardHandler)
		c.j.store = store
		c.j.cfg.RunID = "r"
		c.j.cfg.MaxBatchBytes = 150
		c.inflight, c.run = store, "r"
		c.now = func() time.Time { return time.Unix(1000, 0) }
		c.readDst = func(_ context.Context, _ *table, key [][]byte) (*merge.Partition, error) {
			return dst.read(t, tb, string(key[0])), nil
		}
		c.quarPut = func(context.Context, *table, [][]byte, *merge.Quarantine) error { return nil }
		c.markerTS = 50
		c.sendStmt = func(_ context.Context, stmts []stmt) error {
			for b := 0; len(stmts) > 0; b++ {
				if kill && b == 1 {
					return context.Canceled // killed between the two batches
				}
				n := batchLen(stmts, c.j.cfg.MaxBatchBytes)
				for _, st := range stmts[:n] {
					dst.apply(t, st)
				}
				stmts = stmts[n:]
			}
			return nil
		}
		return c
	}
	c := newCopier()
	if err := c.writePartition(context.Background(), tb, &tableStats{}, src.read(t, tb, string(be32(1))), 1000); err == nil {
		t.Fatal("control: the killed write should fail")
	}
	if got, want := rowKeys(dst.read(t, tb, string(be32(1)))), rowKeys(src.read(t, tb, string(be32(1)))); got == want {
		t.Fatalf("control: the kill should leave the partition half-written, holds %s", got)
	}
	inflight, err := c.j.inFlightOf(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{keyString([][]byte{be32(1)})}; !slices.Equal(inflight[tb.Name()], want) {
		t.Fatalf("verify's in-flight partitions after the kill: %v, want %v", inflight, want)
	}

	kill = false
	if !sameRun {
		// Resume: Run loads the run's records (loadRecovery), then redoes the page.
		c = newCopier()
		if c.recover, err = loadRecovery(context.Background(), store, "r", []*table{tb}); err != nil {
			t.Fatal(err)
		}
	}
	stats := &tableStats{}
	if err := c.writePartition(context.Background(), tb, stats, src.read(t, tb, string(be32(1))), 1000); err != nil {
		t.Fatal(err)
	}
	got, want := rowKeys(dst.read(t, tb, string(be32(1)))), rowKeys(src.read(t, tb, string(be32(1))))
	clean, cnt := verifyModel(t, tb, src, dst)
	if got != want || !clean {
		t.Fatalf("same run %v: after the redo the destination holds rows %s of the source's %s; verify clean=%v (%+v)", sameRun, got, want, clean, cnt)
	}
	if left, _ := store.LoadInFlight(context.Background(), "r"); len(left) != 0 {
		t.Fatalf("the record is left after the repair: %v", left)
	}
	if rep := stats.report(tb, 1); !slices.Equal(rep.InFlightRepaired, []string{keyString([][]byte{be32(1)})}) {
		t.Fatalf("the run's report names %v as repaired", rep.InFlightRepaired)
	}
}

// A partition written in one batch is atomic in Cassandra: no record; one in several batches is
// recorded before the first and cleared after the last.
func TestInFlightRecordOnlyForMultiBatchPartitions(t *testing.T) {
	tb := testTable(t, "lww", nil)
	for _, tc := range []struct {
		maxBatch int
		marked   bool
	}{{1 << 20, false}, {10, true}} {
		store := &MemoryCheckpoints{}
		c := testCopier(t)
		c.j.cfg.MaxBatchBytes = tc.maxBatch
		c.inflight, c.run = store, "r"
		marked := false
		c.sendStmt = func(context.Context, []stmt) error {
			recs, _ := store.LoadInFlight(context.Background(), "r")
			marked = len(recs) == 1
			return nil
		}
		p := &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{
			{Clustering: [][]byte{be32(1)}, Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte("x"), WriteTime: 1}}}},
			{Clustering: [][]byte{be32(2)}, Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte("y"), WriteTime: 2}}}},
		}}
		if err := c.writePartition(context.Background(), tb, &tableStats{}, p, time.Now().Unix()); err != nil {
			t.Fatal(err)
		}
		if marked != tc.marked {
			t.Fatalf("max_batch_bytes %d: recorded in flight while sent: %v, want %v", tc.maxBatch, marked, tc.marked)
		}
		if recs, _ := store.LoadInFlight(context.Background(), "r"); len(recs) != 0 {
			t.Fatalf("max_batch_bytes %d: record left after the write: %v", tc.maxBatch, recs)
		}
	}
}
