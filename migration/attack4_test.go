package migration

import (
	"errors"
	"testing"
)

// TestAttack4WaitCountsTheSameEpochOfAnotherHistoryAsApplied
//
// Promise (docs/migration.md invariant 3: a heartbeat newer than the row "does not count: that
// instance refuses the row's epochs as older than its own and keeps its phase ... Restart such
// instances without their state file, or set the migration forward past their epoch"; the
// promise: every write that begins after `set NAME PHASE --wait` returned runs in PHASE).
//
// Interleaving: instance a applied epoch 9 = dual-flipped; the control keyspace is restored from a
// backup at epoch 7 (dual); the operator sets it forward: 8 = primary-only (--wait times out naming
// a, ahead of the row), then 9 = dual. a's watcher sees epoch 9 == its applied epoch and keeps
// dual-flipped (the phase of the other history's 9); its heartbeat says epoch 9, so Behind(9) is
// empty and `set dual --wait` returns success while a reads the secondary, not the primary.
func TestAttack4WaitCountsTheSameEpochOfAnotherHistoryAsApplied(t *testing.T) {
	row := State{Name: "m", Epoch: 9, Phase: "dual", PreviousPhase: "primary-only"}
	f := &fakeFleet{local: row, serial: row,
		hs: []Heartbeat{{Instance: "a", Epoch: 9, Phase: "dual-flipped"}}}
	if _, err := waitBriefly(f, 9); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("Wait for epoch 9 (dual) with instance a heartbeating epoch 9 in dual-flipped — a phase epoch 9 never "+
			"had in this history: err %v, want ErrNotApplied naming a", err)
	}
}
