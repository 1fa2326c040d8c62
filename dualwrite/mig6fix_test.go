package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/migration"
)

// rowModel is the instance's heartbeat row and the migration's epochs as Cassandra holds them, for
// checking Open's promise at every instant (not by polling):
//   - a heartbeat write lands (replacing the instance's row, INSERT ... USING TTL) at some time
//     after it was sent (or never) and lives its TTL from its landing;
//   - the row is the landed write of the highest client timestamp (the latest sent): a write sent
//     earlier that lands later does not replace it;
//   - an operator's `set --wait` for epoch E returns as soon as, after E's commit, the heartbeats
//     show no live row of this instance behind E.
type rowModel struct {
	mu      sync.Mutex
	epoch   int64
	phases  []string
	commits []time.Time // commits[e]: when epoch e was committed
	writes  []rowWrite
}

type rowWrite struct {
	sent, land time.Time // land zero: never lands
	ttl        time.Duration
	epoch      int64
}

// init starts the model at epoch 0 (dual); the epochs after it alternate dual-flipped and dual.
func (m *rowModel) init() {
	m.phases, m.commits = []string{"dual"}, []time.Time{time.Now()}
	for e := 1; e < 200; e++ {
		m.phases = append(m.phases, []string{"dual", "dual-flipped"}[e%2])
	}
}

// commit is the operator's `set` of the next epoch (m.mu held).
func (m *rowModel) commit() {
	m.epoch++
	m.commits = append(m.commits, time.Now())
}

// liveAt reports whether the instance's row was live at t (m.mu held).
func (m *rowModel) liveAt(t time.Time) bool {
	var cur *rowWrite
	for i := range m.writes {
		w := &m.writes[i]
		if w.land.IsZero() || w.land.After(t) {
			continue
		}
		if cur == nil || w.sent.After(cur.sent) {
			cur = w
		}
	}
	return cur != nil && cur.land.Add(cur.ttl).After(t)
}

// lapse returns an instant of [from, to] at which the row was not live (zero if none): the row
// changes only when a write lands or expires, so from and every expiry in between are checked
// (m.mu held).
func (m *rowModel) lapse(from, to time.Time) time.Time {
	if !m.liveAt(from) {
		return from
	}
	for _, w := range m.writes {
		if x := w.land.Add(w.ttl); !w.land.IsZero() && x.After(from) && !x.After(to) && !m.liveAt(x) {
			return x
		}
	}
	return time.Time{}
}

// violation checks Open's promise for a session that returned at returned running epoch applied's
// phase: for every later epoch committed before it returned, the row was live from that commit
// until it returned (after Open the heartbeater keeps it: invariant 5). "" when kept.
func (m *rowModel) violation(applied int64, returned time.Time) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for e := applied + 1; e < int64(len(m.commits)); e++ {
		if m.commits[e].After(returned) {
			break
		}
		if x := m.lapse(m.commits[e], returned); !x.IsZero() {
			return fmt.Sprintf("Open returned running epoch %d (%s) although epoch %d was committed %s before it "+
				"returned and the instance's row was not live %s after that commit: `set --wait` for epoch %d "+
				"could return there, and this session writes in epoch %d's phase after it", applied,
				m.phases[applied], e, returned.Sub(m.commits[e]), x.Sub(m.commits[e]), e, applied)
		}
	}
	return ""
}

// rowModelControl is the control keyspace of TestMig6OpenKeepsTheRowLiveFromItsReadToItsHeartbeat:
// rowModel with random timing. A heartbeat write answers after it landed, or times out at its
// context's deadline having landed (then, or later) or not at all; a phase read takes effect
// (linearizes) at a random point between its sending and its answer, or fails; an operator
// commits a new epoch every 20-120ms.
type rowModelControl struct {
	rowModel
	rng *rand.Rand
}

func (c *rowModelControl) draw(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rng.Int64N(int64(d)))
}

func (c *rowModelControl) chance(p float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64() < p
}

func (c *rowModelControl) Phase(ctx context.Context, name string) (string, int64, error) {
	time.Sleep(c.draw(120 * time.Millisecond))
	c.mu.Lock()
	p, e := c.phases[c.epoch], c.epoch
	c.mu.Unlock()
	time.Sleep(c.draw(200 * time.Millisecond))
	if c.chance(0.1) {
		return "", 0, errors.New("gocql: no response received from cassandra within timeout period")
	}
	return p, e, nil
}

