package dualwrite

import (
	"testing"
	"time"
)

// TestMig5StrictSessionWalksTheMigration: a Strict session (no replay log) WithMigration goes
// through every phase the control keyspace sets, both ways, heartbeats each epoch, and leaves the
// fleet at Close: every use of the replay log on the migration's paths (the owed-writes checks
// of each switch, Open's check of the primary, the heartbeat, leave) copes with there being none.
func TestMig5StrictSessionWalksTheMigration(t *testing.T) {
	fc := &fakeControl{}
	fc.set("primary-only", 1)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithPolicy(Strict), withControl(fc)})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"dual", "dual-flipped", "secondary-only", "dual-flipped", "dual", "primary-only"} {
		epoch := int64(i + 2)
		fc.set(p, epoch)
		deadline := time.Now().Add(5 * time.Second)
		for {
			if h, _ := fc.lastBeat(); h.Epoch == epoch && s.Phase().String() == p {
				break
			}
			if time.Now().After(deadline) {
				h, _ := fc.lastBeat()
				t.Fatalf("epoch %d (%s) not applied: heartbeat epoch %d, phase %s, last error %q", epoch, p, h.Epoch, s.Phase(), s.Migration().LastError)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "x").Exec(); err != nil {
			t.Fatalf("write in %s: %v", p, err)
		}
	}
	s.Close()
	fc.mu.Lock()
	ev := fc.events
	fc.mu.Unlock()
	if ev[len(ev)-1] != "delete" {
		t.Fatalf("Close did not remove the heartbeat: last event %q", ev[len(ev)-1])
	}
}
