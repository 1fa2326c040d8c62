package migration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// fakeFleet is the control keyspace as Wait reads it (fleetSource), with Cassandra's consistency
// semantics for the one thing these tests need: a LOCAL_QUORUM read of the migration's row may
// lag (the LWT committed at QUORUM may have missed the local replica), a SERIAL read sees the
// latest committed change.
type fakeFleet struct {
	mu     sync.Mutex
	local  State // what a LOCAL_QUORUM (or LOCAL_ONE) read of the row returns
	serial State // what a SERIAL read returns: the latest committed change
	hs     []Heartbeat
	handed map[string]int64
	reads  []gocql.Consistency // the consistency of every read of the row
}

func (f *fakeFleet) Get(ctx context.Context, name string, c gocql.Consistency) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, c)
	if c == serialRead {
		return f.serial, nil
	}
	return f.local, nil
}

func (f *fakeFleet) Heartbeats(ctx context.Context, name string, c gocql.Consistency) ([]Heartbeat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Heartbeat, len(f.hs))
	for i, h := range f.hs {
		h.Updated = time.Now() // heartbeating: live
		out[i] = h
	}
	return out, nil
}

func (f *fakeFleet) handedOff(ctx context.Context, name string) (map[string]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int64{}
	for k, v := range f.handed {
		out[k] = v
	}
	return out, nil
}

func (f *fakeFleet) fleetConsistency() gocql.Consistency { return gocql.EachQuorum }

// waitBriefly runs the real Wait for epoch against f, bounded (the bound is Wait's --wait, not a
// speed assertion: these fleets never satisfy a correct Wait).
func waitBriefly(f *fakeFleet, epoch int64) (Fleet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return wait(ctx, f, "m", epoch, 10*time.Millisecond)
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
	f := &fakeFleet{local: lagging, serial: State{Name: "m", Epoch: 3, Phase: "dual-flipped", PreviousPhase: "dual"},
		hs: []Heartbeat{{Instance: "a", Epoch: 3, Phase: "dual-flipped"}}, handed: map[string]int64{"secondary": 5}}
	if _, err := waitBriefly(f, 3); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("Wait for epoch 3 (dual → dual-flipped) with 5 handed-off writes owed to the new authority: err %v, "+
			"want ErrNotApplied (its row read at LOCAL_QUORUM still shows epoch %d, %s from %s: no change of authority)",
			err, lagging.Epoch, lagging.Phase, lagging.PreviousPhase)
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
	row := State{Name: "m", Epoch: 8, Phase: "primary-only", PreviousPhase: "dual"}
	f := &fakeFleet{local: row, serial: row,
		hs: []Heartbeat{{Instance: "a", Epoch: 9, Phase: "dual-flipped", LastError: "the control keyspace shows epoch 8 (primary-only), older than the epoch 9 applied: kept dual-flipped"}}}
	_, err := waitBriefly(f, 8)
	if !errors.Is(err, ErrNotApplied) {
		t.Fatalf("Wait for epoch 8 (primary-only) with instance a at epoch 9 (dual-flipped), an epoch the row does not "+
			"know: err %v, want ErrNotApplied (a refuses epoch 8 and keeps writing and reading in dual-flipped)", err)
	}
	if !strings.Contains(err.Error(), "a (") || !strings.Contains(err.Error(), "older than the epoch 9 applied") {
		t.Fatalf("Wait's error does not name instance a and its refusal: %v", err)
	}
}
