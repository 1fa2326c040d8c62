// Command bench/forklift measures, in one run on the two local regions, forklift's rows/s copying
// a table from us-east-1 to eu-west-1 against two floors: the destination's raw ingest rate (the
// same rows written blind by a plain gocql writer at the best concurrency found, row by row and a
// batch per partition) and a copy by hand (plain gocql reading the source table by token range
// with writetime() and ttl(), writing unlogged per-partition batches, reading the next page while
// writing the one before; no checkpoints, no verify, no resolver). It reports lww (blind) at 1, 2,
// 4 and 8 workers, lww without read-ahead (forklift before its copy was pipelined), a
// read-merge-write resolver (union), and the ratios; and writes bench/results/forklift.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/world"
)

const ks = "forklift_bench"

type row struct {
	pk, ck int
	name   string
	score  int64
	ratio  float64
	ts     int64
}

func main() {
	rows := flag.Int("rows", 200000, "rows in the table (20 per partition)")
	out := flag.String("out", "bench/results/forklift.json", "JSON output")
	pidList := flag.String("pids", "", "name=pid,… of Cassandra processes whose CPU share is reported per row (e.g. us=123,eu=456)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the forklift lww runs (1-8 workers) here")
	flag.Parse()
	pids := parsePids(*pidList)
	env, err := world.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	usAddr, euAddr := env.USCQL, env.EUCQL
	src, dst := connect(usAddr), connect(euAddr)
	for _, s := range []*gocql.Session{src, dst} {
		must(s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec())
		must(s.Query(localKeyspace(s, ks)).Exec())
		must(s.Query("CREATE TABLE " + ks + ".t (pk int, ck int, name text, score bigint, ratio double, PRIMARY KEY (pk, ck))").Exec())
	}
	data := make([]row, *rows)
	base := time.Now().Add(-time.Hour).UnixMicro()
	for i := range data {
		data[i] = row{pk: i / 20, ck: i % 20, name: fmt.Sprintf("member-%d", i), score: int64(i * 7), ratio: float64(i) / 3, ts: base + int64(i)}
	}
	fmt.Printf("filling %d rows in us-east-1 …\n", *rows)
	write(src, data, 64)

	type result struct {
		What       string  `json:"what"`
		RowsPerSec float64 `json:"rows_per_sec"`
		Seconds    float64 `json:"seconds"`
		// CPUShare is each process's CPU seconds over the row's wall seconds (1.0 = one core).
		CPUShare map[string]float64 `json:"cpu_share,omitempty"`
	}
	var results []result
	cpu0, wall0 := cpuNow(pids), time.Now()
	begin := func() { cpu0, wall0 = cpuNow(pids), time.Now() }
	add := func(what string, n int, d time.Duration) float64 {
		r := float64(n) / d.Seconds()
		share := cpuShare(cpu0, cpuNow(pids), time.Since(wall0))
		results = append(results, result{What: what, RowsPerSec: r, Seconds: d.Seconds(), CPUShare: share})
		fmt.Printf("%-52s %9.0f rows/s  (%.1fs)  cpu %s\n", what, r, d.Seconds(), formatShare(share))
		return r
	}
	truncate := func() { must(dst.Query("TRUNCATE " + ks + ".t").Exec()); begin() }

	raw, rawBatch, byHand := 0.0, 0.0, 0.0
	for _, c := range []int{16, 64, 128} {
		truncate()
		t0 := time.Now()
		write(dst, data, c)
		raw = max(raw, add(fmt.Sprintf("raw gocql ingest, row by row, %d writers", c), len(data), time.Since(t0)))
	}
	for _, c := range []int{8, 16, 32} {
		truncate()
		t0 := time.Now()
		writeBatches(dst, data, c)
		rawBatch = max(rawBatch, add(fmt.Sprintf("raw gocql ingest, a batch per partition, %d writers", c), len(data), time.Since(t0)))
	}
	raw = max(raw, rawBatch)
	for _, w := range []int{4, 8} {
		truncate()
		t0 := time.Now()
		n := copyByHand(src, dst, w, 64, 1000, 16)
		if n != len(data) {
			log.Fatalf("copy by hand copied %d rows, want %d", n, len(data))
		}
		byHand = max(byHand, add(fmt.Sprintf("copy by hand, %d workers", w), len(data), time.Since(t0)))
	}
	cfg := forklift.Defaults()
	admin := cqlconn.MustFromEnv(cqlconn.RoleAdmin) // as connect: the bench's keyspaces are its own
	cfg.Source = forklift.ClusterConfig{Hosts: []string{usAddr}, DisableHostLookup: true, Consistency: "ONE", Access: admin}
	cfg.Destination = forklift.ClusterConfig{Hosts: []string{euAddr}, DisableHostLookup: true, Consistency: "ONE", Access: admin}
	cfg.CheckpointKeyspace = "forklift_bench_ckpt"
	cfg.Ranges = 64
	run := func(resolver string, workers int, opts forklift.RunOptions) float64 {
		truncate()
		c := cfg
		c.Workers = workers
		c.RunID = fmt.Sprintf("bench-%s-%d-%d", resolver, workers, time.Now().UnixNano())
		c.Tables = []forklift.TableConfig{{Keyspace: ks, Table: "t", Resolver: resolver}}
		job, err := forklift.Open(context.Background(), c)
		must(err)
		rep, err := job.Run(context.Background(), opts)
		must(err)
		must(job.Close())
		if rep.Rows != int64(len(data)) {
			log.Fatalf("forklift copied %d rows, want %d", rep.Rows, len(data))
		}
		what := fmt.Sprintf("forklift %s, %d workers", resolver, workers)
		if opts.NoReadAhead {
			what += ", no read-ahead (before)"
		}
		return add(what, len(data), time.Duration(rep.Seconds*float64(time.Second)))
	}
	best := 0.0
	perWorkers := map[int]float64{}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		must(err)
		must(pprof.StartCPUProfile(f))
	}
	for _, w := range []int{1, 2, 4, 8} {
		perWorkers[w] = run("lww", w, forklift.RunOptions{})
		best = max(best, perWorkers[w])
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	before := map[int]float64{}
	for _, w := range []int{4, 8} {
		before[w] = run("lww", w, forklift.RunOptions{NoReadAhead: true})
	}
	rmw := run("union", 8, forklift.RunOptions{})
	ratios := map[string]float64{
		"lww_over_copy_by_hand":     best / byHand,
		"lww_over_raw_batch":        best / rawBatch,
		"lww_over_raw":              best / raw,
		"read_merge_write_over_raw": rmw / raw,
		"lww_8_read_ahead_over_not": perWorkers[8] / before[8],
	}
	fmt.Printf("\nforklift lww (best) / copy by hand           = %.2f (target >= 0.9)\n", ratios["lww_over_copy_by_hand"])
	fmt.Printf("forklift lww (best) / raw batch ingest       = %.2f (target >= 0.8)\n", ratios["lww_over_raw_batch"])
	fmt.Printf("forklift union (read-merge-write) / raw best = %.2f (target >= 0.5)\n", ratios["read_merge_write_over_raw"])
	fmt.Printf("forklift lww 8 workers, read-ahead / without = %.2f (after / before)\n", ratios["lww_8_read_ahead_over_not"])
	b, _ := json.MarshalIndent(map[string]any{"rows": len(data), "results": results, "raw_best_rows_per_sec": raw,
		"raw_batch_best_rows_per_sec": rawBatch, "copy_by_hand_best_rows_per_sec": byHand,
		"lww_rows_per_sec_by_workers": perWorkers, "lww_no_read_ahead_rows_per_sec_by_workers": before,
		"ratios": ratios, "at": time.Now().UTC()}, "", "  ")
	must(os.WriteFile(*out, b, 0o644))
}