func (c *rowModelControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	w := rowWrite{sent: time.Now(), ttl: ttl, epoch: h.Epoch}
	landIn := c.draw(160 * time.Millisecond)
	if c.chance(0.5) {
		landIn = c.draw(5 * time.Millisecond) // at once: the row's TTL runs from its sending
	}
	lands := !c.chance(0.2)
	c.mu.Lock()
	i := len(c.writes)
	if lands {
		w.land = w.sent.Add(landIn)
	}
	c.writes = append(c.writes, w)
	c.mu.Unlock()
	deadline, _ := ctx.Deadline()
	if lands && w.land.Before(deadline) && !c.chance(0.2) {
		time.Sleep(time.Until(w.land.Add(c.draw(10 * time.Millisecond))))
		return nil // answered after it landed
	}
	<-ctx.Done() // timed out: landed before, landing after, or never (w.land)
	c.mu.Lock()
	c.writes[i].land = w.land
	c.mu.Unlock()
	return fmt.Errorf("gocql: no response received from cassandra within timeout period: %w", ctx.Err())
}

func (c *rowModelControl) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	return nil
}

// operate commits an epoch every 20-120ms until stop.
func (c *rowModelControl) operate(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(20*time.Millisecond + c.draw(100*time.Millisecond)):
		}
		c.mu.Lock()
		c.commit()
		c.mu.Unlock()
	}
}

// TestMig6OpenKeepsTheRowLiveFromItsReadToItsHeartbeat drives Open against rowModelControl and
// checks the promise (invariant 1, migration invariant 3) at every instant: if Open returns
// running epoch a's phase, then for every later epoch E committed before Open returned, the
// instance's row was live (at an epoch below E: it never acknowledged E) from E's commit until
// Open returned — otherwise an operator's `set --wait` for E could have returned while this
// session then writes in a's phase. (After Open the heartbeater keeps the row: invariant 5.)
// Half the trials have a state file that cannot be written: Open then returns with the epoch
// applied in memory and unacknowledged, under the same promise.
func TestMig6OpenKeepsTheRowLiveFromItsReadToItsHeartbeat(t *testing.T) {
	const trials = 80
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var wg sync.WaitGroup
	errs := make(chan string, trials)
	opened := make(chan bool, trials)
	for i := range trials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &rowModelControl{rng: rand.New(rand.NewPCG(seed, uint64(i)))}
			c.init()
			opts := []MigrationOption{MigrationPoll(30 * time.Millisecond),
				MigrationHeartbeat(100*time.Millisecond, 300*time.Millisecond), MigrationOpenTimeout(3 * time.Second)}
			unpersisted := i%2 == 1
			if unpersisted {
				opts = append(opts, MigrationStateFile(filepath.Join(t.TempDir(), "missing", "state")))
			}
			stop := make(chan struct{})
			go c.operate(stop)
			s, err := newMigrationSession(&fakeSides{}, withControl(c, opts...))
			returned := time.Now()
			close(stop)
			if err != nil {
				opened <- false
				return // refusing to open keeps the promise
			}
			if v := c.violation(s.cfg.migration.w.applied.Load(), returned); v != "" {
				errs <- fmt.Sprintf("trial %d (state file unwritable: %v): %s", i, unpersisted, v)
			}
			opened <- true
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	close(opened)
	n := 0
	for o := range opened {
		if o {
			n++
		}
	}
	t.Logf("%d of %d trials opened", n, trials)
	for e := range errs {
		t.Error(e)
	}
}

// ackAfterLapseControl is the control keyspace of TestMig6OpenAcknowledgesAfterTheRowLapsed, a
// script on rowModel: the registration lands; the first read shows epoch 2, whose acknowledgement
// times out without landing (the row's TTL may now be the running 300ms); the retry lands at once
// (t1) and the operator commits epoch 3. The next read takes effect at once (epoch 3) and answers
// 20ms before the row expires (t1+300ms), after the operator committed epoch 4; the heartbeat
// acknowledging epoch 3 lands 30ms after the row expired (within its 100ms timeout) and answers.
type ackAfterLapseControl struct {
	rowModel
	beats, reads int
	t1           time.Time
	atT1         func() // called when the retry lands (nil: nothing)
}

func (c *ackAfterLapseControl) Phase(ctx context.Context, name string) (string, int64, error) {
	c.mu.Lock()
	n, p, e, t1 := c.reads, c.phases[c.epoch], c.epoch, c.t1
	c.reads++
	c.mu.Unlock()
	if n != 1 {
		return p, e, nil
	}
	time.Sleep(time.Until(t1.Add(250 * time.Millisecond)))
	c.mu.Lock()
	c.commit() // epoch 4, after this read took effect
	c.mu.Unlock()
	time.Sleep(time.Until(t1.Add(280 * time.Millisecond)))
	return p, e, nil
}

