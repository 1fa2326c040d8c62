package dualwrite

import (
	"context"
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

// TestMig5StrictCloseKeepsTheRowOverAnUncertainWrite: a Strict session (no replay log) WithMigration
// in dual records an LWT whose outcome on the secondary is unknown in memory (Session.Uncertain);
// the flip to dual-flipped waits for it (pendingFor counts it). At Close nothing can store it: the
// instance owes it (owed.go), so Close must not delete its heartbeat (the row stays behind the epoch
// it could not apply until its TTL), or a `set dual-flipped --wait` poll sees nobody behind and
// returns while the secondary may lack an acknowledged write.
func TestMig5StrictCloseKeepsTheRowOverAnUncertainWrite(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 2)
	fs := &fakeSides{}
	fs.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fs.exec), WithPolicy(Strict), withControl(fc)})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Query("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS", 1, "x").MapScanCAS(map[string]any{})
	if s.uncertainInMemoryFor(secondarySide) == 0 {
		t.Fatalf("the LWT whose secondary timed out was not recorded as uncertain in memory: %v", s.Uncertain())
	}
	fc.set("dual-flipped", 3)
	time.Sleep(100 * time.Millisecond)
	if h, _ := fc.lastBeat(); h.Epoch != 2 {
		t.Fatalf("heartbeat epoch %d: the flip should wait for the uncertain write owed to the secondary", h.Epoch)
	}
	s.Close()
	fc.mu.Lock()
	ev := fc.events
	fc.mu.Unlock()
	if ev[len(ev)-1] == "delete" {
		t.Fatalf("Close deleted the heartbeat while an uncertain write for the secondary is kept in this process's memory only")
	}
}
