package dualwrite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/migration"
)

// shortAckRowControl is the control keyspace of TestAttack6MigOpenMeasuresAShortTTLRowByTheRegistrationTTL:
// one heartbeat row per instance, replaced by each write with that write's TTL (a Cassandra INSERT
// ... USING TTL); the first acknowledgement (epoch >= 0) times out and does not land; a read linearizes
// when it starts (it returns the row as it was then) and, once the acknowledging row has landed,
// takes slow to answer.
type shortAckRowControl struct {
	mu        sync.Mutex
	phase     string
	epoch     int64
	rowAt     time.Time
	rowTTL    time.Duration
	rowEpoch  int64
	ackFailed bool
	slow      time.Duration
	// landFirstAck: the acknowledgement that times out landed all the same (a coordinator that
	// wrote it and did not answer in time), and the writes after it time out without landing
	// until the slow read is done.
	landFirstAck bool
	slowReadDone bool
	// set during the slow read, once the row expired: the operator's `set ... --wait`.
	changedAt   time.Time
	rowDeadThen bool
}

func (c *shortAckRowControl) Phase(ctx context.Context, name string) (string, int64, error) {
	c.mu.Lock()
	p, e := c.phase, c.epoch
	slow := c.rowEpoch >= 0 && !c.rowAt.IsZero() && !c.slowReadDone
	expires := c.rowAt.Add(c.rowTTL)
	c.mu.Unlock()
	if !slow {
		return p, e, nil
	}
	// The read was linearized above; its answer is slow. Meanwhile the instance's row (the
	// acknowledgement, TTL = MigrationHeartbeat's ttl) expires, and the operator sets epoch 3:
	// Wait(3) reads the heartbeats, finds no live instance below 3, and returns.
	time.Sleep(time.Until(expires) + 20*time.Millisecond)
	c.mu.Lock()
	c.rowDeadThen = time.Now().After(c.rowAt.Add(c.rowTTL))
	c.phase, c.epoch, c.changedAt = "dual-flipped", 3, time.Now()
	c.mu.Unlock()
	time.Sleep(c.slow)
	c.mu.Lock()
	c.slowReadDone = true
	c.mu.Unlock()
	return p, e, nil
}

func (c *shortAckRowControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.Epoch >= 0 && !c.ackFailed {
		c.ackFailed = true
		if c.landFirstAck {
			c.rowAt, c.rowTTL, c.rowEpoch = time.Now(), ttl, h.Epoch
		}
		return errors.New("gocql: no response received from cassandra within timeout period")
	}
	if h.Epoch >= 0 && c.landFirstAck && !c.slowReadDone {
		return errors.New("gocql: no response received from cassandra within timeout period")
	}
	c.rowAt, c.rowTTL, c.rowEpoch = time.Now(), ttl, h.Epoch
	return nil
}

func (c *shortAckRowControl) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rowAt = time.Time{}
	return nil
}

// TestAttack6MigOpenMeasuresAShortTTLRowByTheRegistrationTTL
//
// Promise (dualwrite/migration.go invariant 1; migration invariant 3; docs/migration.md): Open
// "applies no read the registration may have expired before"; every write that begins after `set
// --wait` returned runs in the new phase.
//
// Interleaving: Open registers (TTL registrationTTL = max(ttl, open) = 3s), reads epoch 2 (dual),
// applies it; its acknowledgement times out, and the retry in Open's loop lands a row at epoch 2 with
// the running TTL (300ms). The next read (linearized before epoch 3) answers after that row
// expired and after the operator's `set dual-flipped --wait` (epoch 3) saw no live instance and
// returned; poll checks the read's age against registrationTTL (3s), not the 300ms of the row that
// replaced the registration, so Open returns in dual: writes after --wait run in epoch 2's phase.
func TestAttack6MigOpenMeasuresAShortTTLRowByTheRegistrationTTL(t *testing.T) {
	c := &shortAckRowControl{phase: "dual", epoch: 2, rowEpoch: -1, slow: 50 * time.Millisecond}
	s, err := newMigrationSession(&fakeSides{}, withControl(c, MigrationPoll(150*time.Millisecond),
		MigrationHeartbeat(100*time.Millisecond, 300*time.Millisecond), MigrationOpenTimeout(3*time.Second)))
	if err != nil {
		return // refusing to open keeps the promise
	}
	defer s.Close()
	c.mu.Lock()
	changed, dead := !c.changedAt.IsZero(), c.rowDeadThen
	c.mu.Unlock()
	if !changed || !dead {
		t.Skipf("the interleaving did not happen (changed %v, row expired before the change %v)", changed, dead)
	}
	if s.Phase() != DualFlipped {
		t.Fatalf("Open returned in %s (epoch %d) although its heartbeat row (TTL 300ms) had expired before the operator "+
			"set epoch 3 (dual-flipped) and --wait returned: the read it applied is older than that change, and every "+
			"write of this session begins after --wait in epoch 2's phase", s.Phase(), s.Migration().Epoch)
	}
}

// TestAttack6MigOpenTakesATimedOutAckForTheRegistration
//
// Promise (dualwrite/migration.go invariant 1: Open "applies no read the registration may have
// expired before", its age counted from when its write was SENT since "the row may have landed at
// once"; migration invariant 3; docs/migration.md: writes after `set --wait` run in the new phase).
//
// Interleaving: Open registers (TTL max(ttl, open) = 3s), reads epoch 2 (dual), applies it; its
// acknowledgement (TTL 300ms) times out but landed, replacing the registration row; the retries time
// out. The next read (linearized before epoch 3) answers after that 300ms row expired and after the
// operator's `set dual-flipped --wait` (epoch 3) saw no live instance and returned; poll measures the
// read against the registration's 3s (lastBeat is still the registration), the heartbeat then lands
// and Open returns in dual: every write after --wait runs in epoch 2's phase.
func TestAttack6MigOpenTakesATimedOutAckForTheRegistration(t *testing.T) {
	c := &shortAckRowControl{phase: "dual", epoch: 2, rowEpoch: -1, slow: 50 * time.Millisecond, landFirstAck: true}
	s, err := newMigrationSession(&fakeSides{}, withControl(c, MigrationPoll(150*time.Millisecond),
		MigrationHeartbeat(100*time.Millisecond, 300*time.Millisecond), MigrationOpenTimeout(3*time.Second)))
	if err != nil {
		return // refusing to open keeps the promise
	}
	defer s.Close()
	c.mu.Lock()
	changed, dead := !c.changedAt.IsZero(), c.rowDeadThen
	c.mu.Unlock()
	if !changed || !dead {
		t.Skipf("the interleaving did not happen (changed %v, row expired before the change %v)", changed, dead)
	}
	if s.Phase() != DualFlipped {
		t.Fatalf("Open returned in %s (epoch %d) although the acknowledgement that replaced its registration (TTL 300ms) "+
			"had expired before the operator set epoch 3 (dual-flipped) and --wait returned: every write of this session "+
			"begins after --wait in epoch 2's phase", s.Phase(), s.Migration().Epoch)
	}
}