func (c *ackAfterLapseControl) WriteHeartbeat(ctx context.Context, h migration.Heartbeat, ttl time.Duration) error {
	now := time.Now()
	c.mu.Lock()
	n := c.beats
	c.beats++
	w := rowWrite{sent: now, land: now, ttl: ttl, epoch: h.Epoch}
	switch n {
	case 1: // the first acknowledgement: times out, never lands
		w.land = time.Time{}
	case 2: // its retry lands at once; the operator commits epoch 3
		c.t1 = now
		c.commit()
		if c.atT1 != nil {
			c.atT1()
		}
	case 3: // the acknowledgement of epoch 3 lands after the row (landed at t1, TTL 300ms) expired
		w.land = c.t1.Add(330 * time.Millisecond)
	}
	c.writes = append(c.writes, w)
	c.mu.Unlock()
	if n == 1 {
		<-ctx.Done()
		return fmt.Errorf("gocql: no response received from cassandra within timeout period: %w", ctx.Err())
	}
	time.Sleep(time.Until(w.land.Add(5 * time.Millisecond)))
	return nil
}

func (c *ackAfterLapseControl) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	return nil
}

// TestMig6OpenAcknowledgesAfterTheRowLapsed: Open applies a read taken while its row lived (epoch
// 3), but the heartbeat acknowledging it lands after the row expired: a `set --wait` for epoch 4,
// committed after that read, could read the heartbeats in between, find no live instance behind
// it and return. Open must not return in epoch 3's phase: the acknowledgement that lands late
// makes it read again (invariant 1).
func TestMig6OpenAcknowledgesAfterTheRowLapsed(t *testing.T) {
	c := &ackAfterLapseControl{}
	c.init()
	c.epoch = 2
	c.commits = append(c.commits, time.Now(), time.Now())
	s, err := newMigrationSession(&fakeSides{}, withControl(c, MigrationPoll(150*time.Millisecond),
		MigrationHeartbeat(100*time.Millisecond, 300*time.Millisecond), MigrationOpenTimeout(3*time.Second)))
	returned := time.Now()
	if err != nil {
		return // refusing to open keeps the promise
	}
	defer s.Close()
	c.mu.Lock()
	reached := c.beats >= 4
	c.mu.Unlock()
	if !reached {
		t.Skip("the interleaving did not happen")
	}
	if v := c.violation(s.cfg.migration.w.applied.Load(), returned); v != "" {
		t.Fatal(v)
	}
	if s.cfg.migration.w.applied.Load() != 4 {
		t.Fatalf("Open returned in epoch %d, not the epoch 4 it must read again", s.cfg.migration.w.applied.Load())
	}
}

// TestMig6OpenUnacknowledgedAfterTheRowLapsed: the same interleaving as
// TestMig6OpenAcknowledgesAfterTheRowLapsed, but the state file cannot be written from t1 on (its
// temporary file's name is taken by a directory): epoch 3 is applied in memory and not
// acknowledged, and the heartbeat Open writes before returning so (at the acknowledged epoch 2)
// lands after the row expired. Open must not return running epoch 3's phase: `set --wait` for
// epoch 4 could have returned in between.
func TestMig6OpenUnacknowledgedAfterTheRowLapsed(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	c := &ackAfterLapseControl{atT1: func() {
		if err := os.Mkdir(state+".tmp", 0o700); err != nil {
			panic(err)
		}
	}}
	c.init()
	c.epoch = 2
	c.commits = append(c.commits, time.Now(), time.Now())
	s, err := newMigrationSession(&fakeSides{}, withControl(c, MigrationPoll(150*time.Millisecond),
		MigrationHeartbeat(100*time.Millisecond, 300*time.Millisecond), MigrationOpenTimeout(3*time.Second),
		MigrationStateFile(state)))
	returned := time.Now()
	if err != nil {
		return // refusing to open keeps the promise
	}
	defer s.Close()
	c.mu.Lock()
	reached := c.beats >= 4
	c.mu.Unlock()
	if !reached {
		t.Skip("the interleaving did not happen")
	}
	if v := c.violation(s.cfg.migration.w.applied.Load(), returned); v != "" {
		t.Fatal(v)
	}
	if a := s.cfg.migration.w.applied.Load(); a != 4 || s.Migration().Epoch != 2 {
		t.Fatalf("Open returned with epoch %d applied and %d acknowledged, not 4 applied (it reads again) and 2 "+
			"acknowledged (the state file fails)", a, s.Migration().Epoch)
	}
}