// write inserts data blind with its timestamps, conc at a time.
func write(s *gocql.Session, data []row, conc int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(data) {
					return
				}
				r := data[i]
				must(s.Query("INSERT INTO "+ks+".t (pk, ck, name, score, ratio) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
					r.pk, r.ck, r.name, r.score, r.ratio, r.ts).Exec())
			}
		}()
	}
	wg.Wait()
}

// writeBatches inserts data blind as one unlogged batch per partition (20 rows), conc at a time:
// the fastest way a plain gocql writer has to load this table.
func writeBatches(s *gocql.Session, data []row, conc int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(20)) - 20
				if start >= len(data) {
					return
				}
				b := s.NewBatch(gocql.UnloggedBatch)
				for _, r := range data[start:min(start+20, len(data))] {
					b.Query("INSERT INTO "+ks+".t (pk, ck, name, score, ratio) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
						r.pk, r.ck, r.name, r.score, r.ratio, r.ts)
				}
				must(s.ExecuteBatch(b))
			}
		}()
	}
	wg.Wait()
}

// connect opens a session as the local world's administrator (cqlconn.RoleAdmin, from the
// ISLANDS_CQL_* variables): a bench creates and drops its own keyspaces and measures throughput,
// not permissions, so it needs no role of its own.
func connect(addr string) *gocql.Session {
	c := gocql.NewCluster(addr)
	c.Consistency = gocql.One
	c.Timeout = 20 * time.Second
	c.DisableInitialHostLookup = true
	c.NumConns = 4
	a, err := cqlconn.RoleAdmin.Apply(c)
	must(err)
	s, err := c.CreateSession()
	must(cqlconn.Explain(err, a, addr))
	return s
}

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
