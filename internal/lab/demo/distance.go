package demo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/world"
)

// The distance step measures each figure twice in the same run, with the same code on the same
// machine: once with the WAN at 0 ms, once at the run's distance. A figure at 0 ms alone says
// nothing about a deployment; the pair says what the distance costs.

// Labels of the two WAN settings.
const (
	atZero     = "0 ms"
	atDistance = "distance"
)

// DistanceFigures are the figures under distance, each at 0 ms and at the WAN's distance.
type DistanceFigures struct {
	WAN        string           `json:"wan"`
	Visibility [2]Percentile    `json:"cross_dc_visibility_ms"` // write LOCAL_ONE in one DC, poll another: every pair
	Pairs      []PairVisibility `json:"cross_dc_visibility_by_pair,omitempty"`
	CacheLag   [2]Percentile    `json:"cache_lag_ms"`             // write in one region to applied in the other's cache
	DualWrite  [2]Percentile    `json:"eu_dual_write_ms"`         // the EU application's dual writes
	Forklift   [2]float64       `json:"forklift_rows_per_second"` // EU island into the 3-DC keyspace, via eu-west-1
}

// PairVisibility is the cross-DC visibility between two regions, both directions, at 0 ms and at
// the WAN's distance (the pair's RTT).
type PairVisibility struct {
	A   string        `json:"a"`
	B   string        `json:"b"`
	RTT string        `json:"rtt"`
	At  [2]Percentile `json:"ms"`
}

// Percentile is p50 and p99 of n samples, in ms.
type Percentile struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

func percentiles(v []float64) Percentile {
	if len(v) == 0 {
		return Percentile{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return Percentile{N: len(v), P50: v[len(v)/2], P99: v[min(len(v)-1, len(v)*99/100)]}
}

func (p Percentile) String() string {
	if p.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %6.1f ms, p99 %6.1f ms (n=%d)", p.P50, p.P99, p.N)
}

// samples are values by label, safe for concurrent use.
type samples struct {
	mu sync.Mutex
	by map[string][]float64
}

func (s *samples) add(label string, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string][]float64{}
	}
	s.by[label] = append(s.by[label], v)
}

func (s *samples) get(label string) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.by[label])
}

// window is a stretch of the distance step's traffic under one WAN setting; a cache event
// published inside it counts for that setting.
type window struct {
	label    string
	from, to time.Time
}

// lagApplied records a cache event's lag, and when it was published, for the run's figures and
// for the distance step's windows (classified at the end: an event is often applied after its
// window has closed).
func (d *run) lagApplied(lag time.Duration) {
	ms := float64(lag.Microseconds()) / 1000
	d.lagMu.Lock()
	defer d.lagMu.Unlock()
	d.lags = append(d.lags, ms)
	d.lagAt = append(d.lagAt, time.Now().Add(-lag))
}

// distance runs the step: for each WAN setting, the applications' traffic (the EU instances dual
// writing), cross-DC visibility probes between every pair of regions and a forklift copy of the
// EU island into the 3-DC scratch keyspace. It leaves the WAN at the run's distance.
func (d *run) distance(ctx context.Context, apps []*app) error {
	wan := d.w.WAN()
	fig := DistanceFigures{WAN: d.link.String()}
	dur, probes := d.k.window, d.k.probes
	// Warm up (connections, prepared statements on both sides) before anything is measured.
	d.driveFor(ctx, d.steady(apps), time.Second, 4)
	for i, set := range []struct {
		label string
		link  world.Link
	}{{atZero, world.Link{}}, {atDistance, d.link}} {
		if err := wan.Apply(ctx, set.link); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // events of the previous setting still on their way
		end := d.rec.phase("activity", "WAN at "+map[string]string{atZero: "0 ms", atDistance: d.link.RTT().String() + " RTT"}[set.label]+": figures")
		d.dwLabel.Store(&set.label)
		from := time.Now()
		d.driveFor(ctx, d.steady(apps), dur, 5+uint64(i))
		d.dwLabel.Store(nil)
		d.lagMu.Lock()
		d.windows = append(d.windows, window{label: set.label, from: from, to: time.Now()})
		d.lagMu.Unlock()
		vis, err := d.visibility(ctx, probes, i)
		if err != nil {
			return err
		}
		var every []float64
		for j, p := range pairs() {
			if i == 0 {
				fig.Pairs = append(fig.Pairs, PairVisibility{A: regionNames[p.a], B: regionNames[p.b],
					RTT: d.link.PairRTT(world.Regions[p.a], world.Regions[p.b]).String()})
			}
			every = append(every, vis[p]...)
			fig.Pairs[j].At[i] = percentiles(vis[p])
		}
		fig.Visibility[i] = percentiles(every)
		rps, err := d.scratchCopy(ctx, set.label)
		if err != nil {
			return err
		}
		fig.Forklift[i] = rps
		end()
		d.say("  WAN %-8s cross-DC visibility %s; forklift %6.0f rows/s", set.label, fig.Visibility[i], rps)
	}
	// The cache events of the second window may still be on their way: the figures are read at the
	// end of the step that follows (finishDistance).
	d.rep.Distance = fig
	return nil
}

