package dualwrite

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
	"github.com/globalcloud/islands/migration"
)

// leaveSnapshotControl is fakeControl that, when the instance leaves the fleet (DeleteHeartbeat),
// does what an operator's `set --wait` poll does at that instant: it reads the shared store's
// backlog per side (the instance's row is gone, so the store is all Wait can see of it).
type leaveSnapshotControl struct {
	fakeControl
	st       *handoff.MemStore
	scope    string
	s        **Session
	snapMu   sync.Mutex
	snapped  bool
	shared   map[string]int64
	localOwe []int64
}

func (c *leaveSnapshotControl) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	c.snapMu.Lock()
	if !c.snapped {
		c.snapped = true
		c.shared, _ = handoff.Backlog(ctx, c.st, c.scope)
		if s := *c.s; s != nil {
			recs, _ := s.log.(*FileLog).PendingEntries(1 << 20)
			for _, r := range recs {
				if entrySide(&r.Entry) == secondarySide {
					c.localOwe = append(c.localOwe, r.Entry.Timestamp)
				}
			}
		}
	}
	c.snapMu.Unlock()
	return c.fakeControl.DeleteHeartbeat(ctx, name, instance)
}

// TestAttack3CloseLeavesFleetBeforeHandingOff
//
// Promise (migration.Usage: `set --wait` returns "once every live instance applied it (and so the
// new authority had no replay backlog, handed-off backlog included)"; docs/migration.md: a set
// --wait that moves authority returns only once every live instance applied it AND the handed-off
// count for the new authority is 0; dualwrite H5: "the fleet's set --wait reads the store itself").
//
// Interleaving: an instance in dual (epoch 2) holds an acknowledged write owed to the secondary;
// the operator sets dual-flipped (epoch 3) and --wait waits for it (its flip waits for the backlog).
// It is SIGTERMed: Close drains for HandoffDrain, then closes stop, and the watcher DELETES ITS
// HEARTBEAT before closeHandoff puts the owed write into the shared store. A Wait poll in that
// window sees no instance behind epoch 3 and 0 owed to the secondary, and returns: the fleet reads
// the secondary while an acknowledged write is in neither the fleet nor the store.
func TestAttack3CloseLeavesFleetBeforeHandingOff(t *testing.T) {
	st := handoff.NewMemStore()
	var sess *Session
	fc := &leaveSnapshotControl{st: st, scope: "m", s: &sess}
	fc.set("dual", 2)
	fs := &fakeSides{}
	fs.set(secondarySide, downSide)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(fs.exec), WithReplayDir(t.TempDir()), WithFollowerBudget(20 * time.Millisecond),
			withControl(fc),
			WithHandoff(handoffStore(st), HandoffInstance("i1"), HandoffLease(5*time.Second),
				HandoffDrain(100*time.Millisecond, 5*time.Second), HandoffCopyAfter(time.Hour))})
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
	fc.set("dual-flipped", 3) // the operator's set; --wait now polls the fleet
	time.Sleep(100 * time.Millisecond)
	if h, _ := fc.lastBeat(); h.Epoch != 2 {
		t.Fatalf("heartbeat epoch %d: the flip should wait for the backlog owed to the secondary", h.Epoch)
	}
	s.Close()
	fc.snapMu.Lock()
	shared, localOwe, snapped := fc.shared, fc.localOwe, fc.snapped
	fc.snapMu.Unlock()
	if !snapped {
		t.Fatal("Close never removed the heartbeat")
	}
	after, _ := handoff.Backlog(context.Background(), st, "m")
	if shared["secondary"] == 0 && len(localOwe) > 0 {
		t.Fatalf("the instance left the fleet (heartbeat deleted) while its replay log still owed the secondary %d "+
			"acknowledged writes and the shared store held %d for it: a `set dual-flipped --wait` poll then sees every "+
			"live instance at epoch 3 and nothing owed to the new authority, and returns (the store gets them only later: %v)",
			len(localOwe), shared["secondary"], after)
	}
}

