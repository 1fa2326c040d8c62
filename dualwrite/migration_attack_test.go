package dualwrite

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/migration"
)

// TestAttackSetPhaseOverridesControlPlane
//
// Promise (WithMigration, docs/dualwrite.md "A fleet"): a session opened WithMigration takes its
// phase from the control keyspace *instead of* its own SetPhase calls; the watcher acknowledges
// epoch E only once the session runs E's phase, so every write after `set --wait` runs in E's phase.
//
// Interleaving: control is dual (epoch 2), the session applies and acknowledges it; then any code
// holding the session calls SetPhase(PrimaryOnly): it is accepted, the phase changes, and the
// watcher (epoch == applied) never restores it, while every heartbeat keeps claiming epoch 2 — so
// Wait counts the instance as dual while its writes reach the primary only.
func TestAttackSetPhaseOverridesControlPlane(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 2)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Phase() != Dual || s.Migration().Epoch != 2 {
		t.Fatalf("after Open: %s epoch %d, want dual 2", s.Phase(), s.Migration().Epoch)
	}
	serr := s.SetPhase(PrimaryOnly)
	time.Sleep(100 * time.Millisecond) // many polls and heartbeats
	if serr == nil && s.Phase() != Dual {
		h, _ := fc.lastBeat()
		t.Fatalf("SetPhase on a WithMigration session was accepted and kept: the session writes %s while its heartbeat "+
			"acknowledges epoch %d (%q); control keyspace says dual epoch 2", s.Phase(), h.Epoch, h.Phase)
	}
}

// ttlControl is fakeControl whose heartbeat rows expire after their TTL, as Cassandra's do, and
// whose reads fail for a while at first.
type ttlControl struct {
	mu        sync.Mutex
	phase     string
	epoch     int64
	failUntil time.Time
	rowAt     time.Time // last heartbeat written
	rowEpoch  int64
	rowTTL    time.Duration
	onRead    func(c *ttlControl) // runs (locked) after a successful read
}

func (c *ttlControl) live(now time.Time) bool {
	return !c.rowAt.IsZero() && now.Before(c.rowAt.Add(c.rowTTL))
}

func (c *ttlControl) Phase(ctx context.Context, name string) (string, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().Before(c.failUntil) {
		return "", 0, errors.New("gocql: no response received from cassandra within timeout period")
	}
	p, e := c.phase, c.epoch
	if c.onRead != nil {
		c.onRead(c)
		c.onRead = nil
	}
	return p, e, nil
}

func (c *ttlControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rowAt, c.rowEpoch, c.rowTTL = time.Now(), h.Epoch, ttl
	return nil
}

func (c *ttlControl) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rowAt = time.Time{}
	return nil
}

