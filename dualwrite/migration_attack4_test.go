package dualwrite

import (
	"context"
	"errors"
	"testing"
	"time"
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
