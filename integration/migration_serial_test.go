package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/migration"
)

// TestMigrationSerialReadAndGateEpochs runs, on the world's global cluster (a datacenter per
// region), the two control-plane reads no other test reaches:
//   - Store.PhaseSerial, the SERIAL read an instance's watcher falls back to when its LOCAL_QUORUM
//     read shows an epoch older than one it applied: it returns each committed change at once;
//   - ForkliftGate's epoch rule (its SERIAL read of the row after the heartbeats): the migration
//     goes dual, back to primary-only and dual again; an instance whose heartbeat still shows the
//     first dual epoch keeps the gate shut (it may be writing one side only) until it acknowledges
//     the current epoch.
func TestMigrationSerialReadAndGateEpochs(t *testing.T) {
	e := needServices(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := fmt.Sprintf("serial-%d", time.Now().UnixNano())
	st := controlStore(t, e)
	epochs := map[string]int64{}
	set := func(phase string) int64 {
		t.Helper()
		if _, err := operator(t, e, "set", name, phase); err != nil {
			t.Fatal(err)
		}
		p, ep, err := st.PhaseSerial(ctx, name)
		if err != nil {
			t.Fatalf("PhaseSerial after set %s: %v", phase, err)
		}
		if p != phase || ep <= epochs["last"] {
			t.Fatalf("PhaseSerial after set %s: %s at epoch %d (the epoch before: %d)", phase, p, ep, epochs["last"])
		}
		epochs["last"] = ep
		return ep
	}
	beat := func(instance string, epoch int64, phase string) {
		t.Helper()
		h := migration.Heartbeat{Migration: name, Instance: instance, Region: "us-east-1", Epoch: epoch, Phase: phase,
			Updated: time.Now().UTC()}
		if err := st.WriteHeartbeat(ctx, h, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, i := range []string{"old-dual", "current"} {
			_ = st.DeleteHeartbeat(context.Background(), name, i)
		}
	})

	set("primary-only")
	first := set("dual")
	beat("old-dual", first, "dual")
	beat("current", first, "dual")
	if _, err := migration.ForkliftGate(ctx, st, name); err != nil {
		t.Fatalf("gate with every instance at the current dual epoch %d: %v", first, err)
	}
	set("primary-only") // "old-dual" never acknowledges it: it may be writing primary-only now
	cur := set("dual")
	beat("current", cur, "dual")

	f, err := migration.ForkliftGate(ctx, st, name)
	if !errors.Is(err, migration.ErrNotDualWriting) || !strings.Contains(err.Error(), "old-dual") || strings.Contains(err.Error(), "current (") {
		t.Fatalf("gate at epoch %d with old-dual's heartbeat at epoch %d (dual, before a step back to primary-only): %v, "+
			"want ErrNotDualWriting naming old-dual only", cur, first, err)
	}
	if f.State.Epoch != cur || f.State.PreviousPhase != "primary-only" {
		t.Fatalf("gate read the row at epoch %d (previous %q), want %d after primary-only", f.State.Epoch, f.State.PreviousPhase, cur)
	}
	t.Logf("gate refused: %v", err)

	beat("old-dual", cur, "dual")
	if _, err := migration.ForkliftGate(ctx, st, name); err != nil {
		t.Fatalf("gate once old-dual acknowledged epoch %d: %v", cur, err)
	}
}
