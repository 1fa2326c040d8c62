// Command bench/world measures the local world in one run: the global cluster's cross-DC visibility
// lag (a LOCAL_ONE write in one datacenter, polled LOCAL_ONE in another until it appears) for every
// ordered pair of regions, with no WAN delay and with the WAN's delays (default the seeds'
// distances, world.SeedDelays; -one-way D for the same delay everywhere), side by side in
// alternating blocks; and the resident memory of every service of the world. It writes
// bench/results/world.json and gives the WAN back as it found it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab/world"
)

const ks = "bench_world"

type setting struct {
	Name string
	Link world.Link
	lags map[[2]world.Region][]time.Duration
}

type figures struct {
	Setting  string  `json:"setting"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	RTTMS    float64 `json:"rtt_ms"`
	JitterMS float64 `json:"jitter_ms"`
	Samples  int     `json:"samples"`
	MinMS    float64 `json:"min_ms"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
}

func main() {
	oneWay := flag.Duration("one-way", 0, "the same one-way delay between every two regions, instead of the seeds' distances")
	jitter := flag.Duration("jitter", 5*time.Millisecond, "the WAN's jitter (±, uniform)")
	samples := flag.Int("samples", 200, "writes per setting (half in each direction)")
	rounds := flag.Int("rounds", 4, "alternating blocks per setting")
	out := flag.String("out", "bench/results/world.json", "JSON output")
	flag.Parse()
	env, err := world.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	wan := env.WAN()
	before, err := wan.Link(ctx)
	must(err)
	defer func() { must(wan.Apply(ctx, before)) }()
	must(wan.Heal(ctx))

	sessions := map[world.Region]*gocql.Session{}
	for _, r := range world.Regions {
		c := env.GlobalCluster(r)
		c.Consistency = gocql.LocalOne
		// As the local world's administrator (cqlconn.RoleAdmin): the bench creates and drops its
		// own keyspace and measures the WAN, not permissions, so it needs no role of its own.
		a, err := cqlconn.RoleAdmin.Apply(c)
		must(err)
		s, err := c.CreateSession()
		must(cqlconn.Explain(err, a, c.Hosts...))
		defer s.Close()
		sessions[r] = s
	}
	us := sessions[world.USEast1]
	must(us.Query("DROP KEYSPACE IF EXISTS " + ks).Exec())
	repl := "'class': 'NetworkTopologyStrategy'"
	for _, r := range world.Regions {
		repl += fmt.Sprintf(", '%s': 1", r.DC())
	}
	must(us.Query(fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {%s}", ks, repl)).Exec())
	must(us.Query("CREATE TABLE " + ks + ".t (k int PRIMARY KEY, v text)").Exec())

	far := world.Link{Delays: world.SeedDelays(), Jitter: *jitter}
	if *oneWay > 0 {
		far = world.Link{OneWay: *oneWay, Jitter: *jitter}
	}
	settings := []*setting{{Name: "no WAN delay"}, {Name: "WAN", Link: far}}
	var pairs [][2]world.Region
	for _, a := range world.Regions {
		for _, b := range world.Regions {
			if a != b {
				pairs = append(pairs, [2]world.Region{a, b})
			}
		}
	}
	k := 0
	per := max(*samples / *rounds, 2)
	for round := 0; round < *rounds; round++ {
		for _, s := range settings {
			must(wan.Apply(ctx, s.Link))
			if s.lags == nil {
				s.lags = map[[2]world.Region][]time.Duration{}
			}
			for i := 0; i < per; i++ {
				p := pairs[i%len(pairs)]
				k++
				lag, err := visibility(sessions[p[0]], sessions[p[1]], k)
				must(err)
				s.lags[p] = append(s.lags[p], lag)
			}
		}
	}

	var res struct {
		What       string    `json:"what"`
		Visibility []figures `json:"cassandra_cross_dc_visibility"`
		RSS        struct {
			TotalBytes int64            `json:"total_bytes"`
			Services   map[string]int64 `json:"services"`
		} `json:"rss"`
		When string `json:"when"`
	}
	res.What = "global cluster cross-DC visibility lag (LOCAL_ONE write in one DC until a LOCAL_ONE read in another sees it, from the write's start), every ordered pair of regions; RSS of the world's services"
	res.When = time.Now().UTC().Format(time.RFC3339)
	fmt.Printf("%-14s %-22s %8s %8s %8s %8s %8s %8s\n", "cross-DC lag", "pair", "rtt", "samples", "min", "p50", "p99", "max")
	for _, p := range pairs {
		var none float64
		for _, s := range settings {
			f := summarize(s, p)
			res.Visibility = append(res.Visibility, f)
			fmt.Printf("%-14s %-22s %6.0fms %8d %6.1fms %6.1fms %6.1fms %6.1fms", s.Name, f.From+"->"+f.To, f.RTTMS, f.Samples, f.MinMS, f.P50MS, f.P99MS, f.MaxMS)
			if s.Link == (world.Link{}) {
				none = f.P50MS
			} else if none > 0 {
				fmt.Printf("   p50 %+.1f ms over none", f.P50MS-none)
			}
			fmt.Println()
		}
	}
	res.RSS.Services, res.RSS.TotalBytes = rss(env.Regions)
	fmt.Printf("world RSS: %.2f GiB\n", float64(res.RSS.TotalBytes)/(1<<30))
	b, err := json.MarshalIndent(res, "", "  ")
	must(err)
	must(os.WriteFile(*out, append(b, '\n'), 0o644))
}

// visibility writes row k at LOCAL_ONE through src and polls dst until the row is there.
func visibility(src, dst *gocql.Session, k int) (time.Duration, error) {
	t0 := time.Now()
	if err := src.Query("INSERT INTO "+ks+".t (k, v) VALUES (?, 'x')", k).Exec(); err != nil {
		return 0, err
	}
	for time.Since(t0) < 30*time.Second {
		var v string
		err := dst.Query("SELECT v FROM "+ks+".t WHERE k = ?", k).Scan(&v)
		if err == nil {
			return time.Since(t0), nil
		}
		if err != gocql.ErrNotFound {
			return 0, err
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("row %d not visible after 30s", k)
}

func summarize(s *setting, p [2]world.Region) figures {
	l := append([]time.Duration(nil), s.lags[p]...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	if len(l) == 0 {
		return figures{Setting: s.Name, From: string(p[0]), To: string(p[1])}
	}
	return figures{Setting: s.Name, From: string(p[0]), To: string(p[1]), RTTMS: ms(s.Link.PairRTT(p[0], p[1])), JitterMS: ms(s.Link.Jitter), Samples: len(l),
		MinMS: ms(l[0]), P50MS: ms(q(0.50)), P99MS: ms(q(0.99)), MaxMS: ms(l[len(l)-1])}
}

// rss sums VmRSS of the services scripts/regions status lists as running.
func rss(regions string) (map[string]int64, int64) {
	if regions == "" {
		regions = "scripts/regions"
	}
	out, err := exec.Command(regions, "status").Output()
	if err != nil {
		log.Printf("scripts/regions status: %v", err)
		return nil, 0
	}
	m := map[string]int64{}
	var total int64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "running" {
			continue
		}
		st, err := os.ReadFile("/proc/" + f[2] + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
				m[f[0]] = kb * 1024
				total += kb * 1024
			}
		}
	}
	return m, total
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
