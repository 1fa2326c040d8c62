package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/migration"
)

// fakeControl is the control keyspace in memory with the semantics the watcher relies on: a
// migration row (phase, epoch) and heartbeat rows; a down control answers every request with an
// error, as an unreachable cluster does.
type fakeControl struct {
	mu     sync.Mutex
	phase  string
	epoch  int64
	exists bool
	down   bool
	beats  []migration.Heartbeat // every heartbeat written, in order
	events []string              // "beat E" / "read" / "delete", in order
	reads  int
}

func (f *fakeControl) set(phase string, epoch int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phase, f.epoch, f.exists = phase, epoch, true
}

func (f *fakeControl) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

func (f *fakeControl) Phase(ctx context.Context, name string) (string, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	f.events = append(f.events, "read")
	if f.down {
		return "", 0, errors.New("gocql: no hosts available in the pool")
	}
	if !f.exists {
		return "", 0, fmt.Errorf("%w: %q", migration.ErrNotFound, name)
	}
	return f.phase, f.epoch, nil
}

func (f *fakeControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("gocql: no hosts available in the pool")
	}
	f.beats = append(f.beats, h)
	f.events = append(f.events, fmt.Sprintf("beat %d", h.Epoch))
	return nil
}

func (f *fakeControl) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "delete")
	return nil
}

func (f *fakeControl) lastBeat() (migration.Heartbeat, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.beats) == 0 {
		return migration.Heartbeat{}, false
	}
	return f.beats[len(f.beats)-1], true
}

func withControl(cp controlPlane, opts ...MigrationOption) Option {
	opts = append([]MigrationOption{MigrationPoll(5 * time.Millisecond), MigrationHeartbeat(20*time.Millisecond, time.Second)}, opts...)
	mo := WithMigration(nil, "m", "i1", opts...)
	return func(c *config) { mo(c); c.migration.control = cp }
}

func newMigrationSession(f *fakeSides, opts ...Option) (*Session, error) {
	opts = append([]Option{withExecHook(f.exec), WithReplayLog(NewMemLog())}, opts...)
	return newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
}

// TestMigrationOpenNeedsPhase: Open fails with ErrMigrationUnknown when the control keyspace
// cannot be read (or the migration does not exist) and no earlier phase is known; with a state
// file from an earlier run it starts in that phase and says why in LastError.
func TestMigrationOpenNeedsPhase(t *testing.T) {
	fc := &fakeControl{down: true}
	_, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationOpenTimeout(100*time.Millisecond)))
	if !errors.Is(err, ErrMigrationUnknown) {
		t.Fatalf("control down, no state: err %v, want ErrMigrationUnknown", err)
	}
	fc = &fakeControl{}
	_, err = newMigrationSession(&fakeSides{}, withControl(fc, MigrationOpenTimeout(100*time.Millisecond)))
	if !errors.Is(err, ErrMigrationUnknown) || !errors.Is(err, migration.ErrNotFound) {
		t.Fatalf("no migration row: err %v, want ErrMigrationUnknown wrapping migration.ErrNotFound", err)
	}
	// The registration of a session that failed to open is removed: it would block every
	// operator's --wait until its TTL.
	if ev := fc.events; ev[0] != "beat -1" || ev[len(ev)-1] != "delete" {
		t.Fatalf("failed Open: events %v, want the registration removed at the end", ev)
	}

	state := filepath.Join(t.TempDir(), "state")
	fc = &fakeControl{}
	fc.set("dual-flipped", 7)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b, _ := os.ReadFile(state); string(b) != "7 dual-flipped \"m\"\n" {
		t.Fatalf("state file %q", b)
	}
	fc.setDown(true)
	s, err = newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state), MigrationOpenTimeout(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("control down with a state file: %v", err)
	}
	defer s.Close()
	if m := s.Migration(); s.Phase() != DualFlipped || m.Epoch != 7 || m.LastError == "" {
		t.Fatalf("started in %s epoch %d (last error %q), want dual-flipped 7 and the cause", s.Phase(), m.Epoch, m.LastError)
	}
}

// TestMigrationRegistersBeforeRead: the first heartbeat (epoch -1) precedes the first read, and
// Open returns only after the epoch read was applied and heartbeated.
func TestMigrationRegistersBeforeRead(t *testing.T) {
	fc := &fakeControl{}
	fc.set("primary-only", 3)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc), WithPhase(Dual))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fc.mu.Lock()
	ev := append([]string(nil), fc.events...)
	fc.mu.Unlock()
	if len(ev) < 3 || ev[0] != "beat -1" || ev[1] != "read" || ev[2] != "beat 3" {
		t.Fatalf("events %v, want beat -1, read, beat 3 first", ev)
	}
	if s.Phase() != PrimaryOnly || s.Migration().Epoch != 3 {
		t.Fatalf("phase %s epoch %d after Open, want primary-only 3", s.Phase(), s.Migration().Epoch)
	}
}

