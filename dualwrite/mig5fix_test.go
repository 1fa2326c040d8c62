package dualwrite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
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

// TestMig5SinkTakesNothingItsAuthorityLacks drives the hand-off's sink (what the Adopter calls with
// a claimed batch) on a session reading the secondary (dual-flipped) with batches of every kind
// for each side: a batch holding a write owed to the secondary is taken only once each such write
// landed there (a replay entry that lands); a dead letter, an uncertain write, an entry this
// version cannot decode or a replay entry the secondary refuses leaves the batch in the store
// (the error) and nothing here. Batches for the primary are kept in the store of their kind.
func TestMig5SinkTakesNothingItsAuthorityLacks(t *testing.T) {
	ctx := context.Background()
	refuse := map[int64]bool{}
	var refuseMu sync.Mutex
	fs := &fakeSides{}
	fs.set(secondarySide, func(_ context.Context, op *writeOp) (bool, error) {
		refuseMu.Lock()
		defer refuseMu.Unlock()
		if refuse[op.ts] {
			return false, errInvalidTable
		}
		return true, nil
	})
	// The primary is down for replays: what is appended for it stays in the log (counted here).
	fs.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("primary: timeout") })
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fs.exec), WithReplayDir(t.TempDir()), WithPhase(DualFlipped),
			WithHandoff(handoffStore(handoff.NewMemStore()), HandoffInstance("z1"), HandoffCopyAfter(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enc := func(sd string, ts int64) []byte {
		raw, err := encodeEntry(&Entry{Side: sd, Timestamp: ts, Logged: time.Now(), Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (1, 'x')"}}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	refuseMu.Lock()
	refuse[40] = true
	refuseMu.Unlock()
	for _, c := range []struct {
		name   string
		kind   string
		side   string
		raws   [][]byte
		taken  bool
		keptUp bool // a taken batch is kept here, owed to the primary
	}{
		{"dead letter for the authority", handoff.KindDeadLetter, "secondary", [][]byte{enc("secondary", 10)}, false, false},
		{"uncertain for the authority", handoff.KindUncertain, "secondary", [][]byte{enc("secondary", 20)}, false, false},
		{"undecodable replay for the authority", handoff.KindReplay, "secondary", [][]byte{enc("secondary", 30), []byte("\xffgarbage")}, false, false},
		{"replay the authority refuses", handoff.KindReplay, "secondary", [][]byte{enc("secondary", 41), enc("secondary", 40)}, false, false},
		{"replay that lands on the authority", handoff.KindReplay, "secondary", [][]byte{enc("secondary", 50)}, true, false},
		{"dead letter for the primary", handoff.KindDeadLetter, "primary", [][]byte{enc("primary", 60)}, true, true},
		{"uncertain for the primary", handoff.KindUncertain, "primary", [][]byte{enc("primary", 70)}, true, true},
		{"replay for the primary", handoff.KindReplay, "primary", [][]byte{enc("primary", 80)}, true, true},
	} {
		before := s.owedHere()
		b := handoff.Batch{ID: "b-" + c.name + handoff.KindSuffix(c.kind), Side: c.side, Entries: len(c.raws), Origin: "y1"}
		err := s.ho.sink(ctx, b, c.raws)
		after := s.owedHere()
		if c.taken != (err == nil) {
			t.Fatalf("%s: sink = %v, want taken %v", c.name, err, c.taken)
		}
		if !c.taken && !errors.Is(err, errOwedToAuthority) {
			t.Fatalf("%s: sink = %v, want errOwedToAuthority", c.name, err)
		}
		if after[secondarySide] != 0 {
			t.Fatalf("%s: this instance, reading the secondary, now owes it %d writes taken from the store", c.name, after[secondarySide])
		}
		if c.keptUp && after[primarySide] != before[primarySide]+int64(len(c.raws)) {
			t.Fatalf("%s: owed to the primary %d → %d, want +%d", c.name, before[primarySide], after[primarySide], len(c.raws))
		}
	}
}

// TestMig5HandoffCannotStoreAnUncertainWriteKeptInMemory: a session WithHandoff whose uncertain
// store could not keep an uncertain write for the secondary holds it in memory only (the state
// recordUncertain leaves after a failed record). No hand-off can store it: Close's hand-off must
// report failure and Close must keep the heartbeat, although the store answers every write.
func TestMig5HandoffCannotStoreAnUncertainWriteKeptInMemory(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 2)
	mem := handoff.NewMemStore()
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(t.TempDir()), withControl(fc),
			WithHandoff(handoffStore(mem), HandoffInstance("i1"), HandoffLease(5*time.Second),
				HandoffDrain(50*time.Millisecond, 2*time.Second), HandoffCopyAfter(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	s.keepUncertainInMemory(Uncertain{Side: "secondary", Stmt: "UPDATE c SET n = n + 1 WHERE k = 1", Err: "timeout", At: time.Now()})
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
		bl, _ := handoff.Backlog(context.Background(), mem, "m")
		t.Fatalf("Close deleted the heartbeat while an uncertain write for the secondary was in this process's memory only "+
			"(the store owes the secondary %d)", bl["secondary"])
	}
}
