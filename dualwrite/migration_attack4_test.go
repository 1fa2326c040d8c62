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

// TestAttack4AdoptedBacklogHidesFromWait
//
// Promise (migration.Usage: `set --wait` returns "once every live instance applied it (and so the
// new authority had no replay backlog, handed-off backlog included)"; docs/migration.md: a --wait
// that moves authority returns only once every live instance applied it and the handed-off count
// is 0 for the new authority).
//
// Interleaving: `set m dual-flipped --wait` (epoch 3): instance z applies it (no backlog); instance
// y, still in dual with an acknowledged write owed to the secondary, is SIGTERMed and hands it off
// (Wait sees it in the store and waits). z — already reading the secondary — adopts the batch into
// its own log (adoption never looks at the phase); the store's count drops to 0 while the write is
// still owed to the secondary. The next Wait poll sees every live heartbeat at epoch 3 and 0 owed
// to the secondary, and returns; z's reads go to a secondary lacking y's acknowledged write.
func TestAttack4AdoptedBacklogHidesFromWait(t *testing.T) {
	st := handoff.NewMemStore()
	// z: in dual-flipped at epoch 3 before y leaves; its replays to the secondary do not land yet.
	fz := &fakeControl{}
	fz.set("dual-flipped", 3)
	zs := &fakeSides{}
	zs.set(secondarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		return false, errors.New("secondary: timeout")
	})
	zmig := WithMigration(nil, "m", "z1", MigrationPoll(5*time.Millisecond), MigrationHeartbeat(20*time.Millisecond, time.Second))
	z, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(zs.exec), WithReplayDir(t.TempDir()),
			func(c *config) { zmig(c); c.migration.control = fz },
			WithHandoff(handoffStore(st), HandoffInstance("z1"), HandoffLease(5*time.Second),
				HandoffDrain(50*time.Millisecond, 2*time.Second), HandoffCopyAfter(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if z.Phase() != DualFlipped {
		t.Fatalf("z opened in %s", z.Phase())
	}
	// y: in dual at epoch 2 (behind), an acknowledged write owed to the secondary; SIGTERM.
	fy := &fakeControl{}
	fy.set("dual", 2)
	ys := &fakeSides{}
	ys.set(secondarySide, downSide)
	y, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(ys.exec), WithReplayDir(t.TempDir()), WithFollowerBudget(20 * time.Millisecond),
			withControl(fy),
			WithHandoff(handoffStore(st), HandoffInstance("i1"), HandoffLease(5*time.Second),
				HandoffDrain(50*time.Millisecond, 2*time.Second), HandoffCopyAfter(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if err := y.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	y.Close()
	if bl, _ := handoff.Backlog(context.Background(), st, "m"); bl["secondary"] != 1 {
		t.Fatalf("after y's hand-off the store owes the secondary %d, want 1", bl["secondary"])
	}
	// What a Wait poll for epoch 3 sees once z has adopted: z's heartbeat at 3, the store's count.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		bl, _ := handoff.Backlog(context.Background(), st, "m")
		h, _ := fz.lastBeat()
		if bl["secondary"] == 0 && h.Epoch == 3 && z.Phase() == DualFlipped {
			if owed := keptFor(t, z, secondarySide); len(owed) > 0 {
				t.Fatalf("a `set dual-flipped --wait` poll now sees every live instance at epoch 3 and 0 handed-off writes "+
					"owed to the secondary, and returns; but z (reading the secondary) holds %d acknowledged writes the "+
					"secondary lacks, adopted from y after z had flipped", len(owed))
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Log("z never adopted y's batch")
}

// TestAttack4SameEpochOtherPhaseKeptSilently
//
// Promise (docs/migration.md invariant 3 and "A session cut off from the control keyspace": an
// epoch that is not the one applied is applied or reported — "an epoch lower than the one applied
// (a control keyspace restored from an old backup) is reported and never applied"; the remedy it
// gives is "set the migration forward past their epoch"; WithMigration: the control keyspace owns
// the phase).
//
// Interleaving: the instance applied epoch 9 = dual-flipped; the control keyspace is restored to
// epoch 7 and set forward, 8 = primary-only (refused, reported), then 9 = dual. The watcher sees
// epoch 9 == applied, keeps dual-flipped, clears LastError and heartbeats epoch 9: nothing says the
// instance runs a phase the migration's epoch 9 does not have (and `set dual --wait` returns).
func TestAttack4SameEpochOtherPhaseKeptSilently(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual-flipped", 9)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fc.set("dual", 7) // restored from a backup
	fc.set("primary-only", 8)
	time.Sleep(50 * time.Millisecond)
	fc.set("dual", 9) // forward again, to the instance's epoch
	time.Sleep(100 * time.Millisecond)
	m := s.Migration()
	h, _ := fc.lastBeat()
	if s.Phase() != Dual && m.LastError == "" {
		t.Fatalf("control keyspace at epoch 9 = dual; the instance runs %s at epoch %d (heartbeat epoch %d %s) with no error: "+
			"it counts as having applied epoch 9", s.Phase(), m.Epoch, h.Epoch, h.Phase)
	}
}
