// Command bench/dualwrite measures, in one run against the real local regions, the latency and
// throughput of a plain gocql session on each side alone against a dualwrite session in the dual
// phase (primary-authoritative) and with the async policy, at the same concurrency. It prints the
// ratios the issue sets targets for and writes bench/results/dualwrite.json.
//
// The "paused follower" rows then pause eu-west-1's Cassandra (scripts/regions pause, resumed on
// exit) and measure, during the pause, the caller's p50/p99 of the primary alone and of the
// dualwrite sessions: the follower budget (WithFollowerBudget) is what bounds them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/lab/world"
)

type result struct {
	Mode        string  `json:"mode"`
	Ops         int64   `json:"ops"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	AllocsPerOp float64 `json:"allocs_per_write"`
	Errors      int64   `json:"errors"`
}

// regionsScript is the world's scripts/regions (ISLANDS_REGIONS), for the paused-follower rows.
var regionsScript string

func main() {
	dur := flag.Duration("duration", 8*time.Second, "time per mode per round")
	rounds := flag.Int("rounds", 2, "rounds (modes alternate within each round)")
	conc := flag.Int("concurrency", 8, "concurrent writers")
	rate := flag.Float64("rate", 2000, "offered writes/s of the paced runs (0 = only the saturating fixed-concurrency runs)")
	out := flag.String("out", "bench/results/dualwrite.json", "JSON output")
	pause := flag.Duration("pause", 15*time.Second, "how long eu-west-1's Cassandra is paused for the paused-follower rows (0 = skip them)")
	budget := flag.Duration("budget", dualwrite.DefaultFollowerBudget, "follower budget of the dualwrite sessions")
	flag.Parse()
	env, err := world.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	us, eu := env.USCQL, env.EUCQL
	regionsScript = env.Regions
	const ks = "dualwrite_bench"
	for _, addr := range []string{us, eu} {
		s := connect(addr, "")
		must(s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec())
		must(s.Query(localKeyspace(s, ks)).Exec())
		must(s.Query("CREATE TABLE " + ks + ".kv (k int PRIMARY KEY, v text)").Exec())
		s.Close()
	}
	primary, secondary := connect(us, ks), connect(eu, ks)
	dir, _ := os.MkdirTemp("", "dualwrite-bench")
	defer os.RemoveAll(dir)
	// dualwrite.Open: the sessions own (and heal) their gocql sessions, as an application would.
	ctx := context.Background()
	dual, err := dualwrite.Open(ctx, config(us, ks), config(eu, ks), dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(dir+"/dual"), dualwrite.WithFollowerBudget(*budget))
	must(err)
	async, err := dualwrite.Open(ctx, config(us, ks), config(eu, ks), dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithPolicy(dualwrite.Async), dualwrite.WithReplayDir(dir+"/async"), dualwrite.WithFollowerBudget(*budget))
	must(err)

	stmt := "INSERT INTO kv (k, v) VALUES (?, ?)"
	modes := []struct {
		name  string
		write func(k int) error
	}{
		{"gocql primary (us-east-1)", func(k int) error { return primary.Query(stmt, k, "v").Exec() }},
		{"gocql secondary (eu-west-1)", func(k int) error { return secondary.Query(stmt, k, "v").Exec() }},
		{"gocql pair, by hand", func(k int) error {
			// Both sides in parallel with one timestamp and no library: the floor for any dual
			// writer on this machine, where the two "regions" share two cores.
			ts := time.Now().UnixMicro()
			done := make(chan error, 1)
			go func() { done <- secondary.Query(stmt, k, "v").WithTimestamp(ts).Exec() }()
			err := primary.Query(stmt, k, "v").WithTimestamp(ts).Exec()
			if e := <-done; err == nil {
				err = e
			}
			return err
		}},
		{"dualwrite dual", func(k int) error { return dual.Query(stmt, k, "v").Exec() }},
		{"dualwrite async", func(k int) error { return async.Query(stmt, k, "v").Exec() }},
	}
	loads := []struct {
		name string
		rate float64
	}{{fmt.Sprintf("fixed concurrency %d, as fast as possible (saturates this 2-core machine)", *conc), 0}}
	if *rate > 0 {
		loads = append(loads, struct {
			name string
			rate float64
		}{fmt.Sprintf("concurrency %d paced at %.0f writes/s", *conc, *rate), *rate})
	}
	report := map[string]any{}
	for _, load := range loads {
		lat := map[string][]time.Duration{}
		agg := map[string]*result{}
		for r := 0; r < *rounds; r++ {
			for _, m := range modes {
				res, l := run(m.write, *conc, *dur, load.rate)
				if agg[m.name] == nil {
					agg[m.name] = &result{Mode: m.name}
				}
				a := agg[m.name]
				a.Ops += res.Ops
				a.Errors += res.Errors
				a.AllocsPerOp += res.AllocsPerOp / float64(*rounds)
				a.OpsPerSec += res.OpsPerSec / float64(*rounds)
				lat[m.name] = append(lat[m.name], l...)
				if m.name == "dualwrite async" {
					async.WaitReplayed(context.Background())
				}
			}
		}
		var results []result
		fmt.Printf("\n== %s\n%-30s %10s %9s %9s %14s %7s\n", load.name, "mode", "ops/s", "p50 ms", "p99 ms", "allocs/write", "errors")
		for _, m := range modes {
			a := agg[m.name]
			l := lat[m.name]
			slices.Sort(l)
			a.P50ms = ms(l[len(l)/2])
			a.P99ms = ms(l[len(l)*99/100])
			results = append(results, *a)
			fmt.Printf("%-30s %10.0f %9.2f %9.2f %14.1f %7d\n", a.Mode, a.OpsPerSec, a.P50ms, a.P99ms, a.AllocsPerOp, a.Errors)
		}
		slower := max(results[0].P99ms, results[1].P99ms)
		ratios := map[string]float64{
			"dual_p99_over_slower_single_p99": results[3].P99ms / slower,
			"dual_p99_over_pair_by_hand_p99":  results[3].P99ms / results[2].P99ms,
			"async_p99_over_primary_p99":      results[4].P99ms / results[0].P99ms,
			"dual_ops_over_primary_ops":       results[3].OpsPerSec / results[0].OpsPerSec,
		}
		fmt.Printf("dual p99 / slower single side p99 = %.2f (target <= 1.10)\n", ratios["dual_p99_over_slower_single_p99"])
		fmt.Printf("dual p99 / gocql pair by hand p99 = %.2f (the library's own cost)\n", ratios["dual_p99_over_pair_by_hand_p99"])
		fmt.Printf("async p99 / primary alone p99     = %.2f (target <= 1.02)\n", ratios["async_p99_over_primary_p99"])
		report[load.name] = map[string]any{"offered_rate": load.rate, "results": results, "ratios": ratios}
	}
	fmt.Printf("%d rounds of %s per mode, modes alternating\n", *rounds, *dur)
	if *pause > 0 && *rate > 0 {
		report["paused follower"] = pausedFollower(modes[0].write, modes[3].write, modes[4].write, *conc, *rate, *pause, *budget, dual, async)
	}
	b, _ := json.MarshalIndent(map[string]any{"concurrency": *conc, "duration_per_mode": dur.String(), "rounds": *rounds,
		"follower_budget": budget.String(), "loads": report, "at": time.Now().UTC()}, "", "  ")
	must(os.WriteFile(*out, b, 0o644))
	dual.Close()
	async.Close()
}

// run writes with conc workers for d. With rate > 0 the workers are paced to offer rate writes/s
// in all (an open loop below saturation: latency is the request path, not queueing); with rate 0
// each worker writes as fast as it can.
func run(write func(int) error, conc int, d time.Duration, rate float64) (result, []time.Duration) {
	var ops, errs atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for i := 0; time.Since(start) < d; i++ {
				if rate > 0 {
					at := start.Add(time.Duration(float64(i*conc+g) / rate * float64(time.Second)))
					time.Sleep(time.Until(at))
				}
				t0 := time.Now()
				if err := write(g*1_000_000 + i); err != nil {
					errs.Add(1)
				}
				local = append(local, time.Since(t0))
				ops.Add(1)
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	el := time.Since(start)
	runtime.ReadMemStats(&ms1)
	n := ops.Load()
	return result{Ops: n, Errors: errs.Load(), OpsPerSec: float64(n) / el.Seconds(),
		AllocsPerOp: float64(ms1.Mallocs-ms0.Mallocs) / float64(n)}, all
}

// pausedFollower pauses eu-west-1's Cassandra for pause and, during it, runs the paced load on
// the primary alone, the dual session and the async session (a third of the pause each, after a
// second of settling), then resumes it and waits for both sessions to drain their replay logs.
func pausedFollower(primary, dual, async func(int) error, conc int, rate float64, pause, budget time.Duration,
	dualS, asyncS *dualwrite.Session) map[string]any {
	regions := regionsScript
	if regions == "" {
		regions = "scripts/regions"
	}
	fault := func(action string) {
		if out, err := exec.Command(regions, action, "cassandra-eu").CombinedOutput(); err != nil {
			log.Fatalf("scripts/regions %s cassandra-eu: %v: %s", action, err, out)
		}
	}
	fault("pause")
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			fault("resume")
		}
	}
	defer resume()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; resume(); os.Exit(1) }()
	defer signal.Stop(sig)
	time.Sleep(time.Second)
	each := (pause - time.Second) / 3
	modes := []struct {
		name  string
		write func(int) error
	}{{"paused follower: gocql primary", primary}, {"paused follower: dualwrite dual", dual}, {"paused follower: dualwrite async", async}}
	var results []result
	fmt.Printf("\n== eu-west-1 paused %s, concurrency %d paced at %.0f writes/s, follower budget %s\n%-34s %10s %9s %9s %14s %7s\n",
		pause, conc, rate, budget, "mode", "ops/s", "p50 ms", "p99 ms", "allocs/write", "errors")
	for i, m := range modes {
		res, l := run(func(k int) error { return m.write(50_000_000 + i*5_000_000 + k) }, conc, each, rate)
		res.Mode = m.name
		slices.Sort(l)
		res.P50ms, res.P99ms = ms(l[len(l)/2]), ms(l[len(l)*99/100])
		results = append(results, res)
		fmt.Printf("%-34s %10.0f %9.2f %9.2f %14.1f %7d\n", res.Mode, res.OpsPerSec, res.P50ms, res.P99ms, res.AllocsPerOp, res.Errors)
	}
	resume()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must(dualS.WaitReplayed(ctx))
	must(asyncS.WaitReplayed(ctx))
	drain := time.Since(t0)
	ratio := results[1].P99ms / (results[0].P99ms + ms(budget))
	fmt.Printf("dual p99 during the pause / (primary p99 + budget) = %.2f (target <= 1)\n", ratio)
	fmt.Printf("replay logs drained %s after the resume (dual kept %d, async kept %d)\n", drain.Round(time.Millisecond), dualS.Stats().Logged, asyncS.Stats().Logged)
	return map[string]any{"pause": pause.String(), "offered_rate": rate, "results": results,
		"ratios": map[string]float64{"dual_p99_over_primary_p99_plus_budget": ratio}, "drain_after_resume_s": drain.Seconds()}
}

func connect(addr, ks string) *gocql.Session {
	s, err := config(addr, ks).CreateSession()
	must(cqlconn.Explain(err, cqlconn.MustFromEnv(cqlconn.RoleAdmin), addr))
	return s
}

// config is the gocql configuration of every session of the bench, as the local world's
// administrator (cqlconn.RoleAdmin): the bench creates and drops its own keyspace and measures
// latency, not permissions, so it needs no role of its own.
func config(addr, ks string) *gocql.ClusterConfig {
	c := gocql.NewCluster(addr)
	c.Keyspace = ks
	c.Consistency = gocql.One
	c.Timeout = 10 * time.Second
	c.DisableInitialHostLookup = true
	c.WriteCoalesceWaitTime = 0           // gocql's default 200 µs batching window would dominate small latencies
	c.Logger = log.New(io.Discard, "", 0) // the paused-follower rows pause a node on purpose
	_, err := cqlconn.RoleAdmin.Apply(c)
	must(err)
	return c
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// localKeyspace is the CREATE KEYSPACE of ks replicated once in the datacenter of the node s is
// connected to: ISLANDS_US_CQL is the global cluster's us-east-1 node, and a SimpleStrategy keyspace
// there would put half its rows in eu-west-1, behind the WAN.
func localKeyspace(s *gocql.Session, ks string) string {
	var dc string
	must(s.Query("SELECT data_center FROM system.local").Scan(&dc))
	return fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': 1}", ks, dc)
}
