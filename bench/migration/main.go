// Command bench/migration measures the migration control plane against the real local regions:
// for a fleet of N instances (goroutines, each with its own dualwrite session WithMigration and its
// own control-keyspace session), the time from `set` (the LWT) to the last instance's
// acknowledgement, the write latency p99 of writes that began during a flip against those that
// began outside one (same run, same load), and the control keyspace's read rate per instance.
// It writes bench/results/migration.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/migration"
)

type fleetResult struct {
	Instances           int       `json:"instances"`
	Flips               int       `json:"flips"`
	SetToLastAckMs      []float64 `json:"set_to_last_ack_ms"`
	LWTMs               []float64 `json:"set_lwt_ms"`
	LWTToLastAckP50Ms   float64   `json:"lwt_done_to_last_ack_p50_ms"`
	SetToLastAckP50Ms   float64   `json:"set_to_last_ack_p50_ms"`
	SetToLastAckMaxMs   float64   `json:"set_to_last_ack_max_ms"`
	SetToWaitReturnMs   float64   `json:"set_to_wait_return_p50_ms"`
	WritesDuringFlip    int       `json:"writes_during_flip"`
	WritesOutside       int       `json:"writes_outside"`
	P99DuringFlipMs     float64   `json:"p99_during_flip_ms"`
	P99OutsideMs        float64   `json:"p99_outside_ms"`
	P99FlipOverOutside  float64   `json:"p99_during_flip_over_outside"`
	ControlReadsPerInst float64   `json:"control_reads_per_instance_per_s"`
	Errors              int64     `json:"write_errors"`
}

type write struct {
	began time.Time
	d     time.Duration
}

