// Command bench/dualwrite measures, in one run against the real local regions, the latency and
// throughput of a plain gocql session on each side alone against a dualwrite session in the dual
// phase (primary-authoritative) and with the async policy, at the same concurrency. It prints the
// ratios the issue sets targets for and writes bench/results/dualwrite.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/dualwrite"
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

func main() {
	dur := flag.Duration("duration", 8*time.Second, "time per mode per round")
	rounds := flag.Int("rounds", 2, "rounds (modes alternate within each round)")
	conc := flag.Int("concurrency", 8, "concurrent writers")
	rate := flag.Float64("rate", 2000, "offered writes/s of the paced runs (0 = only the saturating fixed-concurrency runs)")
	out := flag.String("out", "bench/results/dualwrite.json", "JSON output")
	flag.Parse()
	us, eu := os.Getenv("ISLANDS_US_CQL"), os.Getenv("ISLANDS_EU_CQL")
	if us == "" || eu == "" {
		log.Fatal(`ISLANDS_US_CQL/ISLANDS_EU_CQL unset: eval "$(scripts/regions up)" first`)
	}
	const ks = "dualwrite_bench"
	for _, addr := range []string{us, eu} {
		s := connect(addr, "")
		must(s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec())
		must(s.Query("CREATE KEYSPACE " + ks + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec())
		must(s.Query("CREATE TABLE " + ks + ".kv (k int PRIMARY KEY, v text)").Exec())
		s.Close()
	}
	primary, secondary := connect(us, ks), connect(eu, ks)
	dir, _ := os.MkdirTemp("", "dualwrite-bench")
	defer os.RemoveAll(dir)
	dual, err := dualwrite.New(primary, secondary, dualwrite.WithReplayDir(dir+"/dual"))
	must(err)
	async, err := dualwrite.New(primary, secondary, dualwrite.WithPolicy(dualwrite.Async), dualwrite.WithReplayDir(dir+"/async"))
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
	b, _ := json.MarshalIndent(map[string]any{"concurrency": *conc, "duration_per_mode": dur.String(), "rounds": *rounds,
		"loads": report, "at": time.Now().UTC()}, "", "  ")
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

func connect(addr, ks string) *gocql.Session {
	c := gocql.NewCluster(addr)
	c.Keyspace = ks
	c.Consistency = gocql.One
	c.Timeout = 10 * time.Second
	c.DisableInitialHostLookup = true
	c.WriteCoalesceWaitTime = 0 // gocql's default 200 µs batching window would dominate small latencies
	s, err := c.CreateSession()
	must(err)
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
