package integration

import (
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

// dwOpen opens a dualwrite session over the two regions with Open (it owns and heals its gocql
// sessions); DUALWRITE_BASELINE=new builds it with New over sessions the test made instead, to
// show what the same test does without healing.
func dwOpen(t testing.TB, e Env, ks string, opts ...dualwrite.Option) *dualwrite.Session {
	t.Helper()
	var dw *dualwrite.Session
	var err error
	opts = append([]dualwrite.Option{dualwrite.WithPhase(dualwrite.Dual)}, opts...) // a test's WithPhase wins
	if os.Getenv("DUALWRITE_DEBUG") != "" {
		opts = append(opts, dualwrite.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	if os.Getenv("DUALWRITE_BASELINE") == "new" {
		t.Log("baseline: dualwrite.New over the test's own gocql sessions (no healing)")
		dw, err = dualwrite.New(dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks), opts...)
	} else {
		dw, err = dualwrite.Open(waitCtx(t, 30*time.Second), dwCluster(e.USCQL, ks), dwCluster(e.EUCQL, ks), opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dw.Close)
	return dw
}

// dwLoad writes unique keys through dw at about rate writes/s until stop is closed and records
// which were acknowledged, with each write's start and end.
type dwLoad struct {
	mu      sync.Mutex
	acked   map[int]dwAck
	errs    atomic.Int64
	lastErr atomic.Value
	lat     []time.Duration // caller latency of acknowledged writes, with their start times
	starts  []time.Time
	next    atomic.Int64
	wg      sync.WaitGroup
	stop    chan struct{}
}

type dwAck struct{ start, end time.Time }

func startLoad(dw *dualwrite.Session, workers int, rate float64, base int) *dwLoad {
	l := &dwLoad{acked: map[int]dwAck{}, stop: make(chan struct{})}
	l.next.Store(int64(base))
	pace := time.Duration(float64(workers) / rate * float64(time.Second))
	for g := 0; g < workers; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				k := int(l.next.Add(1))
				start := time.Now()
				err := dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "load").Exec()
				end := time.Now()
				if err != nil {
					l.errs.Add(1)
					l.lastErr.Store(err.Error())
					continue
				}
				l.mu.Lock()
				l.acked[k] = dwAck{start, end}
				l.lat = append(l.lat, end.Sub(start))
				l.starts = append(l.starts, start)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *dwLoad) finish() { close(l.stop); l.wg.Wait() }

// percentiles returns p50 and p99 of the caller latencies of writes started in [from, to).
func (l *dwLoad) percentiles(from, to time.Time) (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	var d []time.Duration
	for i, s := range l.starts {
		if !s.Before(from) && s.Before(to) {
			d = append(d, l.lat[i])
		}
	}
	l.mu.Unlock()
	return pct(d, 0.50), pct(d, 0.99), len(d)
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*q))]
}

// missingOn returns the acknowledged keys (chosen by want) absent from rows.
func missingOn(t testing.TB, rows map[int]dwCell, acked map[int]dwAck, want func(dwAck) bool) int {
	missing := 0
	for k, a := range acked {
		if want != nil && !want(a) {
			continue
		}
		if _, ok := rows[k]; !ok {
			if missing < 5 {
				t.Errorf("acknowledged key %d (written %s–%s) missing", k, a.start.Format("15:04:05.000"), a.end.Format("15:04:05.000"))
			}
			missing++
		}
	}
	return missing
}

