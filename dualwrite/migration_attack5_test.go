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

// TestAttack5AdoptedDeadLetterHidesFromWait
//
// Promise (docs/migration.md, Handed-off backlog: "A set --wait that moves authority (dual →
// dual-flipped, or back) returns only once every live instance applied it and that count is 0 for
// the new authority ... an instance's log never takes, from the store, a write its own authority
// lacks"; Usage: --wait returns once "the new authority had no replay backlog, handed-off backlog
// included"). A dead letter for the secondary is an acknowledged write the secondary lacks: an
// instance's own flip to dual-flipped waits for it (pendingFor counts dead letters), and the
// store's per-side count includes handed-off dead letters (Wait waits for it).
//
// Interleaving: `set dual-flipped --wait` (epoch 3): z has applied it and reads the secondary. y,
// in dual (epoch 2) with a dead letter for the secondary, is SIGTERMed and hands it off (the store
// owes the secondary 1; Wait waits). z adopts the dead-letter batch (sinkAside: no phase check, no
// landing on the authority first, unlike replay batches) into its own dead-letter store; the
// store's count drops to 0. The next Wait poll sees every live heartbeat at epoch 3 and nothing
// owed to the secondary, and returns while z reads a secondary that lacks y's acknowledged write.
func TestAttack5AdoptedDeadLetterHidesFromWait(t *testing.T) {
	ctx := context.Background()
	st := handoff.NewMemStore()
	fz := &fakeControl{}
	fz.set("dual-flipped", 3)
	zmig := WithMigration(nil, "m", "z1", MigrationPoll(5*time.Millisecond), MigrationHeartbeat(20*time.Millisecond, time.Second))
	z, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(t.TempDir()),
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
	// y: in dual at epoch 2 with a dead letter owed to the secondary; SIGTERM.
	ydir := t.TempDir()
	l, err := OpenFileLog(ydir, 0)
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
	fy := &fakeControl{}
	fy.set("dual", 2)
	y, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(ydir), withControl(fy),
			WithHandoff(handoffStore(st), HandoffInstance("i1"), HandoffLease(5*time.Second),
				HandoffDrain(50*time.Millisecond, 2*time.Second), HandoffCopyAfter(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	y.Close()
	if bl, _ := handoff.Backlog(ctx, st, "m"); bl["secondary"] != 1 {
		t.Fatalf("after y's hand-off the store owes the secondary %d, want 1", bl["secondary"])
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		bl, _ := handoff.Backlog(ctx, st, "m")
		h, _ := fz.lastBeat()
		if bl["secondary"] == 0 && h.Epoch == 3 && z.Phase() == DualFlipped {
			if d, _ := z.log.(*FileLog).DeadLettersFor("secondary"); d > 0 {
				t.Fatalf("a `set dual-flipped --wait` poll now sees every live instance at epoch 3 and 0 handed-off writes "+
					"owed to the secondary, and returns; but z (reading the secondary) holds %d dead letter(s) for the "+
					"secondary — acknowledged writes it lacks — adopted from y after z had flipped", d)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Log("z never adopted y's dead letter")
}