// TestAttack3PollLongerThanTTLDropsLiveInstance
//
// Promise (MigrationHeartbeat: "sets how often the heartbeat is written and its TTL, after which
// an instance that STOPPED heartbeating drops out of the fleet ... Open refuses a ttl under three
// heartbeat intervals (one slow or lost heartbeat must not drop a live instance)"; docs/migration.md:
// every write that begins after `set --wait` returned runs in PHASE).
//
// Interleaving: MigrationPoll(400ms), MigrationHeartbeat(50ms, 150ms) — accepted by Open. The
// watcher heartbeats only on its poll ticks, so the healthy, reachable instance's row lives 150ms
// of every 400ms. In a dead window the operator sets dual (epoch 2) and Wait finds no live row and
// returns; the application's next write still runs in primary-only (the watcher has not polled).
func TestAttack3PollLongerThanTTLDropsLiveInstance(t *testing.T) {
	c := &ttlControl{phase: "primary-only", epoch: 1}
	fs := &fakeSides{}
	s, err := newMigrationSession(fs, withControl(c, MigrationPoll(400*time.Millisecond),
		MigrationHeartbeat(50*time.Millisecond, 150*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(3 * time.Second)
	waitReturned := false
	var since time.Duration
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if !c.live(time.Now()) { // the operator's `set dual --wait`: LWT, then Wait reads no live row
			c.phase, c.epoch = "dual", 2
			waitReturned = true
			since = time.Since(c.rowAt)
		}
		c.mu.Unlock()
		if waitReturned {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !waitReturned {
		return // the row never lapsed: the promise held
	}
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	reachedSecondary := len(fs.seen[secondarySide]) > 0
	fs.mu.Unlock()
	if !reachedSecondary {
		t.Fatalf("a live, reachable instance (heartbeat every 50ms asked, TTL 150ms) had no live row: no heartbeat for "+
			"%s (they go out only on poll ticks, every 400ms); `set dual --wait` (epoch 2) returned without it and its "+
			"next write ran in %s", since.Round(time.Millisecond), s.Phase())
	}
}

// slowReadControl is ttlControl whose reads take slow while slowOn is set (a slow control replica,
// answering within the watcher's read timeout).
type slowReadControl struct {
	ttlControl
	slow   time.Duration
	slowOn bool
}

func (c *slowReadControl) Phase(ctx context.Context, name string) (string, int64, error) {
	c.mu.Lock()
	p, e, slow := c.phase, c.epoch, c.slowOn
	c.mu.Unlock()
	if slow {
		select {
		case <-time.After(c.slow):
		case <-ctx.Done():
			return "", 0, ctx.Err()
		}
	}
	return p, e, nil
}

// TestAttack3SlowControlReadDropsLiveInstance
//
// Promise (as above: "one slow or lost heartbeat must not drop a live instance"; every write that
// begins after `set --wait` returned runs in PHASE).
//
// Interleaving: MigrationPoll(50ms), MigrationHeartbeat(200ms, 600ms) — accepted by Open. One
// control read takes 1.5s (a slow replica; the watcher's read timeout is max(4 polls, 2s) = 2s, so
// it is not an error). The heartbeat waits behind the read, the row expires at 600ms; the operator
// sets dual (epoch 2) and Wait finds no live row and returns; the read in flight returns epoch 1 and
// the application's write runs in primary-only.
func TestAttack3SlowControlReadDropsLiveInstance(t *testing.T) {
	c := &slowReadControl{ttlControl: ttlControl{phase: "primary-only", epoch: 1}, slow: 1500 * time.Millisecond}
	fs := &fakeSides{}
	s, err := newMigrationSession(fs, withControl(c, MigrationPoll(50*time.Millisecond),
		MigrationHeartbeat(200*time.Millisecond, 600*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.mu.Lock()
	c.slowOn = true
	c.mu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	waitReturned := false
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if !c.live(time.Now()) {
			c.phase, c.epoch = "dual", 2 // `set dual --wait`: no live row, Wait returns
			waitReturned = true
		}
		c.mu.Unlock()
		if waitReturned {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	c.slowOn = false
	c.mu.Unlock()
	if !waitReturned {
		return
	}
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	reachedSecondary := len(fs.seen[secondarySide]) > 0
	fs.mu.Unlock()
	if !reachedSecondary {
		t.Fatalf("a live instance whose control read was slow (1.5s, within its own 2s read timeout) stopped "+
			"heartbeating meanwhile; its row (TTL 600ms) expired, `set dual --wait` (epoch 2) returned without it, and "+
			"its next write ran in %s", s.Phase())
	}
}

// TestAttack3RestoredControlKeyspaceNextSetCountedApplied
//
// Promise (docs/migration.md: "Every write that begins after `islands migration set NAME PHASE
// --wait` returned runs in PHASE (or a later phase), on every instance"; "an epoch lower than the
// one applied (a control keyspace restored from an old backup) is reported and never applied").
//
// Interleaving: the instance applied epoch 9 (dual-flipped). The control keyspace is restored from
// a backup holding epoch 7 (dual). The operator rolls back: `set primary-only --wait` → epoch 8. The
// watcher refuses epoch 8 (older than 9) and keeps dual-flipped, but its heartbeat says epoch 9 >= 8,
// so Wait's Behind(8) is empty and `set --wait` returns success: the instance keeps reading the
// secondary and writing both sides in a phase the operator rolled back from, and nothing fails.
func TestAttack3RestoredControlKeyspaceNextSetCountedApplied(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual-flipped", 9)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fc.set("dual", 7)         // restored from a backup
	fc.set("primary-only", 8) // the operator's `set NAME primary-only --wait` on the restored row
	time.Sleep(100 * time.Millisecond)
	h, _ := fc.lastBeat()
	behind := migration.Fleet{Live: []migration.Heartbeat{h}}.Behind(8)
	if len(behind) == 0 && s.Phase() != PrimaryOnly {
		t.Fatalf("`set primary-only --wait` (epoch 8) sees this instance as applied (heartbeat epoch %d %s), yet it "+
			"runs %s and never applies epoch 8 (last error %q)", h.Epoch, h.Phase, s.Phase(), s.Migration().LastError)
	}
}

// withNamedControl is withControl for a migration of another name.
func withNamedControl(cp controlPlane, name string, opts ...MigrationOption) Option {
	opts = append([]MigrationOption{MigrationPoll(5 * time.Millisecond), MigrationHeartbeat(20*time.Millisecond, time.Second)}, opts...)
	mo := WithMigration(nil, name, "i1", opts...)
	return func(c *config) { mo(c); c.migration.control = cp }
}

// TestAttack3StateFileOfAnotherMigrationApplied
//
// Promise (WithMigration / docs/migration.md: "a session never guesses which sides to write";
// MigrationStateFile keeps "the last applied epoch and phase" of the migration, so Open can start
// in it when the control keyspace cannot be read; the docs' example path, /var/lib/app/dualwrite-phase,
// names no migration).
//
// Interleaving: the service's first migration ("users") ended in secondary-only at epoch 6 and left
// its state file. The next migration of the same service ("orders", new name, same state file path)
// is created at primary-only, epoch 1. Open reads epoch 1 at SERIAL, finds it below the file's
// epoch 6 (the file records no migration name), retries it as a stale read until its deadline, and
// starts in the other migration's secondary-only; it heartbeats epoch 6 into orders' fleet and
// refuses orders' epochs up to 6 as "older": writes reach the secondary only, and every
// `set orders … --wait` up to epoch 6 counts it as applied.
func TestAttack3StateFileOfAnotherMigrationApplied(t *testing.T) {
	state := t.TempDir() + "/dualwrite-phase"
	old := &fakeControl{}
	old.set("secondary-only", 6)
	s, err := newMigrationSession(&fakeSides{}, withNamedControl(old, "users", MigrationStateFile(state)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	fc := &fakeControl{}
	fc.set("primary-only", 1) // `islands migration set orders primary-only`
	fs := &fakeSides{}
	s, err = newMigrationSession(fs, withNamedControl(fc, "orders", MigrationStateFile(state), MigrationOpenTimeout(300*time.Millisecond)))
	if err != nil {
		return // refusing to open is safe
	}
	defer s.Close()
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	reachedPrimary := len(fs.seen[primarySide]) > 0
	fs.mu.Unlock()
	var h migration.Heartbeat
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if h, _ = fc.lastBeat(); h.Epoch >= 0 {
			break
		}
	}
	if s.Phase() != PrimaryOnly || !reachedPrimary {
		t.Fatalf("migration orders is primary-only (epoch 1), readable; the session runs %s from the state file of "+
			"migration users (epoch %d), its write reached the primary: %v, and it heartbeats epoch %d into orders' fleet",
			s.Phase(), s.Migration().Epoch, reachedPrimary, h.Epoch)
	}
}
