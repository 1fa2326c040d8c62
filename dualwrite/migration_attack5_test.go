package dualwrite

import (
	"testing"
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
