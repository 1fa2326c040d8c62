package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

// TestDualwriteFollowerRefusalKeptForReplay: under PrimaryAuthoritative a write the authoritative
// side accepted is acknowledged even when the follower refuses it (a column the follower's table
// does not have yet, as while a schema change propagates). The write is kept in the replay log:
// once the column arrives on the follower it lands there with the original timestamp; a column
// that never arrives is dead-lettered past the floor, and authority does not move to that side.
func TestDualwriteFollowerRefusalKeptForReplay(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	const ks = "dualwrite_refusal"
	dwKeyspaces(t, e, ks)
	us, eu := session(t, e.USCQL), session(t, e.EUCQL)
	ddl(t, us, "ALTER TABLE "+ks+".kv ADD extra text")
	ddl(t, us, "ALTER TABLE "+ks+".kv ADD never text")

	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dir := t.TempDir()
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	const ts = 1_700_000_000_000_001
	if err := dw.Query("INSERT INTO "+ks+".kv (k, v, extra) VALUES (?, ?, ?)", 1, "a", "x").WithTimestamp(ts).Exec(); err != nil {
		t.Fatalf("the authoritative side took the write, the follower refused it (no column extra yet): Exec = %v, want nil", err)
	}
	if err := dw.Query("INSERT INTO "+ks+".kv (k, v, never) VALUES (?, ?, ?)", 2, "b", "y").WithTimestamp(ts).Exec(); err != nil {
		t.Fatalf("Exec = %v, want nil", err)
	}
	if n, _ := dw.Backlog(); n != 2 {
		t.Fatalf("backlog %d, want the two refused writes kept for the follower", n)
	}
	time.Sleep(time.Second) // the schema change reaches the follower a little later
	ddl(t, eu, "ALTER TABLE "+ks+".kv ADD extra text")

	start := time.Now()
	if err := dw.WaitReplayed(waitCtx(t, 60*time.Second)); err != nil {
		t.Fatalf("the refused writes neither landed nor were dead-lettered: %v", err)
	}
	var extra string
	var wt int64
	if err := eu.Query("SELECT extra, writetime(extra) FROM "+ks+".kv WHERE k = 1").Scan(&extra, &wt); err != nil {
		t.Fatal(err)
	}
	if extra != "x" || wt != ts {
		t.Fatalf("follower row k=1: extra=%q writetime=%d, want %q at %d (the original timestamp)", extra, wt, "x", ts)
	}
	dead := replayDeadLetters(t, dir)
	if len(dead) != 1 {
		t.Fatalf("dead letters %q, want the write whose column never arrived", dead)
	}
	err = dw.SetPhase(dualwrite.DualFlipped)
	if !errors.Is(err, dualwrite.ErrAuthorityBacklog) {
		t.Fatalf("SetPhase(dual-flipped) with a dead letter for the secondary = %v, want ErrAuthorityBacklog", err)
	}
	t.Logf("FIGURES landed_after_schema=1 dead_lettered=1 drain_s=%.1f stats=%+v", time.Since(start).Seconds(), dw.Stats())
}
