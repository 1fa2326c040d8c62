package dualwrite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestAttack4OpenFallsBackToAnOlderStateFileOverAReadableEpoch
//
// Promise (docs/migration.md): "Every write that begins after `islands migration set NAME PHASE
// --wait` returned runs in PHASE (or a later phase), on every instance"; "The state file's phase
// goes through the same owed-writes check as SetPhaseWait: Open waits (within MigrationOpenTimeout)
// for the replay log to drain what it owes the side the phase makes authoritative, then fails with
// ErrAuthorityBacklog"; MigrationStateFile is for "when the control keyspace cannot be read".
//
// Interleaving: `set m dual-flipped --wait` returned at epoch 3. Instance i1 restarts with its state
// file at epoch 2 (dual) and a dead letter owed to the secondary in its replay directory; Open reads
// epoch 3 (the control keyspace is readable), cannot make the secondary authoritative over the owed
// write, retries until MigrationOpenTimeout, and then falls back to the state file (startFromState,
// meant for an unreadable control keyspace): Open succeeds in epoch 2's dual, and every write of
// the session begins after --wait returned in a phase older than dual-flipped.
func TestAttack4OpenFallsBackToAnOlderStateFileOverAReadableEpoch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (1)"}}}
	if err := l.DeadLetter(ctx, Record{Entry: *e}, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir() + "/migration-state"
	if err := writeFile(state, "2 dual \"m\"\n"); err != nil {
		t.Fatal(err)
	}
	fc := &fakeControl{}
	fc.set("dual-flipped", 3) // readable all along: set --wait already returned at epoch 3
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(dir),
			withControl(fc, MigrationStateFile(state), MigrationOpenTimeout(300*time.Millisecond))})
	if err != nil {
		return // refusing to open (ErrAuthorityBacklog) keeps the promise
	}
	defer s.Close()
	if s.Phase() != DualFlipped {
		t.Fatalf("Open returned in %s (epoch %d, LastError %q) while the readable control keyspace is at epoch 3 "+
			"(dual-flipped) and set --wait returned: every write of this session begins after --wait in an older phase",
			s.Phase(), s.Migration().Epoch, s.Migration().LastError)
	}
}

// failPutStore is a shared store whose Put fails (a hand-off that times out under
// DefaultHandoffTimeout, a write the control keyspace refuses): the rest works, the control
// keyspace's heartbeat table included.
type failPutStore struct{ *handoff.MemStore }

func (s failPutStore) Put(ctx context.Context, scope string, b handoff.Batch, entries [][]byte) error {
	return errors.New("handoff put: timeout")
}

// TestAttack4CloseLeavesFleetAfterAFailedHandoff
//
// Promise (docs/migration.md: "Close deletes the instance's heartbeat after the hand-off
// (WithHandoff) has put what its replay log owed into the shared store, heartbeating until then:
// a set --wait poll sees either the closing instance behind the epoch or its owed writes in the
// store, never neither"; dualwrite invariant 6; Usage: --wait returns once the new authority had
// no replay backlog, handed-off backlog included).
//
// Interleaving: the instance is in dual (epoch 2) with an acknowledged write owed to the secondary;
// `set dual-flipped --wait` (epoch 3) waits for it. It is SIGTERMed: closeHandoff's Put fails (the
// entries stay in the local log, "for the next session on this directory"), and leave() deletes the
// heartbeat anyway. The next Wait poll sees no instance behind epoch 3 and 0 owed to the secondary,
// and returns while the write is on this pod's disk only.
func TestAttack4CloseLeavesFleetAfterAFailedHandoff(t *testing.T) {
	mem := handoff.NewMemStore()
	var sess *Session
	fc := &leaveSnapshotControl{st: mem, scope: "m", s: &sess}
	fc.set("dual", 2)
	fs := &fakeSides{}
	fs.set(secondarySide, downSide)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fs.exec), WithReplayDir(t.TempDir()), WithFollowerBudget(20 * time.Millisecond),
			withControl(fc),
			WithHandoff(handoffStore(failPutStore{mem}), HandoffInstance("i1"), HandoffLease(5*time.Second),
				HandoffDrain(100*time.Millisecond, 2*time.Second), HandoffCopyAfter(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	sess = s
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	if got := keptFor(t, s, secondarySide); len(got) != 1 {
		t.Fatalf("%d entries kept for the secondary, want 1", len(got))
	}
	fc.set("dual-flipped", 3)
	time.Sleep(100 * time.Millisecond)
	if h, _ := fc.lastBeat(); h.Epoch != 2 {
		t.Fatalf("heartbeat epoch %d: the flip should wait for the backlog owed to the secondary", h.Epoch)
	}
	s.Close()
	fc.snapMu.Lock()
	shared, localOwe, snapped := fc.shared, fc.localOwe, fc.snapped
	fc.snapMu.Unlock()
	if snapped && shared["secondary"] == 0 && len(localOwe) > 0 {
		t.Fatalf("the instance left the fleet (heartbeat deleted) after its hand-off failed: its replay log still owes "+
			"the secondary %d acknowledged writes and the shared store holds %d for it; a `set dual-flipped --wait` poll "+
			"now sees every live instance at epoch 3 and nothing owed to the new authority, and returns",
			len(localOwe), shared["secondary"])
	}
}
