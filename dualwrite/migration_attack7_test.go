package dualwrite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/migration"
)

// firstBeatFails is a readable control keyspace whose first heartbeat write (the registration)
// times out once — one write timeout, as a coordinator under load gives; every later request
// succeeds.
type firstBeatFails struct {
	*fakeControl
	mu     sync.Mutex
	failed bool
}

func (c *firstBeatFails) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	c.mu.Lock()
	first := !c.failed
	c.failed = true
	c.mu.Unlock()
	if first {
		return errors.New("gocql: no response received from cassandra within timeout period")
	}
	return c.fakeControl.WriteHeartbeat(ctx, h, ttl)
}

// TestAttack7OpenFallsBackToTheStateFileOnOneRegistrationTimeout
//
// Promise (dualwrite/migration.go invariants: "Open falls back to the state file only when the
// control keyspace cannot be read"; MigrationStateFile: "so that Open can start in that phase when
// the control keyspace cannot be read"; docs/migration.md: "Every write that begins after `islands
// migration set NAME PHASE --wait` returned runs in PHASE (or a later phase), on every instance").
//
// Interleaving: the operator's `set m dual-flipped --wait` (epoch 5) returned; an instance restarts
// with its state file at epoch 4 (dual); its registration write times out once (the control
// keyspace is readable, and answers the next request). Open does not retry the registration within
// MigrationOpenTimeout nor read the row: it starts at once in the state file's dual (epoch 4), and
// its writes — begun after the --wait returned — run in dual until a later poll reads epoch 5.
func TestAttack7OpenFallsBackToTheStateFileOnOneRegistrationTimeout(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(state, []byte("4 dual \"m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := &firstBeatFails{fakeControl: &fakeControl{}}
	fc.set("dual-flipped", 5)
	// A poll far longer than Open: what Open returns with is what the session runs until then.
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state),
		MigrationPoll(time.Hour), MigrationOpenTimeout(5*time.Second)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fc.mu.Lock()
	reads := fc.reads
	fc.mu.Unlock()
	if p, m := s.Phase(), s.Migration(); p != DualFlipped || m.Epoch != 5 {
		t.Fatalf("Open returned in %s at epoch %d after %d reads of a readable control keyspace at epoch 5 "+
			"(dual-flipped): want dual-flipped 5 — one registration timeout made it start from the state file's "+
			"older epoch 4 (last error %q)", p, m.Epoch, reads, m.LastError)
	}
}

// TestOpenRetriesAFailedRegistrationWithoutAStateFile: with no state file to fall back to, one
// registration timeout does not fail Open either: it registers again within the open timeout and
// starts in the control keyspace's phase.
func TestOpenRetriesAFailedRegistrationWithoutAStateFile(t *testing.T) {
	fc := &firstBeatFails{fakeControl: &fakeControl{}}
	fc.set("dual", 2)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationPoll(time.Hour), MigrationOpenTimeout(5*time.Second)))
	if err != nil {
		t.Fatalf("Open after one registration timeout, the control keyspace readable: %v", err)
	}
	defer s.Close()
	if p, m := s.Phase(), s.Migration(); p != Dual || m.Epoch != 2 {
		t.Fatalf("Open returned in %s at epoch %d, want dual 2", p, m.Epoch)
	}
}