func main() {
	sizes := flag.String("instances", "3,30", "fleet sizes, comma-separated")
	flips := flag.Int("flips", 6, "flips per fleet size")
	rate := flag.Float64("rate", 300, "offered writes/s across the fleet")
	out := flag.String("out", "bench/results/migration.json", "JSON output")
	flag.Parse()
	us, eu := os.Getenv("ISLANDS_US_CQL"), os.Getenv("ISLANDS_EU_CQL")
	if us == "" || eu == "" {
		log.Fatal(`ISLANDS_US_CQL/ISLANDS_EU_CQL unset: eval "$(scripts/regions up)" first`)
	}
	const ks = "migration_bench"
	for _, addr := range []string{us, eu} {
		s := connect(addr, "")
		var dc string
		must(s.Query("SELECT data_center FROM system.local").Scan(&dc))
		must(s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec())
		must(s.Query(fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': 1}", ks, dc)).Exec())
		must(s.Query("CREATE TABLE " + ks + ".kv (k int PRIMARY KEY, v text)").Exec())
		s.Close()
	}
	ctl := connect(us, "")
	defer ctl.Close()
	st := migration.NewStore(ctl, "")
	must(st.EnsureSchema(context.Background(), nil))
	dir, _ := os.MkdirTemp("", "migration-bench")
	defer os.RemoveAll(dir)

	report := map[string]any{"at": time.Now().UTC(), "rate": *rate, "poll": dualwrite.DefaultMigrationPoll.String(),
		"heartbeat": dualwrite.DefaultMigrationHeartbeat.String()}
	var results []fleetResult
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		must(err)
		r := runFleet(st, us, eu, ks, dir, n, *flips, *rate)
		results = append(results, r)
		fmt.Printf("%d instances: set→last ack p50 %.0f ms max %.0f ms (of which the read+LWT p50 %.0f ms; LWT done→last ack p50 %.0f ms; set→wait return p50 %.0f ms); p99 during flips %.1f ms vs outside %.1f ms (×%.2f, %d/%d writes); control reads %.2f/s per instance\n",
			n, r.SetToLastAckP50Ms, r.SetToLastAckMaxMs, pct(r.LWTMs, 0.5), r.LWTToLastAckP50Ms, r.SetToWaitReturnMs, r.P99DuringFlipMs, r.P99OutsideMs, r.P99FlipOverOutside,
			r.WritesDuringFlip, r.WritesOutside, r.ControlReadsPerInst)
	}
	report["fleets"] = results
	b, _ := json.MarshalIndent(report, "", "  ")
	must(os.WriteFile(*out, append(b, '\n'), 0o644))
	fmt.Println("wrote", *out)
}

func runFleet(st *migration.Store, us, eu, ks, dir string, n, flips int, rate float64) fleetResult {
	ctx := context.Background()
	name := fmt.Sprintf("bench-%d-%d", n, time.Now().UnixNano())
	_, err := migration.Change(ctx, st, name, "primary-only", "bench", false)
	must(err)
	sessions := make([]*dualwrite.Session, n)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dualwrite.Open(ctx, config(us, ks), config(eu, ks), dualwrite.WithReplayDir(fmt.Sprintf("%s/%s-%d", dir, name, i)),
				dualwrite.WithMigration(config(us, ""), name, fmt.Sprintf("i%02d", i)))
			must(err)
			sessions[i] = s
		}()
	}
	wg.Wait()
	start := time.Now()
	readsAt := func() (total int64) {
		for _, s := range sessions {
			total += s.Migration().Reads
		}
		return total
	}
	reads0 := readsAt()

	var mu sync.Mutex
	var writes []write
	var errs int64
	stop := make(chan struct{})
	var ww sync.WaitGroup
	per := time.Duration(float64(time.Second) * float64(n) / rate)
	for i, s := range sessions {
		ww.Add(1)
		go func() {
			defer ww.Done()
			t := time.NewTicker(per)
			defer t.Stop()
			for k := i * 10_000_000; ; k++ {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				b := time.Now()
				err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "v").Consistency(gocql.One).Exec()
				d := time.Since(b)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					writes = append(writes, write{b, d})
				}
				mu.Unlock()
			}
		}()
	}
	cycle := []string{"dual", "dual-flipped", "dual", "primary-only"}
	type window struct{ from, to time.Time }
	var windows []window
	r := fleetResult{Instances: n, Flips: flips}
	var waitMs, fromLWT []float64
	for i := 0; i < flips; i++ {
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		s, err := migration.Change(ctx, st, name, cycle[i%len(cycle)], "bench", false)
		must(err)
		t1 := time.Now()
		r.LWTMs = append(r.LWTMs, ms(t1.Sub(t0)))
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		f, err := migration.Wait(wctx, st, name, s.Epoch, 20*time.Millisecond)
		cancel()
		must(err)
		returned := time.Now()
		last := t0
		for _, h := range f.All() {
			if h.Updated.After(last) {
				last = h.Updated
			}
		}
		r.SetToLastAckMs = append(r.SetToLastAckMs, ms(last.Sub(t0)))
		fromLWT = append(fromLWT, ms(last.Sub(t1)))
		waitMs = append(waitMs, ms(returned.Sub(t0)))
		windows = append(windows, window{t0, returned})
	}
	time.Sleep(2 * time.Second)
	close(stop)
	ww.Wait()
	elapsed := time.Since(start)
	r.ControlReadsPerInst = float64(readsAt()-reads0) / elapsed.Seconds() / float64(n)
	for _, s := range sessions {
		s.Close()
	}
	var during, outside []float64
	for _, w := range writes {
		in := false
		for _, win := range windows {
			if !w.began.Before(win.from) && w.began.Before(win.to) {
				in = true
				break
			}
		}
		if in {
			during = append(during, ms(w.d))
		} else {
			outside = append(outside, ms(w.d))
		}
	}
	r.WritesDuringFlip, r.WritesOutside, r.Errors = len(during), len(outside), errs
	r.P99DuringFlipMs, r.P99OutsideMs = pct(during, 0.99), pct(outside, 0.99)
	if r.P99OutsideMs > 0 {
		r.P99FlipOverOutside = r.P99DuringFlipMs / r.P99OutsideMs
	}
	acks := slices.Clone(r.SetToLastAckMs)
	r.SetToLastAckP50Ms, r.SetToLastAckMaxMs, r.SetToWaitReturnMs = pct(acks, 0.5), pct(acks, 1), pct(waitMs, 0.5)
	r.LWTToLastAckP50Ms = pct(fromLWT, 0.5)
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	i := int(p*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

func config(addr, ks string) *gocql.ClusterConfig {
	c := gocql.NewCluster(addr)
	must(cqlconn.MustFromEnv(cqlconn.RoleAdmin).Apply(c))
	c.Keyspace = ks
	c.Timeout = 5 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.DisableInitialHostLookup = true
	c.NumConns = 1
	return c
}

func connect(addr, ks string) *gocql.Session {
	s, err := config(addr, ks).CreateSession()
	must(err)
	return s
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
