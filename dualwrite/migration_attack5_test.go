package dualwrite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestAttack5StrictSessionCloseLeavesTheFleet
//
// Promise (WithMigration: "Close removes the instance's heartbeat, after the hand-off of its
// replay backlog"; Session.Close: "Close is safe to call concurrently with writes and more than
// once"; WithPolicy(Strict) needs no replay log).
//
// Interleaving: a session WithPolicy(Strict) (no replay log: s.log is nil) WithMigration opens
// and applies epoch 1; the application closes it. leave() asks w.s.log.Backlog() of the nil log.
func TestAttack5StrictSessionCloseLeavesTheFleet(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 1)
	fs := &fakeSides{}
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fs.exec), WithPolicy(Strict), withControl(fc)})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Close of a Strict session (no replay log) WithMigration panicked: %v", r)
			}
		}()
		s.Close()
	}()
	fc.mu.Lock()
	ev := fc.events
	fc.mu.Unlock()
	if len(ev) == 0 || ev[len(ev)-1] != "delete" {
		t.Fatalf("Close did not remove the heartbeat: events %v", ev)
	}
}

// TestAttack5CloseLeavesFleetWithADeadLetterOwedToTheNewAuthority
//
// Promise (dualwrite/migration.go invariant: "Close leaves the fleet (deletes the heartbeat) only
// after the hand-off (WithHandoff) has put what the replay log owed into the shared store ... a
// Wait for an epoch that moves authority sees either this instance behind it or the owed writes in
// the store, never neither"; Usage: `set --wait` returns once "the new authority had no replay
// backlog, handed-off backlog included"). A dead letter for the secondary is such an owed write:
// it keeps this very instance's flip to dual-flipped waiting (pendingFor counts it), and the
// hand-off at Close tries to put it in the store (handAside).
//
// Interleaving: the instance is in dual (epoch 2) with a dead letter for the secondary (an
// acknowledged write it lacks); `set dual-flipped --wait` (epoch 3): its flip waits, its heartbeat
// stays at 2, Wait waits. SIGTERM: closeHandoff's handAside fails (the store refuses the Put), is
// only logged ("dead letters or uncertain writes stay on this disk only"), closeHandoff returns nil;
// leave() sees log.Backlog() == 0 and DELETES the heartbeat. The next Wait poll sees no instance
// behind epoch 3 and 0 owed to the secondary in the store, and returns. The same without WithHandoff
// (the docs: "or there is none ... Close does not delete the heartbeat"): leave() looks at
// log.Backlog() only, which does not count dead letters (nor uncertain writes).
func TestAttack5CloseLeavesFleetWithADeadLetterOwedToTheNewAuthority(t *testing.T) {
	t.Run("handoff fails", func(t *testing.T) { attack5DeadLetterAtClose(t, true) })
	t.Run("no handoff", func(t *testing.T) { attack5DeadLetterAtClose(t, false) })
}

func attack5DeadLetterAtClose(t *testing.T, withHandoff bool) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (1, 'x')"}}}
	if err := l.DeadLetter(ctx, Record{Entry: *e}, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mem := handoff.NewMemStore()
	fc := &fakeControl{}
	fc.set("dual", 2)
	opts := []Option{withExecHook((&fakeSides{}).exec), WithReplayDir(dir), withControl(fc)}
	if withHandoff {
		opts = append(opts, WithHandoff(handoffStore(failPutStore{mem}), HandoffInstance("i1"), HandoffLease(5*time.Second),
			HandoffDrain(50*time.Millisecond, 2*time.Second), HandoffCopyAfter(time.Hour)))
	}
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	fc.set("dual-flipped", 3) // the operator's set; --wait polls the fleet
	time.Sleep(100 * time.Millisecond)
	if h, _ := fc.lastBeat(); h.Epoch != 2 || s.Phase() != Dual {
		t.Fatalf("heartbeat epoch %d, phase %s: the flip should wait for the dead letter owed to the secondary", h.Epoch, s.Phase())
	}
	s.Close()
	fc.mu.Lock()
	ev := append([]string(nil), fc.events...)
	fc.mu.Unlock()
	l, err = OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	local, _ := l.DeadLettersFor("secondary")
	shared, _ := handoff.Backlog(ctx, mem, "m")
	if ev[len(ev)-1] == "delete" && local > 0 && shared["secondary"] == 0 {
		t.Fatalf("Close deleted the heartbeat (the instance left the fleet) while %d dead letter(s) owed to the secondary "+
			"stay on its disk only and the shared store owes the secondary %d: a `set dual-flipped --wait` poll now "+
			"sees nobody behind epoch 3 and nothing owed to the new authority, and returns", local, shared["secondary"])
	}
}
