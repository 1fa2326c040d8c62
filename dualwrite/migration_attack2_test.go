package dualwrite

import (
	"context"
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
