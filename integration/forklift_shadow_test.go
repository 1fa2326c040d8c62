package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftShadowedDeleteIsReportedOnce (issue 31): a row deleted on the destination after the
// copy, by a deletion newer than the source's cells (deletes that reached the new side first),
// reads as missing; a repair with the original timestamps cannot bring it back. Repair proves it
// shadowed and records it; from then on verify reports it as superseded (shadowed), with the
// reason, and is clean: verify and repair no longer loop. A later source write, newer than the
// deletion, is a real difference again and repair copies it.
func TestForkliftShadowedDeleteIsReportedOnce(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks = "forklift_shadow"
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".t (pk int PRIMARY KEY, v text)")
	ddl(t, dst, "DROP KEYSPACE IF EXISTS forklift_shadow_ckpt")
	base := time.Now().Add(-time.Hour).UnixMicro()
	ctx := context.Background()
	var ws []write
	for pk := 0; pk < 100; pk++ {
		ws = append(ws, write{"INSERT INTO " + ks + ".t (pk, v) VALUES (?, 'x') USING TIMESTAMP ?", []any{pk, base}})
	}
	execWrites(t, ctx, src, ws)
	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "t", Resolver: "lww"})
	cfg.CheckpointKeyspace, cfg.RunID, cfg.Ranges = "forklift_shadow_ckpt", "shadow", 8
	job, err := forklift.Open(ctx, cfg, forklift.WithSessions(src, dst))
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	if _, err := job.Run(ctx, forklift.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	must(t, dst.Query("DELETE FROM "+ks+".t USING TIMESTAMP ? WHERE pk = 5", base+1000).Exec())

	vr, err := job.Verify(ctx, forklift.VerifyOptions{})
	if !errors.Is(err, forklift.ErrDifferences) || vr.Missing != 1 {
		t.Fatalf("verify after the delete: %v, missing %d (want 1)", err, vr.Missing)
	}
	rr, err := job.Repair(ctx, forklift.RepairOptions{})
	if err != nil {
		t.Fatalf("repair: %v (it must prove the row shadowed, not loop)", err)
	}
	if !rr.After.Clean || rr.After.Tables[0].Shadowed != 1 {
		t.Fatalf("after repair: clean %v, shadowed %d, missing %d", rr.After.Clean, rr.After.Tables[0].Shadowed, rr.After.Missing)
	}
	vr, err = job.Verify(ctx, forklift.VerifyOptions{})
	if err != nil || !vr.Clean || vr.Tables[0].Shadowed != 1 || vr.Tables[0].Superseded != 1 {
		t.Fatalf("verify after repair: %v, %+v", err, vr.Tables[0])
	}
	if s := vr.Tables[0].Samples; len(s) != 1 || s[0].Kind != "shadowed" || s[0].Note == "" {
		t.Fatalf("samples: %+v, want one shadowed with its reason", s)
	}
	t.Logf("shadowed sample: %+v", vr.Tables[0].Samples[0])

	// The source writes the row again, after the deletion: a real difference, repaired.
	must(t, src.Query("INSERT INTO "+ks+".t (pk, v) VALUES (5, 'y') USING TIMESTAMP ?", base+2000).Exec())
	if vr, err = job.Verify(ctx, forklift.VerifyOptions{}); !errors.Is(err, forklift.ErrDifferences) || vr.Missing != 1 {
		t.Fatalf("verify after a newer source write: %v, missing %d (want 1)", err, vr.Missing)
	}
	if rr, err = job.Repair(ctx, forklift.RepairOptions{}); err != nil || !rr.After.Clean || rr.After.Tables[0].Shadowed != 0 {
		t.Fatalf("repair of the newer source write: %v, %+v", err, rr.After)
	}
	var v string
	must(t, dst.Query("SELECT v FROM "+ks+".t WHERE pk = 5").Scan(&v))
	if v != "y" {
		t.Fatalf("row 5 in the destination: %q, want y", v)
	}
}
