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

// TestAttack3WaitCountsAHeartbeatAheadOfTheRowAsApplied
//
// Promise (docs/migration.md: "Every write that begins after `set NAME PHASE --wait` returned runs
// in PHASE (or a later phase), on every instance"; "an epoch lower than the one applied (a control
// keyspace restored from an old backup) is reported and never applied"). ForkliftGate already
// refuses a heartbeat newer than the row (TestForkliftGateJudgesTheEpochApplied); Wait does not.
//
// Interleaving: the instance applied epoch 9 (dual-flipped); the control keyspace is restored from
// a backup at epoch 7 (dual); the operator rolls back, `set primary-only --wait` → epoch 8. The
// instance refuses 8 (older than 9) and keeps dual-flipped; its heartbeat says 9 >= 8, so Behind(8)
// is empty and Wait returns success while the instance never ran epoch 8's phase.
func TestAttack3WaitCountsAHeartbeatAheadOfTheRowAsApplied(t *testing.T) {
	f := Fleet{State: State{Name: "m", Epoch: 8, Phase: "primary-only", PreviousPhase: "dual"},
		Live: []Heartbeat{{Instance: "a", Epoch: 9, Phase: "dual-flipped", LastError: "the control keyspace shows epoch 8 (primary-only), older than the epoch 9 applied: kept dual-flipped"}}}
	if waitReturns(f, 8) {
		t.Fatalf("Wait for epoch 8 (primary-only) returns with instance a at epoch 9 (%s), an epoch the row does not "+
			"know: a refuses epoch 8 and keeps writing and reading in %s", f.Live[0].Phase, f.Live[0].Phase)
	}
}