// TestMigrationEpochRule is model-based: an operator publishes random epochs (one step each) while
// writers run; every write records the epoch the session had applied when it began and the
// sides it reached. Checked for every write: it reached exactly the sides of the phase of an
// epoch at least that one (the phase never lags the epoch it claims), and every write that began
// after a heartbeat acknowledged epoch E recorded E or later (invariant: ack after the barrier).
func TestMigrationEpochRule(t *testing.T) {
	fs := &fakeSides{}
	var mu sync.Mutex
	reached := map[int][2]bool{}
	fs.do[0] = func(ctx context.Context, op *writeOp) (bool, error) {
		mu.Lock()
		k := op.stmts[0].Values[0].(int)
		r := reached[k]
		r[0] = true
		reached[k] = r
		mu.Unlock()
		return true, nil
	}
	fs.do[1] = func(ctx context.Context, op *writeOp) (bool, error) {
		mu.Lock()
		k := op.stmts[0].Values[0].(int)
		r := reached[k]
		r[1] = true
		reached[k] = r
		mu.Unlock()
		return true, nil
	}
	fc := &fakeControl{}
	fc.set("primary-only", 1)
	s, err := newMigrationSession(fs, withControl(fc), WithPolicy(Strict))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	type rec struct {
		key      int
		epoch    int64
		began    time.Time
		ackEpoch int64 // highest epoch acknowledged in a heartbeat before the write began
	}
	acked := atomic.Int64{}
	acked.Store(1)
	phases := map[int64]Phase{1: PrimaryOnly}
	var phMu sync.Mutex
	var recs []rec
	var recMu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var next atomic.Int64
	var writeErr atomic.Value
	defer func() { // the writers end before the test does, whichever way it ends
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := int(next.Add(1))
				r := rec{key: k, began: time.Now(), ackEpoch: acked.Load(), epoch: s.Migration().Epoch}
				if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "x").Exec(); err != nil {
					writeErr.CompareAndSwap(nil, err.Error())
					return
				}
				recMu.Lock()
				recs = append(recs, r)
				recMu.Unlock()
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cur, epoch := 0, int64(1)
	for step := 0; step < 30; step++ {
		if cur == 0 || cur < 3 && rng.IntN(3) > 0 {
			cur++
		} else {
			cur--
		}
		epoch++
		phMu.Lock()
		phases[epoch] = Phase(cur)
		phMu.Unlock()
		fc.set(migration.Phases[cur], epoch)
		deadline := time.Now().Add(5 * time.Second)
		for {
			if h, ok := fc.lastBeat(); ok && h.Epoch == epoch {
				if h.Phase != migration.Phases[cur] {
					t.Fatalf("heartbeat epoch %d says %s, want %s", epoch, h.Phase, migration.Phases[cur])
				}
				acked.Store(epoch)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("epoch %d not acknowledged within 5s", epoch)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err := writeErr.Load(); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 100 {
		t.Fatalf("only %d writes", len(recs))
	}
	for _, r := range recs {
		if r.epoch < r.ackEpoch {
			t.Fatalf("write %d began after epoch %d was acknowledged but ran under epoch %d", r.key, r.ackEpoch, r.epoch)
		}
		got := reached[r.key]
		ok := false
		for e := r.epoch; e <= epoch; e++ {
			p := phases[e]
			want := [2]bool{p != SecondaryOnly, p != PrimaryOnly}
			if got == want {
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("write %d recorded epoch %d (%s) but reached sides %v", r.key, r.epoch, phases[r.epoch], got)
		}
	}
	if m := s.Migration(); m.Flips != 31 && m.Flips != 30 {
		t.Fatalf("flips %d, want 30 (+1 at Open)", m.Flips)
	}
}

// TestMigrationCutOffKeepsPhase: a session that cannot read the control keyspace keeps the
// phase it applied, reports the error and the growing read age in its metrics, and applies the
// new epoch once the control keyspace answers again; an older epoch is never applied.
func TestMigrationCutOffKeepsPhase(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 4)
	reg := prometheus.NewRegistry()
	s, err := newMigrationSession(&fakeSides{}, withControl(fc), WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fc.setDown(true)
	fc.mu.Lock()
	fc.phase, fc.epoch = "dual-flipped", 5
	fc.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	m := s.Migration()
	if s.Phase() != Dual || m.Epoch != 4 || !strings.Contains(m.LastError, "no hosts") {
		t.Fatalf("cut off: phase %s epoch %d last error %q, want dual 4 and the error", s.Phase(), m.Epoch, m.LastError)
	}
	age := metricValue(t, reg, "islands_dualwrite_migration_control_read_age_seconds")
	if age < 0.05 {
		t.Fatalf("control read age %.3fs after 100ms cut off", age)
	}
	if e := metricValue(t, reg, "islands_dualwrite_migration_epoch"); e != 4 {
		t.Fatalf("epoch metric %v", e)
	}
	fc.setDown(false)
	waitFor(t, func() bool { return s.Migration().Epoch == 5 })
	if s.Phase() != DualFlipped || s.Migration().LastError != "" {
		t.Fatalf("after reconnect: %s, last error %q", s.Phase(), s.Migration().LastError)
	}
	fc.set("dual", 3) // a control keyspace gone back: never applied
	time.Sleep(50 * time.Millisecond)
	if s.Phase() != DualFlipped || s.Migration().Epoch != 5 || !strings.Contains(s.Migration().LastError, "older") {
		t.Fatalf("older epoch: phase %s epoch %d err %q", s.Phase(), s.Migration().Epoch, s.Migration().LastError)
	}
	if f := metricValue(t, reg, "islands_dualwrite_migration_flips_total"); f != 2 {
		t.Fatalf("flips metric %v, want 2", f)
	}
}

// TestMigrationWaitsForAuthorityBacklog: an epoch that moves authority to a side with writes in
// the replay log is acknowledged only after they were replayed; meanwhile the heartbeat keeps the
// old epoch and says why.
func TestMigrationWaitsForAuthorityBacklog(t *testing.T) {
	fs := &fakeSides{}
	failing := atomic.Bool{}
	failing.Store(true)
	fs.do[1] = func(ctx context.Context, op *writeOp) (bool, error) {
		if failing.Load() {
			return false, errors.New("secondary down")
		}
		return true, nil
	}
	fc := &fakeControl{}
	fc.set("dual", 2)
	s, err := newMigrationSession(fs, withControl(fc), func(c *config) { c.replayBackoffMax = 20 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Backlog(); n != 1 {
		t.Fatalf("backlog %d", n)
	}
	fc.set("dual-flipped", 3)
	time.Sleep(100 * time.Millisecond)
	if h, _ := fc.lastBeat(); s.Phase() != Dual || h.Epoch != 2 || h.Backlog != 1 || !strings.Contains(h.LastError, "replay") {
		t.Fatalf("with backlog: phase %s, heartbeat %+v", s.Phase(), h)
	}
	failing.Store(false)
	waitFor(t, func() bool { h, _ := fc.lastBeat(); return h.Epoch == 3 })
	if s.Phase() != DualFlipped {
		t.Fatalf("phase %s", s.Phase())
	}
}

// TestMigrationCloseLeaves: Close removes the heartbeat so the instance leaves the fleet at once.
func TestMigrationCloseLeaves(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 1)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.events[len(fc.events)-1] != "delete" {
		t.Fatalf("events end %v, want delete", fc.events[max(0, len(fc.events)-3):])
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			v := 0.0
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			}
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestMigrationStateFileNamesItsMigration: the state file records the migration's name; Open
// refuses a file of another migration, and an old-format file (no name) whose epoch is ahead of
// the migration's (it may be another's), with ErrMigrationStateFile naming the file; an
// old-format file at or behind the migration's epoch is taken over and rewritten with the name.
func TestMigrationStateFileNamesItsMigration(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("6 secondary-only \"users\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := &fakeControl{}
	fc.set("primary-only", 1)
	_, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(other)))
	if !errors.Is(err, ErrMigrationStateFile) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), `"users"`) {
		t.Fatalf("a state file of migration users: err %v, want ErrMigrationStateFile naming the file and users", err)
	}

	legacy := filepath.Join(dir, "legacy")
	if err := os.WriteFile(legacy, []byte("6 secondary-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc = &fakeControl{}
	fc.set("primary-only", 1)
	_, err = newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(legacy), MigrationOpenTimeout(time.Second)))
	if !errors.Is(err, ErrMigrationStateFile) || !strings.Contains(err.Error(), legacy) {
		t.Fatalf("an old-format state file ahead of the migration: err %v, want ErrMigrationStateFile naming the file", err)
	}
	if ev := fc.events; ev[len(ev)-1] != "delete" {
		t.Fatalf("refused Open: events %v, want the registration removed at the end", ev)
	}

	if err := os.WriteFile(legacy, []byte("1 primary-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc = &fakeControl{}
	fc.set("dual", 2)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(legacy)))
	if err != nil {
		t.Fatalf("an old-format state file behind the migration: %v", err)
	}
	s.Close()
	if b, _ := os.ReadFile(legacy); string(b) != "2 dual \"m\"\n" {
		t.Fatalf("state file after applying epoch 2: %q, want it rewritten with the migration's name", b)
	}
}
