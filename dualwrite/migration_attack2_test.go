package dualwrite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/migration"
)

// slowAckControl is ttlControl whose registration (epoch -1) lands at once — its TTL runs from
// then, as a Cassandra row's does — but whose acknowledgement reaches the instance only after
// ackDelay (a slow coordinator reply, a retried write whose first attempt landed).
type slowAckControl struct {
	*ttlControl
	ackDelay time.Duration
}

func (c *slowAckControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	if err := c.ttlControl.WriteHeartbeat(ctx, h, ttl); err != nil {
		return err
	}
	if h.Epoch < 0 {
		time.Sleep(c.ackDelay)
	}
	return nil
}

// TestAttack2RegistrationAgeCountedFromTheAck
//
// Promise (dualwrite/migration.go invariant 1, migration invariant 3): Open "applies no read the
// registration may have expired before"; every write after `set --wait` runs in the new phase.
//
// Interleaving: the registration row lands at t0 (TTL 150ms) but its ack returns at t0+200ms, and
// Open stamps lastBeat then; the row has already expired, the read at t0+200ms shows epoch 1
// (primary-only), the operator then sets dual (epoch 2) and Wait finds no live row and returns;
// Open's check measures the registration's age from the ack (~0ms < TTL), applies epoch 1, and the
// first write after `set --wait` returned goes to the primary only.
func TestAttack2RegistrationAgeCountedFromTheAck(t *testing.T) {
	var waitReturned bool
	inner := &ttlControl{phase: "primary-only", epoch: 1}
	inner.onRead = func(c *ttlControl) {
		c.phase, c.epoch = "dual", 2
		waitReturned = !c.live(time.Now()) || c.rowEpoch >= 2
	}
	c := &slowAckControl{ttlControl: inner, ackDelay: 200 * time.Millisecond}
	fs := &fakeSides{}
	s, err := newMigrationSession(fs, withControl(c, MigrationPoll(20*time.Millisecond),
		MigrationHeartbeat(50*time.Millisecond, 150*time.Millisecond), MigrationOpenTimeout(3*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inner.mu.Lock()
	wr := waitReturned
	inner.mu.Unlock()
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	reachedSecondary := len(fs.seen[secondarySide]) > 0
	fs.mu.Unlock()
	if wr && !reachedSecondary {
		t.Fatalf("`set dual --wait` (epoch 2) returned while this instance's registration had expired (its age was "+
			"counted from the write's ack, not from when it landed), yet its first write after that ran in %s and missed the secondary", s.Phase())
	}
}

// laggingControl is the control keyspace of a multi-datacenter cluster whose local replica missed
// the last change: the LWT commits at QUORUM across the datacenters (Store.compareAndSet), so with
// the default replication (one replica per datacenter, three regions) one region's LOCAL_QUORUM
// read may show the epoch before it until hints land, while a SERIAL read shows the committed one.
type laggingControl struct {
	fakeControl
	local, serial struct {
		phase string
		epoch int64
	}
}

func (c *laggingControl) Phase(ctx context.Context, name string) (string, int64, error) {
	return c.local.phase, c.local.epoch, nil
}

func (c *laggingControl) PhaseSerial(ctx context.Context, name string) (string, int64, error) {
	return c.serial.phase, c.serial.epoch, nil
}

// TestAttack2NewInstanceReadsALaggingReplica
//
// Promise (docs/migration.md rule 1, migration invariant 3): "An operator who misses the registration
// changed the phase before it, so the instance's read sees the change"; every write that begins
// after `set --wait` returned runs in PHASE.
//
// Interleaving: the operator's LWT commits dual (epoch 2) at QUORUM, missing region C's replica;
// `--wait` sees no instance and returns. Then an instance starts in region C (no state file),
// registers, reads epoch 1 (primary-only) at LOCAL_QUORUM from the lagging replica and applies it;
// Open never asks SERIAL (only a state file's floor triggers that), so its first write misses the secondary.
func TestAttack2NewInstanceReadsALaggingReplica(t *testing.T) {
	c := &laggingControl{}
	c.local.phase, c.local.epoch = "primary-only", 1
	c.serial.phase, c.serial.epoch = "dual", 2 // committed before the instance registered
	fs := &fakeSides{}
	s, err := newMigrationSession(fs, withControl(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	reachedSecondary := len(fs.seen[secondarySide]) > 0
	fs.mu.Unlock()
	if !reachedSecondary {
		t.Fatalf("an instance that registered after `set dual --wait` (epoch 2) returned applied epoch %d (%s) from a "+
			"lagging LOCAL_QUORUM read, and its first write missed the secondary", s.Migration().Epoch, s.Phase())
	}
}

// TestAttack2AcknowledgedEpochNotInStateFile
//
// Promise (dualwrite/migration.go: "The applied epoch only grows, across restarts too (the state
// file's epoch is Open's floor)"; docs/migration.md: every write that begins after `set --wait`
// returned runs in PHASE).
//
// Interleaving: the state file says epoch 1 (primary-only) and cannot be replaced (full or
// read-only volume: here the temporary file's name is taken); the watcher applies dual (epoch 2),
// saveState fails with a log line only, and the heartbeat acknowledges epoch 2, so `set --wait`
// returns. The process restarts while the control keyspace is down: Open starts from the state
// file in epoch 1's primary-only, and its writes miss the secondary.
func TestAttack2AcknowledgedEpochNotInStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(state, []byte("1 primary-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state+".tmp", 0o700); err != nil { // saveState's Create fails
		t.Fatal(err)
	}
	fc := &fakeControl{}
	fc.set("dual", 2)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state)))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := fc.lastBeat()
	s.Close()
	if h.Epoch != 2 {
		t.Skipf("epoch 2 not acknowledged (heartbeat %d): no promise made", h.Epoch)
	}
	fc.setDown(true)
	s, err = newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state), MigrationOpenTimeout(100*time.Millisecond)))
	if err != nil {
		return // refusing to start is safe
	}
	defer s.Close()
	if s.Phase() != Dual {
		t.Fatalf("the instance acknowledged epoch 2 (dual) without persisting it; restarted with the control keyspace "+
			"down it runs epoch %d (%s): an older epoch after a newer one", s.Migration().Epoch, s.Phase())
	}
}

