package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftPreferSourceDeletesRowWithNewerMarker: Cassandra's behaviour is the point. In the
// destination, rows the source lacks were written with their cells, then re-inserted with the key
// alone at a later timestamp (INSERT (pk, ck)): their row marker is newer than every cell a read
// shows, and no CQL read gives the marker's writetime. One prefer-source run must still delete them
// (a row deletion at the newest readable writetime + 1 µs leaves them as rows of nulls), verify must
// be clean, and the destination's partitions must hold exactly the source's rows.
func TestForkliftPreferSourceDeletesRowWithNewerMarker(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks = "forklift_marker"
	freshKeyspace(t, src, ks)
	freshKeyspace(t, dst, ks)
	ddl(t, src, "CREATE TABLE "+ks+".t (pk int, ck int, v text, PRIMARY KEY (pk, ck))")
	ddl(t, dst, "CREATE TABLE "+ks+".t (pk int, ck int, v text, PRIMARY KEY (pk, ck))")
	ddl(t, dst, "DROP KEYSPACE IF EXISTS forklift_marker_ckpt")
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).UnixMicro()
	var sw, dw []write
	for pk := range 8 {
		sw = append(sw, write{"INSERT INTO " + ks + ".t (pk, ck, v) VALUES (?, 1, 's') USING TIMESTAMP ?", []any{pk, base}})
		dw = append(dw,
			// ck 2: cells at base, marker re-inserted at base + 1 s (newer than every readable cell).
			write{"INSERT INTO " + ks + ".t (pk, ck, v) VALUES (?, 2, 'd') USING TIMESTAMP ?", []any{pk, base}},
			write{"INSERT INTO " + ks + ".t (pk, ck) VALUES (?, 2) USING TIMESTAMP ?", []any{pk, base + 1_000_000}},
			// ck 3: a key-only row, its marker the only thing it holds.
			write{"INSERT INTO " + ks + ".t (pk, ck) VALUES (?, 3) USING TIMESTAMP ?", []any{pk, base + 2_000_000}})
	}
	execWrites(t, ctx, src, sw)
	execWrites(t, ctx, dst, dw)
	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "t", Resolver: "prefer-source"})
	cfg.CheckpointKeyspace = "forklift_marker_ckpt"
	cfg.RunID = "marker-test"
	cfg.Ranges = 8
	job, err := forklift.Open(ctx, cfg, forklift.WithSessions(src, dst))
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	if _, err := job.Run(ctx, forklift.RunOptions{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	for pk := range 8 {
		var cks []int
		it := dst.Query("SELECT ck FROM "+ks+".t WHERE pk = ?", pk).Iter()
		for ck := 0; it.Scan(&ck); {
			cks = append(cks, ck)
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cks, []int{1}) {
			t.Errorf("pk %d: after one prefer-source run the destination holds rows %v, the source [1]", pk, cks)
		}
	}
	if vr, err := job.Verify(ctx, forklift.VerifyOptions{}); err != nil || !vr.Clean {
		t.Errorf("verify after one run: %v (%+v)", err, vr)
	}
}