// finishDistance fills in the figures that arrive late: the windows' cache lags.
func (d *run) finishDistance() {
	d.rep.Distance.DualWrite = [2]Percentile{percentiles(d.dwLat.get(atZero)), percentiles(d.dwLat.get(atDistance))}
	by := map[string][]float64{}
	d.lagMu.Lock()
	for i, published := range d.lagAt {
		for _, w := range d.windows {
			if !published.Before(w.from) && published.Before(w.to) {
				by[w.label] = append(by[w.label], d.lags[i])
			}
		}
	}
	d.lagMu.Unlock()
	d.rep.Distance.CacheLag = [2]Percentile{percentiles(by[atZero]), percentiles(by[atDistance])}
}

// pair is two regions by index, a < b.
type pair struct{ a, b int }

// pairs are every two regions of the world, in world.Regions' order.
func pairs() []pair {
	var out []pair
	for a := range world.Regions {
		for b := a + 1; b < len(world.Regions); b++ {
			out = append(out, pair{a, b})
		}
	}
	return out
}

// visibility writes n rows at LOCAL_ONE in each datacenter of the global cluster for each other
// datacenter and measures, polling that datacenter at LOCAL_ONE, when each becomes visible there;
// the samples of both directions of a pair go together.
func (d *run) visibility(ctx context.Context, n, round int) (map[pair][]float64, error) {
	out := map[pair][]float64{}
	for _, p := range pairs() {
		for dir, fromTo := range [][2]int{{p.a, p.b}, {p.b, p.a}} {
			from, to := fromTo[0], fromTo[1]
			src, err := d.admin(from)
			if err != nil {
				return nil, err
			}
			dst, err := d.admin(to)
			if err != nil {
				return nil, err
			}
			for i := 0; i < n; i++ {
				k := round*100000 + (p.a*3+p.b)*10000 + dir*1000 + i
				t0 := time.Now()
				if err := src.Query("INSERT INTO "+scratchKS+".probes (run, k, v) VALUES (?, ?, ?)", d.start.UnixNano(), k, regionNames[from]).
					Consistency(gocql.LocalOne).WithContext(ctx).Exec(); err != nil {
					return nil, fmt.Errorf("visibility probe: write in %s: %w", regionNames[from], err)
				}
				for {
					var v string
					err := dst.Query("SELECT v FROM "+scratchKS+".probes WHERE run = ? AND k = ?", d.start.UnixNano(), k).Consistency(gocql.LocalOne).WithContext(ctx).Scan(&v)
					if err == nil {
						break
					}
					if err != gocql.ErrNotFound {
						return nil, fmt.Errorf("visibility probe: read in %s: %w", regionNames[to], err)
					}
					if time.Since(t0) > 30*time.Second {
						return nil, fmt.Errorf("visibility probe: a row written in %s not visible in %s after 30s", regionNames[from], regionNames[to])
					}
					time.Sleep(time.Millisecond)
				}
				out[p] = append(out[p], float64(time.Since(t0).Microseconds())/1000)
			}
		}
	}
	return out, nil
}

// scratchCopy copies the EU island's viewing histories, as lww, into demo_scratch (replicated in
// every datacenter) through eu-west-1, as the migration's forklift runs, and returns its rows/s.
func (d *run) scratchCopy(ctx context.Context, label string) (float64, error) {
	cfg := d.migration().config(flows[0], 0)
	var tables []forklift.TableConfig
	for _, t := range cfg.Tables {
		if t.Table == "viewing_history" { // the largest dataset
			t.DestinationKeyspace, t.Resolver, t.Options = scratchKS, "lww", nil
			tables = append(tables, t)
		}
	}
	cfg.Tables = tables
	cfg.RunID = fmt.Sprintf("demo-%d-scratch-%s", d.start.Unix(), label)
	r, err := withJob(ctx, cfg, func(j *forklift.Job) (*forklift.RunReport, error) { return j.Run(ctx, forklift.RunOptions{}) })
	if err != nil {
		return 0, fmt.Errorf("forklift copy into %s at %s: %w", scratchKS, label, err)
	}
	return r.RowsPerSec, nil
}

// printDistance writes the figures under distance, each next to its 0 ms twin.
func printDistance(w io.Writer, f DistanceFigures) {
	if f.WAN == "" {
		return
	}
	fmt.Fprintf(w, "\nUnder distance (WAN %s), each next to the same figure at 0 ms in this run:\n", f.WAN)
	fmt.Fprintf(w, "  %-44s %-38s %s\n", "figure", "at 0 ms", "at distance")
	row := func(name string, a, b Percentile) { fmt.Fprintf(w, "  %-44s %-38s %s\n", name, a, b) }
	row("Cassandra cross-DC visibility (LOCAL_ONE)", f.Visibility[0], f.Visibility[1])
	for _, p := range f.Pairs {
		row(fmt.Sprintf("  %s <-> %s (rtt %s)", p.A, p.B, p.RTT), p.At[0], p.At[1])
	}
	row("cache lag, one region to another", f.CacheLag[0], f.CacheLag[1])
	row("dual write, EU instances (island+global)", f.DualWrite[0], f.DualWrite[1])
	fmt.Fprintf(w, "  %-44s %-38s %.0f rows/s\n", "forklift into the 3-DC keyspace (eu-west-1)", fmt.Sprintf("%.0f rows/s", f.Forklift[0]), f.Forklift[1])
}