// waitBacklogZero waits until dw's replay log is empty, returning how long it took.
func waitBacklogZero(dw *dualwrite.Session, limit time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		if n, _ := dw.Backlog(); n == 0 {
			return time.Since(t0), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(t0), false
}

// TestDualwriteHealsAfterPauseAndRestart is the (a): a follower whose cluster config
// disables the initial host lookup is paused 15 s, then killed and restarted, under 200 writes/s.
// The same Session drains its backlog within 30 s of the node answering each time, with no action
// from the application, and no acknowledged write is missing on either side.
func TestDualwriteHealsAfterPauseAndRestart(t *testing.T) {
	e := needServices(t)
	const ks = "dualwrite_heal"
	dwKeyspaces(t, e, ks)
	ensureRunning(t, e, "cassandra-eu")
	dw := dwOpen(t, e, ks, dualwrite.WithReplayDir(t.TempDir()), dualwrite.WithName("heal"))
	load := startLoad(dw, 8, 200, 0)
	stopped := false
	defer func() {
		if !stopped {
			load.finish()
		}
	}()

	time.Sleep(2 * time.Second)
	pauseFor(t, e, "cassandra-eu")
	time.Sleep(15 * time.Second)
	fault(t, e, "resume", "cassandra-eu")
	n, _ := dw.Backlog()
	d1, ok := waitBacklogZero(dw, 30*time.Second)
	p, s := dw.Rebuilds()
	t.Logf("after the 15 s pause: backlog %d at resume, drained in %s (rebuilds primary %d, secondary %d)", n, d1.Round(time.Millisecond), p, s)
	if !ok {
		t.Fatalf("backlog not drained 30 s after cassandra-eu answered again (pause): %d entries left", func() int64 { n, _ := dw.Backlog(); return n }())
	}

	fault(t, e, "kill", "cassandra-eu")
	time.Sleep(3 * time.Second)
	fault(t, e, "restart", "cassandra-eu") // returns once the node answers
	n, _ = dw.Backlog()
	d2, ok := waitBacklogZero(dw, 30*time.Second)
	p, s = dw.Rebuilds()
	t.Logf("after kill -9 and restart: backlog %d when the node answered, drained in %s (rebuilds primary %d, secondary %d)", n, d2.Round(time.Millisecond), p, s)
	if !ok {
		t.Fatalf("backlog not drained 30 s after cassandra-eu answered again (restart): %d entries left", func() int64 { n, _ := dw.Backlog(); return n }())
	}
	time.Sleep(time.Second) // a few writes with the healed session
	load.finish()
	stopped = true
	if err := dw.WaitReplayed(waitCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	us, eu := dwDump(t, e.USCQL, ks), dwDump(t, e.EUCQL, ks)
	mu, me := missingOn(t, us, load.acked, nil), missingOn(t, eu, load.acked, nil)
	st := dw.Stats()
	t.Logf("FIGURES heal: acknowledged=%d caller_errors=%d kept=%d replayed=%d drain_after_pause=%s drain_after_restart=%s rebuilds_secondary=%d missing_us=%d missing_eu=%d",
		len(load.acked), load.errs.Load(), st.Logged, st.Replayed, d1.Round(time.Millisecond), d2.Round(time.Millisecond), s, mu, me)
	if mu+me > 0 {
		t.Fatalf("%d acknowledged writes missing on us-east-1, %d on eu-west-1", mu, me)
	}
}

// TestDualwriteFollowerPauseBudget is the (b): the follower paused 15 s under load. The
// caller's p99 during the pause stays within the primary's own p99 (measured at the same time by a
// plain gocql writer) plus the follower budget; no caller error; nothing lost. The issue asks for
// 2 000 writes/s: under -race on this shared 2-core machine the primary itself then times out
// (p50 100 ms, p99 640 ms measured), so the test offers 600/s (DUALWRITE_BUDGET_RATE overrides);
// bench/dualwrite's paused-follower rows give the 2 000/s figures without the race detector.
func TestDualwriteFollowerPauseBudget(t *testing.T) {
	e := needServices(t)
	const ks = "dualwrite_budget"
	dwKeyspaces(t, e, ks)
	ensureRunning(t, e, "cassandra-eu")
	const budget = 100 * time.Millisecond
	dw := dwOpen(t, e, ks, dualwrite.WithReplayDir(t.TempDir()), dualwrite.WithFollowerBudget(budget), dualwrite.WithName("budget"))
	rate := 600.0
	if v, err := strconv.ParseFloat(os.Getenv("DUALWRITE_BUDGET_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	load := startLoad(dw, 64, rate, 0)
	stopped := false
	defer func() {
		if !stopped {
			load.finish()
		}
	}()
	// The primary's own latency under the same load, from a plain session writing alongside.
	raw := dwSession(t, e.USCQL, ks)
	var rawMu sync.Mutex
	var rawLat []time.Duration
	rawStop := make(chan struct{})
	var rawWG sync.WaitGroup
	for g := 0; g < 4; g++ {
		rawWG.Add(1)
		go func(g int) {
			defer rawWG.Done()
			for i := 0; ; i++ {
				select {
				case <-rawStop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				t0 := time.Now()
				if err := raw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", -1-g*100000-i, "raw").Exec(); err == nil {
					rawMu.Lock()
					rawLat = append(rawLat, time.Since(t0))
					rawMu.Unlock()
				}
			}
		}(g)
	}
	time.Sleep(3 * time.Second)
	before50, before99, nBefore := load.percentiles(time.Time{}, time.Now())
	rawMu.Lock()
	rawLat = rawLat[:0]
	rawMu.Unlock()
	pauseAt := time.Now()
	pauseFor(t, e, "cassandra-eu")
	time.Sleep(15 * time.Second)
	resumeAt := time.Now()
	fault(t, e, "resume", "cassandra-eu")
	close(rawStop)
	rawWG.Wait()
	time.Sleep(2 * time.Second)
	load.finish()
	stopped = true
	during50, during99, nDuring := load.percentiles(pauseAt.Add(time.Second), resumeAt)
	rawMu.Lock()
	prim99 := pct(rawLat, 0.99)
	prim50 := pct(rawLat, 0.50)
	rawMu.Unlock()
	if err := dw.WaitReplayed(waitCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	us, eu := dwDump(t, e.USCQL, ks), dwDump(t, e.EUCQL, ks)
	mu, me := missingOn(t, us, load.acked, nil), missingOn(t, eu, load.acked, nil)
	st := dw.Stats()
	achieved := float64(nDuring) / resumeAt.Sub(pauseAt.Add(time.Second)).Seconds()
	t.Logf("FIGURES budget=%s before_pause p50=%s p99=%s (n=%d) | during_pause caller p50=%s p99=%s (n=%d, %.0f writes/s) | primary alone p50=%s p99=%s | caller_errors=%d late=%d kept=%d missing_us=%d missing_eu=%d",
		budget, before50, before99, nBefore, during50, during99, nDuring, achieved, prim50, prim99, load.errs.Load(), st.FollowerLate, st.Logged, mu, me)
	if load.errs.Load() > 0 {
		t.Errorf("%d caller errors during the pause (last: %v)", load.errs.Load(), load.lastErr.Load())
	}
	if during99 > prim99+budget {
		t.Errorf("caller p99 during the pause %s > primary p99 %s + budget %s", during99, prim99, budget)
	}
	if mu+me > 0 {
		t.Fatalf("%d acknowledged writes missing on us-east-1, %d on eu-west-1", mu, me)
	}
}

// TestDualwritePhaseFlipsWithFailures is the (d): PrimaryOnly → Dual → DualFlipped →
// SecondaryOnly under load, with the follower of each dual phase paused for a while. Afterwards,
// every acknowledged write is on the sides its phase writes: a write begun after SetPhase(Dual) was
// called and before SetPhase(SecondaryOnly) was called is on both sides (the barrier: a switch waits
// for the writes of the old phase, and holds new ones until it is done).
func TestDualwritePhaseFlipsWithFailures(t *testing.T) {
	e := needServices(t)
	const ks = "dualwrite_phases"
	dwKeyspaces(t, e, ks)
	ensureRunning(t, e, "cassandra-eu")
	ensureRunning(t, e, "cassandra-us")
	dw := dwOpen(t, e, ks, dualwrite.WithReplayDir(t.TempDir()), dualwrite.WithPhase(dualwrite.PrimaryOnly),
		dualwrite.WithFollowerBudget(100*time.Millisecond), dualwrite.WithName("phases"))
	load := startLoad(dw, 16, 400, 0)
	stopped := false
	defer func() {
		if !stopped {
			load.finish()
		}
	}()
	flip := func(p dualwrite.Phase) (called, returned time.Time) {
		called = time.Now()
		err := dw.SetPhase(p)
		if errors.Is(err, dualwrite.ErrAuthorityBacklog) {
			t.Logf("SetPhase(%s) refused as it should with a backlog: %v", p, err)
			err = dw.SetPhaseWait(waitCtx(t, 60*time.Second), p)
		}
		if err != nil {
			t.Fatalf("SetPhase(%s): %v", p, err)
		}
		returned = time.Now()
		t.Logf("%s: phase %s (switch took %s)", returned.Format("15:04:05.000"), p, returned.Sub(called).Round(time.Millisecond))
		return called, returned
	}
	time.Sleep(2 * time.Second)
	dualCalled, dualAt := flip(dualwrite.Dual)
	time.Sleep(time.Second)
	pauseFor(t, e, "cassandra-eu") // the follower in dual
	time.Sleep(5 * time.Second)
	fault(t, e, "resume", "cassandra-eu")
	flip(dualwrite.DualFlipped) // refused until the secondary has received its backlog
	time.Sleep(time.Second)
	pauseFor(t, e, "cassandra-us") // the follower in dual-flipped
	time.Sleep(5 * time.Second)
	fault(t, e, "resume", "cassandra-us")
	secOnlyAt, secOnlyRet := flip(dualwrite.SecondaryOnly)
	time.Sleep(2 * time.Second)
	load.finish()
	stopped = true
	if err := dw.WaitReplayed(waitCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	us, eu := dwDump(t, e.USCQL, ks), dwDump(t, e.EUCQL, ks)
	// A write whose Exec began after SetPhase(Dual) was called runs under Dual (the barrier holds
	// it until the switch). One that began before may have run under PrimaryOnly and finished
	// inside the library just before SetPhase returned, even if the caller saw Exec return (and
	// took its end time) a moment after: its end time says nothing about its phase.
	both := func(a dwAck) bool { return a.start.After(dualCalled) && a.start.Before(secOnlyAt) }
	mBothUS, mBothEU := missingOn(t, us, load.acked, both), missingOn(t, eu, load.acked, both)
	mPrim := missingOn(t, us, load.acked, func(a dwAck) bool { return a.start.Before(dualAt) && a.end.Before(secOnlyAt) })
	mSec := missingOn(t, eu, load.acked, func(a dwAck) bool { return a.end.After(secOnlyRet) })
	st := dw.Stats()
	t.Logf("FIGURES phases: acknowledged=%d caller_errors=%d (last %v) kept=%d replayed=%d late=%d missing_dual_us=%d missing_dual_eu=%d missing_primary_only=%d missing_secondary_only=%d",
		len(load.acked), load.errs.Load(), load.lastErr.Load(), st.Logged, st.Replayed, st.FollowerLate, mBothUS, mBothEU, mPrim, mSec)
	if mBothUS+mBothEU+mPrim+mSec > 0 {
		t.Fatal("acknowledged writes missing")
	}
}

// TestDualwriteKill9MidFlip is the (e): a writer process in the dual phase with its
// follower paused asks to flip to dual-flipped (which must wait: the secondary has a backlog) and
// is killed with -9 while the flip waits and writes continue. A new session on the same replay
// directory drains what it left: every write the dead process acknowledged is on both sides.
func TestDualwriteKill9MidFlip(t *testing.T) {
	const ks = "dualwrite_kill9_flip"
	if c := asChild(t); c != nil {
		dualwriteFlipChild(t, c, ks)
		return
	}
	e := needServices(t)
	dwKeyspaces(t, e, ks)
	ensureRunning(t, e, "cassandra-eu")
	dir := t.TempDir()
	c := startChild(t, dir)
	pauseFor(t, e, "cassandra-eu")
	c.proceed()
	acked := map[int]bool{}
	flipping, afterFlip := false, 0
	c.read(func(line string) bool {
		if k, ok := ackOf(line); ok {
			acked[k] = true
			if flipping {
				afterFlip++
			}
		}
		if line == "FLIPPING" {
			flipping = true
		}
		return !flipping || afterFlip < 300
	})
	c.kill9() // while SetPhaseWait(dual-flipped) waits
	t.Logf("writer killed with -9 mid-flip after %d acknowledged writes (%d after the flip began)", len(acked), afterFlip)
	if afterFlip < 300 {
		t.Fatalf("the writer stopped after %d acknowledged writes (see its output above)", len(acked))
	}
	fault(t, e, "resume", "cassandra-eu")
	dw := dwOpen(t, e, ks, dualwrite.WithReplayDir(dir), dualwrite.WithName("kill9-drain"))
	backlog, _ := dw.Backlog()
	t0 := time.Now()
	if err := dw.WaitReplayed(waitCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	drain := time.Since(t0)
	us, eu := dwDump(t, e.USCQL, ks), dwDump(t, e.EUCQL, ks)
	missing := 0
	for k := range acked {
		if _, ok := us[k]; !ok {
			missing++
		} else if eu[k] != us[k] {
			missing++
		}
	}
	t.Logf("FIGURES kill9-mid-flip: acknowledged=%d found_in_log=%d drained_in=%s replayed=%d missing=%d",
		len(acked), backlog, drain.Round(time.Millisecond), dw.Stats().Replayed, missing)
	if missing > 0 {
		t.Fatalf("%d acknowledged writes missing or different on the two sides", missing)
	}
}

// dualwriteFlipChild is the writer of TestDualwriteKill9MidFlip: it writes until killed, acking
// each acknowledged write, and after 300 of them starts waiting to flip.
func dualwriteFlipChild(t *testing.T, c *childSide, ks string) {
	e := needServices(t)
	dw, err := dualwrite.Open(waitCtx(t, 30*time.Second), dwCluster(e.USCQL, ks), dwCluster(e.EUCQL, ks),
		dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(c.dir), dualwrite.WithFollowerBudget(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c.ready()
	var n atomic.Int64
	var next atomic.Int64
	for g := 0; g < 16; g++ {
		go func() {
			for {
				k := int(next.Add(1))
				if dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "flip-writer").Exec() == nil {
					c.ack(k)
					n.Add(1)
				}
			}
		}()
	}
	for n.Load() < 300 {
		time.Sleep(10 * time.Millisecond)
	}
	c.say("FLIPPING")
	err = dw.SetPhaseWait(waitCtx(t, 5*time.Minute), dualwrite.DualFlipped)
	c.say("FLIPPED %v", err)
	select {}
}
