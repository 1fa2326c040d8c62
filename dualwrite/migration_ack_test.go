package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/migration"
)

// persistCheckControl is fakeControl that checks, at every heartbeat, the acknowledgement rule:
// an epoch >= 0 is heartbeated only once the state file holds it (or a newer one).
type persistCheckControl struct {
	fakeControl
	state string
	mu    sync.Mutex
	bad   []string
}

func (c *persistCheckControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	if h.Epoch >= 0 {
		b, _ := os.ReadFile(c.state)
		var e int64 = -1
		var p string
		if _, err := fmt.Sscanf(string(b), "%d %s", &e, &p); err != nil || e < h.Epoch {
			c.mu.Lock()
			c.bad = append(c.bad, fmt.Sprintf("heartbeat epoch %d (%s) while the state file holds %q", h.Epoch, h.Phase, b))
			c.mu.Unlock()
		}
	}
	return c.fakeControl.WriteHeartbeat(ctx, h, ttl)
}

// TestMigrationStateFileFailureNotAcknowledged: while the state file cannot be written, the
// watcher applies the new phase in memory but never acknowledges its epoch; the heartbeat and the
// metrics carry the error; once the file can be written, the epoch is persisted, then
// acknowledged; a restart with the control keyspace down runs it.
func TestMigrationStateFileFailureNotAcknowledged(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(state, []byte("1 primary-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state+".tmp", 0o700); err != nil { // saveState's Create fails
		t.Fatal(err)
	}
	fc := &persistCheckControl{state: state}
	fc.set("dual", 2)
	reg := prometheus.NewRegistry()
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state)), WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	if s.Phase() != Dual || s.Migration().Epoch != -1 {
		t.Fatalf("Open: phase %s epoch %d, want dual applied in memory and no epoch acknowledged", s.Phase(), s.Migration().Epoch)
	}
	waitFor(t, func() bool { return metricValue(t, reg, "islands_dualwrite_migration_state_file_errors_total") >= 2 })
	h, _ := fc.lastBeat()
	if h.Epoch != -1 || !strings.Contains(h.LastError, "state file") {
		t.Fatalf("heartbeat while the state file fails: epoch %d, last error %q; want -1 and the state file's error", h.Epoch, h.LastError)
	}
	if err := os.Remove(state + ".tmp"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { h, _ := fc.lastBeat(); return h.Epoch == 2 })
	if h, _ := fc.lastBeat(); h.Phase != "dual" || h.LastError != "" || s.Migration().Epoch != 2 {
		t.Fatalf("after the state file recovered: heartbeat %d %q (err %q), Migration().Epoch %d", h.Epoch, h.Phase, h.LastError, s.Migration().Epoch)
	}
	s.Close()
	fc.mu.Lock()
	bad := fc.bad
	fc.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("an epoch acknowledged before the state file held it: %v", bad)
	}
	fc.setDown(true)
	s, err = newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state), MigrationOpenTimeout(100*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Phase() != Dual || s.Migration().Epoch != 2 {
		t.Fatalf("restart with the control keyspace down: %s epoch %d, want dual epoch 2", s.Phase(), s.Migration().Epoch)
	}
}

// neverAckControl is fakeControl whose heartbeats at an epoch >= 0 always time out.
type neverAckControl struct{ fakeControl }

func (c *neverAckControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	if h.Epoch >= 0 {
		return context.DeadlineExceeded
	}
	return c.fakeControl.WriteHeartbeat(ctx, h, ttl)
}

// TestMigrationOpenFailsWhenEpochNeverAcknowledged: Open retries the acknowledging heartbeat
// until its deadline, then fails clearly and leaves the fleet, rather than run a phase the fleet
// cannot see.
func TestMigrationOpenFailsWhenEpochNeverAcknowledged(t *testing.T) {
	fc := &neverAckControl{}
	fc.set("dual", 2)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationOpenTimeout(200*time.Millisecond)))
	if err == nil {
		s.Close()
		t.Fatalf("Open returned running epoch %d (%s) that no heartbeat acknowledged", s.Migration().Epoch, s.Phase())
	}
	if !errors.Is(err, ErrMigrationUnknown) || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("Open: %v; want ErrMigrationUnknown naming the unacknowledged epoch", err)
	}
	fc.mu.Lock()
	ev := fc.events
	fc.mu.Unlock()
	if ev[len(ev)-1] != "delete" {
		t.Fatalf("a failed Open left its registration in the fleet: events %v", ev)
	}
}

// TestMigrationHeartbeatTTLValidated: a TTL under three heartbeat intervals is refused (one slow
// heartbeat would drop a live instance out of the fleet).
func TestMigrationHeartbeatTTLValidated(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 2)
	for _, c := range []struct {
		every, ttl time.Duration
		ok         bool
	}{{time.Second, 2 * time.Second, false}, {0, time.Second, false}, {time.Second, 3 * time.Second, true}} {
		s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationHeartbeat(c.every, c.ttl)))
		if err == nil {
			s.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("MigrationHeartbeat(%s, %s): Open err %v, want ok=%v", c.every, c.ttl, err, c.ok)
		}
	}
}
