package migration

import (
	"errors"
	"testing"
)

// TestAttack7WaitIgnoresBacklogOwedToAnAuthorityNoWaitConfirmed
//
// Promise (Usage, `set`: "with --wait, return once every live instance applied it (and so the new
// authority had no replay backlog, handed-off backlog included)"; docs/migration.md: the
// handed-off backlog is "writes instances that left ... owe a side, not yet adopted").
//
// Interleaving: `set m dual-flipped` (epoch 3, from dual) without --wait (or its --wait timed out
// naming a slow instance x, still at epoch 2 dual); x closes and hands off 5 writes it owes the
// secondary (its follower) to the shared store and leaves the fleet; every other instance had
// applied 3 while the store was empty. `set m secondary-only --wait` (epoch 4, from dual-flipped):
// every live instance applies 4 (no switch of authority on any of them, so none checks the store)
// and owesNewAuthority compares only the row's two phases (both read the secondary): Wait returns
// while the store still owes the side every instance reads 5 acknowledged writes.
func TestAttack7WaitIgnoresBacklogOwedToAnAuthorityNoWaitConfirmed(t *testing.T) {
	row := State{Name: "m", Epoch: 4, Phase: "secondary-only", PreviousPhase: "dual-flipped"}
	f := &fakeFleet{local: row, serial: row,
		hs:     []Heartbeat{{Instance: "a", Epoch: 4, Phase: "secondary-only"}, {Instance: "b", Epoch: 4, Phase: "secondary-only"}},
		handed: map[string]int64{"secondary": 5}}
	if _, err := waitBriefly(f, 4); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("Wait for epoch 4 (secondary-only) while the shared store owes the secondary — the side every live "+
			"instance reads — 5 handed-off writes: err %v, want ErrNotApplied (the new authority has handed-off backlog)", err)
	}
}

// TestWaitCountsBacklogOwedToTheTargetAuthorityWhateverThePreviousPhase drives Wait over every pair
// of (previous phase, phase) — a forced re-publish of the same phase included — with backlog owed
// to each side: Wait returns only when the store owes the phase's authority nothing.
func TestWaitCountsBacklogOwedToTheTargetAuthorityWhateverThePreviousPhase(t *testing.T) {
	phases := []string{"primary-only", "dual", "dual-flipped", "secondary-only"}
	for _, prev := range phases {
		for _, ph := range phases {
			for _, owed := range []string{"primary", "secondary"} {
				row := State{Name: "m", Epoch: 4, Phase: ph, PreviousPhase: prev}
				f := &fakeFleet{local: row, serial: row,
					hs:     []Heartbeat{{Instance: "a", Epoch: 4, Phase: ph}},
					handed: map[string]int64{owed: 3}}
				_, err := waitBriefly(f, 4)
				if want := owed == Authority(ph); errors.Is(err, ErrNotApplied) != want {
					t.Errorf("%s → %s, store owes the %s side 3 writes: err %v, want ErrNotApplied %v", prev, ph, owed, err, want)
				}
			}
		}
	}
}
