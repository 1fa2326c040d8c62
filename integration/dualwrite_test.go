package integration

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/dualwrite"
)

// TestDualwriteReplayLogSurvivesKill9: a writing process, its secondary paused, keeps follower
// writes in its replay log and is killed with -9; a new session on the same directory replays
// them, and every write the dead process acknowledged is on the secondary with its original
// writetime.
func TestDualwriteReplayLogSurvivesKill9(t *testing.T) {
	const ks = "dualwrite_kill9"
	if c := asChild(t); c != nil {
		dualwriteChild(t, c, ks)
		return
	}
	e := needServices(t)
	dwKeyspaces(t, e, ks)
	ensureRunning(t, e, "cassandra-eu")
	dir := t.TempDir()

	c := startChild(t, dir)
	acked := map[int]bool{}
	// The writer is connected to both sides; now its secondary stops answering.
	pauseFor(t, e, "cassandra-eu")
	c.proceed()
	c.read(func(line string) bool {
		if k, ok := ackOf(line); ok {
			acked[k] = true
		}
		return len(acked) < 600
	})
	c.kill9()
	t.Logf("writer killed with -9 after %d acknowledged writes", len(acked))
	if len(acked) < 600 {
		t.Fatalf("the writer stopped after %d acknowledged writes (see its output above)", len(acked))
	}
	fault(t, e, "resume", "cassandra-eu")

	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	backlog, _ := dw.Backlog()
	if err := dw.WaitReplayed(waitCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	us, eu := dwDump(t, e.USCQL, ks), dwDump(t, e.EUCQL, ks)
	missing, inFlight := 0, 0
	for k := range acked {
		if eu[k] != us[k] || us[k].WT == 0 {
			missing++
		}
	}
	for k, c := range us {
		if !acked[k] && eu[k] != c {
			inFlight++ // never acknowledged: the writer died before it could answer
		}
	}
	t.Logf("FIGURES acknowledged=%d found_in_log=%d replayed=%d missing=%d unacknowledged_in_flight_on_primary_only=%d",
		len(acked), backlog, dw.Stats().Replayed, missing, inFlight)
	if missing > 0 {
		t.Fatalf("%d acknowledged writes missing on the secondary after replay", missing)
	}
}

// dualwriteChild is the writing process of the kill -9 test: it writes until killed and acks
// each acknowledged write.
func dualwriteChild(t *testing.T, c *childSide, ks string) {
	e := needServices(t)
	cfg := dwCluster(e.EUCQL, ks)
	cfg.Timeout, cfg.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	secondary, err := cfg.CreateSession()
	if err != nil {
		t.Fatalf("child: connect secondary: %v", err)
	}
	primary := dwSession(t, e.USCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(c.dir))
	if err != nil {
		t.Fatal(err)
	}
	c.ready()
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1))
				if dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "killed-writer").Exec() == nil {
					c.ack(k)
				}
			}
		}()
	}
	wg.Wait()
}

// TestDualwriteStrictFailsWhileSecondaryDown: under Strict the caller sees the follower's failure.
func TestDualwriteStrictFailsWhileSecondaryDown(t *testing.T) {
	e := needServices(t)
	const ks = "dualwrite_strict"
	dwKeyspaces(t, e, ks)
	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithPolicy(dualwrite.Strict))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	if err := dw.Query("INSERT INTO kv (k, v) VALUES (1, 'up')").Exec(); err != nil {
		t.Fatalf("write with both sides up: %v", err)
	}
	ensureRunning(t, e, "cassandra-eu")
	pauseFor(t, e, "cassandra-eu")
	err = dw.Query("INSERT INTO kv (k, v) VALUES (2, 'down')").Exec()
	if !errors.Is(err, dualwrite.ErrFollower) {
		t.Fatalf("strict write with the secondary paused: want ErrFollower, got %v", err)
	}
	t.Logf("strict error: %v", err)
}

// TestDualwritePhaseFlipsUnderLoad: flipping phases while writers run loses no write.
func TestDualwritePhaseFlipsUnderLoad(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	const ks = "dualwrite_flips"
	dwKeyspaces(t, e, ks)
	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(t.TempDir()), dualwrite.WithShadowReads(0.05))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	stop, flipperDone := make(chan struct{}), make(chan struct{})
	var flips atomic.Int64
	go func() {
		defer close(flipperDone)
		phases := []dualwrite.Phase{dualwrite.DualFlipped, dualwrite.Dual}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				dw.SetPhase(phases[i%2])
				flips.Add(1)
			}
		}
	}()
	var wg sync.WaitGroup
	var acked sync.Map
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				k := g*1000 + i
				if err := dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "flip").Exec(); err != nil {
					t.Errorf("write %d: %v", k, err)
					continue
				}
				acked.Store(k, true)
				var v string
				if err := dw.Query("SELECT v FROM kv WHERE k = ?", k).Scan(&v); err != nil && !errors.Is(err, gocql.ErrNotFound) {
					t.Errorf("read %d: %v", k, err)
				}
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	<-flipperDone
	if err := dw.WaitReplayed(waitCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	rows, n := dwCompare(t, e, ks)
	missing := 0
	acked.Range(func(k, _ any) bool {
		if _, ok := rows[k.(int)]; !ok {
			missing++
		}
		return true
	})
	st := dw.Stats()
	t.Logf("FIGURES flips=%d writes=%d rows=%d missing=%d shadow_reads=%d shadow_mismatches=%d", flips.Load(), st.Writes, n, missing, st.ShadowReads, st.ShadowMismatches)
	if missing > 0 {
		t.Fatalf("%d acknowledged writes missing after phase flips", missing)
	}
}

// TestDualwriteBadInput: non-deterministic functions and unknown tables are clear errors, and
// nothing is written.
func TestDualwriteBadInput(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	const ks = "dualwrite_bad"
	dwKeyspaces(t, e, ks)
	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	err = dw.Query("INSERT INTO kv (k, v) VALUES (?, toUnixTimestamp(now()))", 1).Exec()
	if !errors.Is(err, dualwrite.ErrNonDeterministic) || !strings.Contains(err.Error(), "now()") {
		t.Fatalf("now(): want ErrNonDeterministic naming now(), got %v", err)
	}
	t.Logf("non-deterministic: %v", err)
	err = dw.Query("INSERT INTO no_such_table (k, v) VALUES (?, ?)", 1, "x").Exec()
	if err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("unknown table: want an error naming it, got %v", err)
	}
	t.Logf("unknown table: %v", err)
	if _, err := dualwrite.New(primary, secondary); !errors.Is(err, dualwrite.ErrNoReplayLog) {
		t.Fatalf("no replay dir: want ErrNoReplayLog, got %v", err)
	}
	if _, n := dwCompare(t, e, ks); n != 0 {
		t.Fatalf("bad input wrote %d rows", n)
	}
	if n, _ := dw.Backlog(); n != 0 {
		t.Fatalf("bad input left %d entries in the replay log", n)
	}
	// Counters go to both sides and are never replayed.
	if err := dw.Query("UPDATE hits SET c = c + ? WHERE k = ?", int64(2), 1).Exec(); err != nil {
		t.Fatalf("counter update: %v", err)
	}
	for _, s := range []*gocql.Session{primary, secondary} {
		var c int64
		if err := s.Query("SELECT c FROM hits WHERE k = 1").Scan(&c); err != nil || c != 2 {
			t.Fatalf("counter on a side: %d, %v", c, err)
		}
	}
}
