package integration

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

// runFault is fault without the testing.T, for use from a goroutine.
func runFault(e Env, action, service string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.Regions, action, service).CombinedOutput()
	if err != nil {
		return &faultError{action + " " + service + ": " + err.Error() + ": " + strings.TrimSpace(string(out))}
	}
	return nil
}

type faultError struct{ s string }

func (f *faultError) Error() string { return f.s }

// ensureRunning restarts service at the end of a test that may have left it paused or killed.
func ensureRunning(t *testing.T, e Env, service string) {
	t.Cleanup(func() {
		out, _ := exec.Command(e.Regions, "status").Output()
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == service && f[1] != "running" {
				if f[1] == "paused" {
					runFault(e, "resume", service)
				} else {
					runFault(e, "restart", service)
				}
			}
		}
	})
}

// TestDualwriteFaults is the fault test: 20k concurrent writes in the dual phase while the
// secondary's Cassandra (eu-west-1) is paused for a while and, later, killed and restarted. After
// the replayer drains, both keyspaces must hold the same cells with the same writetimes, and every
// write the application was told succeeded must be there.
func TestDualwriteFaults(t *testing.T) {
	e := needServices(t)
	const ks = "dualwrite_faults"
	dwKeyspaces(t, e, ks)
	ensureRunning(t, e, "cassandra-eu")
	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()

	const workers, perWorker, keysPerWorker = 50, 400, 300
	// Per worker: ~420 writes/s in all, ~48 s of traffic: past the pause (6-14 s) and the kill at 24 s
	// followed by the restart (a node answers ~10-15 s after it starts, scripts/regions), with
	// writes landing on the restarted node. (It was 170 ms and ~70 s while a restart took 30-48 s.)
	const pace = 120 * time.Millisecond
	type keyState struct {
		acked       string
		failedSince bool // a write after the last acknowledged one failed: either value may be there
	}
	states := make([]map[int]*keyState, workers)
	var failed, acked int64
	var mu sync.Mutex
	start := time.Now()

	faults := make(chan error, 1)
	go func() {
		steps := []struct {
			at     time.Duration
			action string
		}{{6 * time.Second, "pause"}, {14 * time.Second, "resume"}, {24 * time.Second, "kill"}, {24 * time.Second, "restart"}}
		for _, s := range steps {
			time.Sleep(time.Until(start.Add(s.at)))
			if err := runFault(e, s.action, "cassandra-eu"); err != nil {
				faults <- err
				return
			}
			t.Logf("%5.1fs: %s cassandra-eu", time.Since(start).Seconds(), s.action)
		}
		faults <- nil
	}()

	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		states[g] = map[int]*keyState{}
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for seq := 0; seq < perWorker; seq++ {
				time.Sleep(time.Until(start.Add(time.Duration(seq) * pace)))
				k := g + workers*(seq%keysPerWorker)
				v := dwValue(g, seq)
				st := states[g][k]
				if st == nil {
					st = &keyState{}
					states[g][k] = st
				}
				err := dw.Query("INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", k, v, int64(seq)).Exec()
				mu.Lock()
				if err != nil {
					failed++
					st.failedSince = true
				} else {
					acked++
					st.acked, st.failedSince = v, false
				}
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if err := <-faults; err != nil {
		t.Fatal(err)
	}
	writeTime := time.Since(start)
	stats := dw.Stats()
	n, age := dw.Backlog()
	t.Logf("writes issued %d, acknowledged %d, failed to caller %d, follower failures %d, kept for replay %d, backlog %d (oldest %s) after %s",
		stats.Writes, acked, failed, stats.FollowerFailed, stats.Logged, n, age.Round(time.Millisecond), writeTime.Round(time.Second))
	if stats.Logged == 0 {
		t.Fatal("no follower write was kept for replay: the faults did not reach the secondary")
	}
	t0 := time.Now()
	if err := dw.WaitReplayed(waitCtx(t, 3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Logf("replay drained in %s: %d entries replayed", time.Since(t0).Round(time.Millisecond), dw.Stats().Replayed)

	rows, count := dwCompare(t, e, ks)
	lost := 0
	for g := range states {
		for k, st := range states[g] {
			if st.acked == "" || st.failedSince {
				continue
			}
			if rows[k].V != st.acked {
				if lost < 5 {
					t.Errorf("key %d: acknowledged %q, both sides hold %q", k, st.acked, rows[k].V)
				}
				lost++
			}
		}
	}
	t.Logf("FIGURES issued=%d acknowledged=%d failed=%d kept=%d replayed=%d rows=%d lost=%d",
		stats.Writes, acked, failed, stats.Logged, dw.Stats().Replayed, count, lost)
	if lost > 0 {
		t.Fatalf("%d acknowledged writes missing", lost)
	}
}