// TestAttackOpenRegistrationExpiresBeforeRead
//
// Promise (migration invariant 3, dualwrite/migration.go invariant 1): the instance registers before
// it reads the phase, so an operator's Wait that misses the registration started before it and the
// instance's read sees the new epoch; "no write of the session runs in a phase the fleet cannot see".
//
// Interleaving: Open registers (epoch -1, TTL 150ms); the control reads time out for 400ms and Open
// retries them without ever refreshing the registration, which expires; the read finally returns
// epoch 1 (primary-only); right then the operator sets dual (epoch 2) and `--wait` finds no live
// instance and returns; Open then applies epoch 1 and the first write goes to the primary only.
func TestAttackOpenRegistrationExpiresBeforeRead(t *testing.T) {
	var waitReturned bool
	c := &ttlControl{phase: "primary-only", epoch: 1, failUntil: time.Now().Add(400 * time.Millisecond)}
	c.onRead = func(c *ttlControl) {
		// The operator: `set NAME dual --wait`: the LWT, then Wait's read of the live rows.
		c.phase, c.epoch = "dual", 2
		waitReturned = !c.live(time.Now()) || c.rowEpoch >= 2
	}
	fs := &fakeSides{}
	s, err := newMigrationSession(fs, withControl(c, MigrationPoll(20*time.Millisecond),
		MigrationHeartbeat(50*time.Millisecond, 150*time.Millisecond), MigrationOpenTimeout(3*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.mu.Lock()
	wr := waitReturned
	c.mu.Unlock()
	if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", 1, "x").Exec(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	reachedSecondary := len(fs.seen[secondarySide]) > 0
	fs.mu.Unlock()
	if wr && !reachedSecondary {
		t.Fatalf("`set dual --wait` (epoch 2) returned with no live row of this instance (its registration expired "+
			"during Open's retried reads), yet its first write after that ran in %s and missed the secondary", s.Phase())
	}
}

// TestAttackStateFileBypassesAuthorityBacklog
//
// Promise (Open, TestOpenAuthoritativeOverBacklogRefused; docs/migration.md invariant 2): a session
// never makes a side authoritative while the replay log still owes it writes (backlog or dead
// letters) — SetPhase refuses, Open refuses, the watcher's SetPhaseWait waits.
//
// Interleaving: an earlier process of this instance applied epoch 7 (dual-flipped) and left a
// dead letter owed to the secondary in its replay directory; it restarts while the control
// keyspace is unreachable; Open falls back to MigrationStateFile and stores dual-flipped straight
// into the session (startFromState), skipping the owed-writes check: reads go to a secondary
// that lacks an acknowledged write.
func TestAttackStateFileBypassesAuthorityBacklog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (1)"}}}
	if err := l.DeadLetter(ctx, Record{Entry: *e}, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir() + "/migration-state"
	if err := writeFile(state, "7 dual-flipped\n"); err != nil {
		t.Fatal(err)
	}
	fc := &fakeControl{down: true}
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(dir),
			withControl(fc, MigrationStateFile(state), MigrationOpenTimeout(2*time.Second))})
	if errors.Is(err, ErrAuthorityBacklog) {
		return
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s.Phase().leader() == secondarySide && s.owedTo(secondarySide) > 0 {
		t.Fatalf("Open from the state file made the secondary authoritative (%s) while the replay log owes it %d writes",
			s.Phase(), s.owedTo(secondarySide))
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// TestAttackRestartAppliesOlderEpochThanStateFile
//
// Promise (dualwrite/migration.go): "The applied epoch only grows; a control keyspace that shows an
// older epoch is reported, never applied"; MigrationStateFile keeps the last applied epoch.
//
// Interleaving: the instance applied epoch 9 (dual-flipped) and saved it; it restarts, and its
// LOCAL_QUORUM read hits a replica the QUORUM LWT of epoch 9 has not reached yet (epoch 8, dual);
// Open applies epoch 8 although the state file says this instance already ran epoch 9: after
// `set dual-flipped --wait` returned, its writes read the primary again (and its heartbeat says 8).
func TestAttackRestartAppliesOlderEpochThanStateFile(t *testing.T) {
	state := t.TempDir() + "/migration-state"
	if err := writeFile(state, "9 dual-flipped\n"); err != nil {
		t.Fatal(err)
	}
	fc := &fakeControl{}
	fc.set("dual", 8) // a replica of the control keyspace behind the epoch this instance applied
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationStateFile(state), MigrationOpenTimeout(200*time.Millisecond)))
	if err != nil {
		return // refusing to open is acceptable
	}
	defer s.Close()
	if m := s.Migration(); m.Epoch < 9 {
		t.Fatalf("restarted instance applied epoch %d (%s) although its state file records epoch 9 (dual-flipped) applied",
			m.Epoch, s.Phase())
	}
}

// TestAttackWithPhaseNotIgnored
//
// Promise (WithMigration): "WithPhase is ignored" — the phase comes from the control keyspace.
//
// Interleaving: the application still passes WithPhase(DualFlipped) (its configuration from before
// the control plane); its replay directory holds a dead letter owed to the secondary; the control
// keyspace says primary-only (a rollback). newSession stores WithPhase's phase first and refuses
// to open over the owed write (ErrAuthorityBacklog) before it ever reads the control keyspace, so
// an instance whose migration says primary-only cannot start at all.
func TestAttackWithPhaseNotIgnored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (1)"}}}
	if err := l.DeadLetter(ctx, Record{Entry: *e}, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fc := &fakeControl{}
	fc.set("primary-only", 4)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(dir), WithPhase(DualFlipped), withControl(fc)})
	if err != nil {
		t.Fatalf("Open with WithPhase(DualFlipped) (documented as ignored) and the control keyspace at primary-only: %v", err)
	}
	defer s.Close()
	if s.Phase() != PrimaryOnly {
		t.Fatalf("phase %s, want primary-only from the control keyspace", s.Phase())
	}
}
