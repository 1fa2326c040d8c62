package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestForkliftShardsKilledAndRestarted: the README's Kubernetes recipe with real processes. N
// `forklift run --resume --shard i/N` processes share one run; they start in a random order, and a
// random one is killed with -9 and restarted (with --resume again) every little while. Each shard
// must finish, exit 0 and never refuse to start; verify then finds no difference.
func TestForkliftShardsKilledAndRestarted(t *testing.T) {
	e := needServices(t)
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks, ckpt, shards = "forklift_shards", "forklift_shards_ckpt", 3
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".members "+mixedSchema)
	ddl(t, dst, "DROP KEYSPACE IF EXISTS "+ckpt)
	rows := envInt("FORKLIFT_SHARD_ROWS", 30_000)
	fillMixed(t, src, ks, "members", rows)
	bin := buildForklift(t)
	cfgPath := writeForkliftYAML(t, strings.Replace(forkliftYAML(t, e, ks, "members", ckpt), "run_id: kill9", "run_id: shards", 1))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 31))
	seed := rng.Uint64()
	rng = rand.New(rand.NewPCG(seed, 31))
	t.Logf("seed %d", seed)

	type proc struct {
		cmd  *exec.Cmd
		out  *bytes.Buffer
		done chan error
	}
	var mu sync.Mutex
	running := map[int]*proc{}
	start := func(i int) {
		cmd := exec.Command(bin, "run", "--config", cfgPath, "--resume", "--shard", fmt.Sprintf("%d/%d", i, shards))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, out: out, done: make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		mu.Lock()
		running[i] = p
		mu.Unlock()
	}
	order := rng.Perm(shards)
	for _, i := range order {
		start(i)
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
	}
	finished := map[int]bool{}
	kills, starts := 0, shards
	deadline := time.Now().Add(5 * time.Minute)
	for len(finished) < shards {
		if time.Now().After(deadline) {
			t.Fatalf("shards not finished after 5 minutes (finished %v)", finished)
		}
		// Reap the processes that ended on their own: each must have succeeded.
		for i, p := range running {
			select {
			case err := <-p.done:
				if err != nil {
					t.Fatalf("shard %d/%d exited on its own with %v:\n%s", i, shards, err, p.out)
				}
				finished[i] = true
				delete(running, i)
			default:
			}
		}
		if kills < 8 && len(running) > 0 && rng.IntN(2) == 0 {
			ids := make([]int, 0, len(running))
			for i := range running {
				ids = append(ids, i)
			}
			i := ids[rng.IntN(len(ids))]
			p := running[i]
			_ = p.cmd.Process.Kill() // SIGKILL
			if err := <-p.done; err == nil {
				finished[i] = true // it had finished just before the kill
				delete(running, i)
				continue
			}
			kills++
			delete(running, i)
			time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
			start(i)
			starts++
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
	}
	var done int
	it := dst.Query("SELECT done FROM " + ckpt + ".forklift_progress WHERE run = 'shards'").Iter()
	var d bool
	for it.Scan(&d) {
		if d {
			done++
		}
	}
	must(t, it.Close())
	if done != 64 {
		t.Fatalf("%d of 64 ranges done", done)
	}
	ver := exec.Command(bin, "verify", "--config", cfgPath)
	verOut, err := ver.CombinedOutput()
	if err != nil {
		t.Fatalf("forklift verify after the shards: %v (exit 0 means no difference)\n%s", err, verOut)
	}
	t.Logf("FIGURES rows=%d shards=%d starts=%d kill9=%d verify=%s", rows, shards, starts, kills, strings.TrimSpace(lastLine(string(verOut))))
}
