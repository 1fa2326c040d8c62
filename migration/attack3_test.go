package migration

import "testing"

// waitReturns is Wait's decision on one Status poll (fleet.go, Wait's switch): it returns with
// success when the poll shows no newer epoch, no live instance behind epoch, and nothing handed
// off owed to the new authority. Wait needs a gocql session for Status (the package has no fake
// Store), so the tests below give this mirror of Wait's switch the Fleet that Status reads in each
// interleaving: a fix of Wait must keep waitReturns in step with it.
func waitReturns(f Fleet, epoch int64) bool {
	if f.State.Epoch > epoch {
		return false // ErrConflict: superseded
	}
	return len(f.Behind(epoch)) == 0 && f.owesNewAuthority() == 0
}

// TestAttack3WaitJudgesAuthorityByALaggingRow
//
// Promise (Usage: `set --wait` returns "once every live instance applied it (and so the new
// authority had no replay backlog, handed-off backlog included)"; docs/migration.md: a --wait that
// moves authority returns only once that count is 0 for the new authority; invariant 3 on why an
// instance reads at SERIAL: a LOCAL_QUORUM read may miss an LWT committed at QUORUM).
//
// Interleaving: `set NAME dual-flipped --wait`: the LWT commits epoch 3 at QUORUM, missing the
// operator's local replica (one per datacenter). Wait's Status reads the row at LOCAL_QUORUM and gets
// epoch 2 (dual, from primary-only); the instances have applied epoch 3 (their listing of the shared
// store was a second old) and the store owes the secondary 5 writes. owesNewAuthority compares the
// lagging row's dual with primary-only — no change of authority — and Wait returns.
func TestAttack3WaitJudgesAuthorityByALaggingRow(t *testing.T) {
	lagging := State{Name: "m", Epoch: 2, Phase: "dual", PreviousPhase: "primary-only"}
	f := Fleet{State: lagging, Live: []Heartbeat{{Instance: "a", Epoch: 3, Phase: "dual-flipped"}},
		HandedOff: map[string]int64{"secondary": 5}}
	if waitReturns(f, 3) {
		t.Fatalf("Wait for epoch 3 (dual → dual-flipped) returns on a poll whose row read (LOCAL_QUORUM) still shows "+
			"epoch %d (%s from %s): it sees no change of authority and ignores the %d handed-off writes owed to the "+
			"new authority", lagging.Epoch, lagging.Phase, lagging.PreviousPhase, f.HandedOff["secondary"])
	}
}