// failFirstAckControl is fakeControl whose first heartbeat at an epoch >= 0 fails (a write timeout).
type failFirstAckControl struct {
	fakeControl
	failed bool
}

func (c *failFirstAckControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	if h.Epoch >= 0 && !c.failed {
		c.failed = true
		return context.DeadlineExceeded
	}
	return c.fakeControl.WriteHeartbeat(ctx, h, ttl)
}

// TestAttack2OpenReturnsBeforeTheEpochIsHeartbeated
//
// Promise (dualwrite/migration.go invariant 1; docs/migration.md rule 1): Open "does not return
// before the phase read is applied and heartbeated: no write of the session runs in a phase the
// fleet cannot see".
//
// Interleaving: Open registers (epoch -1), reads dual (epoch 2), applies it; the acknowledging
// heartbeat times out; the retried read shows epoch 2 == applied, poll returns nil and Open returns
// with the fleet still showing this instance at -1 (no phase) while it writes in dual.
func TestAttack2OpenReturnsBeforeTheEpochIsHeartbeated(t *testing.T) {
	fc := &failFirstAckControl{}
	fc.set("dual", 2)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationHeartbeat(time.Second, 5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, ok := fc.lastBeat()
	if !ok || h.Epoch != s.Migration().Epoch {
		t.Fatalf("Open returned running epoch %d (%s) while the fleet's row of this instance says epoch %d (%q)",
			s.Migration().Epoch, s.Phase(), h.Epoch, h.Phase)
	}
}
