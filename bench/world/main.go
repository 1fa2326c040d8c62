// Command bench/world measures the local world in one run: the global cluster's cross-DC visibility
// lag (a LOCAL_ONE write in one datacenter, polled LOCAL_ONE in the other until it appears) with no
// WAN delay and with the WAN's delay (default 35 ms each way, ±5 ms), side by side in alternating
// blocks, both directions; and the resident memory of every service of the world. It writes
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
	Name           string        `json:"name"`
	OneWay, Jitter time.Duration `json:"-"`
	OneWayMS       float64       `json:"one_way_ms"`
	JitterMS       float64       `json:"jitter_ms"`
	lags           []time.Duration
}

type figures struct {
	Setting  string  `json:"setting"`
	OneWayMS float64 `json:"one_way_ms"`
	JitterMS float64 `json:"jitter_ms"`
	Samples  int     `json:"samples"`
	MinMS    float64 `json:"min_ms"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
}

func main() {
	oneWay := flag.Duration("one-way", 35*time.Millisecond, "the WAN's one-way delay compared with none")
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
	defer func() {
		must(wan.Set(ctx, before.OneWay, before.Jitter))
		if !before.Partitioned {
			must(wan.Heal(ctx))
		}
	}()
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
	must(us.Query(fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': 1, '%s': 1}",
		ks, world.USEast1.DC(), world.EUWest1.DC())).Exec())
	must(us.Query("CREATE TABLE " + ks + ".t (k int PRIMARY KEY, v text)").Exec())

	settings := []*setting{
		{Name: "no WAN delay", OneWay: 0, Jitter: 0},
		{Name: "WAN", OneWay: *oneWay, Jitter: *jitter},
	}
	k := 0
	per := max(*samples / *rounds, 2)
	for round := 0; round < *rounds; round++ {
		for _, s := range settings {
			must(wan.Set(ctx, s.OneWay, s.Jitter))
			for i := 0; i < per; i++ {
				from := world.Regions[i%2]
				k++
				lag, err := visibility(sessions[from], sessions[from.Other()], k)
				must(err)
				s.lags = append(s.lags, lag)
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
	res.What = "global cluster cross-DC visibility lag (LOCAL_ONE write in one DC until a LOCAL_ONE read in the other sees it, from the write's start), both directions; RSS of the world's services"
	res.When = time.Now().UTC().Format(time.RFC3339)
	fmt.Printf("%-14s %10s %8s %8s %8s %8s %8s\n", "cross-DC lag", "one-way", "samples", "min", "p50", "p99", "max")
	for _, s := range settings {
		f := summarize(s)
		res.Visibility = append(res.Visibility, f)
		fmt.Printf("%-14s %8.0fms %8d %6.1fms %6.1fms %6.1fms %6.1fms\n", s.Name, f.OneWayMS, f.Samples, f.MinMS, f.P50MS, f.P99MS, f.MaxMS)
	}
	if len(res.Visibility) == 2 && res.Visibility[0].P50MS > 0 {
		fmt.Printf("p50 ratio WAN/none: %.1fx, p50 difference %.1f ms (one-way %v)\n",
			res.Visibility[1].P50MS/res.Visibility[0].P50MS, res.Visibility[1].P50MS-res.Visibility[0].P50MS, *oneWay)
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

func summarize(s *setting) figures {
	l := append([]time.Duration(nil), s.lags...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	return figures{Setting: s.Name, OneWayMS: ms(s.OneWay), JitterMS: ms(s.Jitter), Samples: len(l),
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
