package demo

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Timeline is what happened when during a run, on one time axis (seconds since the run began):
// the phases of the migration, the faults injected, and series sampled every Interval seconds.
// It is part of report.json; the page draws it and nothing else.
//
// Invariants: every span has 0 <= Start <= End <= Seconds once the run is finished (a span still
// open at the end is closed there); points of a series are in increasing T.
type Timeline struct {
	Seconds  float64 `json:"seconds"`                 // length of the time axis
	Interval float64 `json:"sample_interval_seconds"` // between two samples
	Phases   []Span  `json:"phases"`
	Faults   []Span  `json:"faults"`
	Charts   []Chart `json:"charts"`
}

// Span is a phase (Lane "step" for the numbered steps, "activity" for what runs inside them) or
// a fault (Lane is the kind: kill, pause, partition; Name the service). A span with End == Start
// is an instant (a flip).
type Span struct {
	Lane  string  `json:"lane"`
	Name  string  `json:"name"`
	Start float64 `json:"start_s"`
	End   float64 `json:"end_s"`
	Until string  `json:"until,omitempty"` // for a fault: what ended it (restart, resume, heal)
}

// Chart is a group of series drawn on one plot: they share a unit.
type Chart struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Unit   string   `json:"unit"`
	Series []Series `json:"series"`
}

// Series is one sampled quantity.
type Series struct {
	Key    string  `json:"key"`
	Label  string  `json:"label"`
	Points []Point `json:"points"`
}

// Point is one sample: the value over the interval that ends at T (a rate, a gauge, or a
// percentile of what was observed in the interval).
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// probe kinds
const (
	probeRate   = iota // read() is a cumulative count; the series is its increase per second
	probeGauge         // read() is the value now
	probeWindow        // window() gives the observations of the interval; the series is one percentile
)

type probe struct {
	chart, key string
	kind       int
	read       func() float64
	window     func() []float64 // probeWindow: observations since the last call
	pct        []float64        // probeWindow: percentiles, one series each (key_pNN)
	last       float64
	started    bool
}

// recorder is the timeline being recorded: the run calls it where a phase begins or ends and
// where a fault is injected or healed, and registers probes that a sampler reads every interval.
// Every method is safe for concurrent use; a nil *recorder records nothing.
type recorder struct {
	start    time.Time
	interval time.Duration

	mu      sync.Mutex
	tl      Timeline
	probes  []*probe
	sources map[string]map[string]func() float64 // key -> owner -> read: summed (one per replay dir, agent…)
}

// The charts, in page order; a probe names its chart by ID.
var chartDefs = []Chart{
	{ID: "writes", Title: "Application writes", Unit: "writes/s"},
	{ID: "backlog", Title: "Replay log backlog", Unit: "writes"},
	{ID: "cache-events", Title: "Cache events between the regions", Unit: "events/s"},
	{ID: "cache-lag", Title: "Cache lag: write in one region to visible in the other", Unit: "ms"},
	{ID: "forklift", Title: "Forklift copy and merge", Unit: "rows/s"},
}

func newRecorder(start time.Time, interval time.Duration) *recorder {
	r := &recorder{start: start, interval: interval, sources: map[string]map[string]func() float64{}}
	r.tl.Interval = interval.Seconds()
	r.tl.Charts = slices.Clone(chartDefs)
	return r
}

func (r *recorder) now() float64 { return round3(time.Since(r.start).Seconds()) }

// phase opens a span in lane and returns what closes it.
func (r *recorder) phase(lane, name string) func() {
	if r == nil {
		return func() {}
	}
	r.mu.Lock()
	i := len(r.tl.Phases)
	t := r.now()
	r.tl.Phases = append(r.tl.Phases, Span{Lane: lane, Name: name, Start: t, End: -1})
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.tl.Phases[i].End < 0 {
			r.tl.Phases[i].End = r.now()
		}
		r.mu.Unlock()
	}
}

// instant records a moment (a flip) in lane.
func (r *recorder) instant(lane, name string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	t := r.now()
	r.tl.Phases = append(r.tl.Phases, Span{Lane: lane, Name: name, Start: t, End: t})
	r.mu.Unlock()
}

// faultStarts and faultEnds map scripts/regions actions to faults: a fault on a service lasts
// from the action that injects it to the first action that ends it.
var (
	faultStarts = map[string]bool{"kill": true, "pause": true, "stop": true, "partition": true}
	faultEnds   = map[string]bool{"restart": true, "resume": true, "start": true, "heal": true}
)

// action records a scripts/regions ACTION on target: the start or the end of a fault.
func (r *recorder) action(action, target string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	switch {
	case faultStarts[action]:
		r.tl.Faults = append(r.tl.Faults, Span{Lane: action, Name: target, Start: t, End: -1})
	case faultEnds[action]:
		for i := range r.tl.Faults {
			if f := &r.tl.Faults[i]; f.Name == target && f.End < 0 {
				f.End, f.Until = t, action
			}
		}
	}
}

// rate registers a cumulative count sampled as a rate per second. Several owners may feed one key
// (one per region's agent): the series is their sum; a later registration by the same owner
// replaces the earlier one (a session reopened on the same replay directory).
func (r *recorder) rate(chart, key, owner string, read func() float64) {
	r.source(chart, key, owner, probeRate, read)
}

// gauge registers a value sampled as it is (summed over owners, as rate).
func (r *recorder) gauge(chart, key, owner string, read func() float64) {
	r.source(chart, key, owner, probeGauge, read)
}

func (r *recorder) source(chart, key, owner string, kind int, read func() float64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sources[key] == nil {
		r.sources[key] = map[string]func() float64{}
		r.probes = append(r.probes, &probe{chart: chart, key: key, kind: kind, read: func() float64 {
			var s float64
			for _, f := range r.sources[key] { // called with r.mu held
				s += f()
			}
			return s
		}})
	}
	r.sources[key][owner] = read
}

// percentiles registers observations drained every interval into one series per percentile
// (key_p50, key_p99); an interval without observations leaves a gap.
func (r *recorder) percentiles(chart, key string, window func() []float64, pct ...float64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.probes = append(r.probes, &probe{chart: chart, key: key, kind: probeWindow, window: window, pct: pct})
	r.mu.Unlock()
}

// run samples every probe each interval until ctx ends, then once more.
func (r *recorder) run(ctx context.Context) {
	if r == nil {
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	r.sample()
	for {
		select {
		case <-ctx.Done():
			r.sample()
			return
		case <-t.C:
			r.sample()
		}
	}
}

func (r *recorder) sample() {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	for _, p := range r.probes {
		switch p.kind {
		case probeRate:
			v := p.read()
			if p.started {
				r.add(p.chart, p.key, Point{t, round3(max(v-p.last, 0) / r.interval.Seconds())})
			} else {
				r.add(p.chart, p.key, Point{t, 0})
			}
			p.last, p.started = v, true
		case probeGauge:
			r.add(p.chart, p.key, Point{t, round3(p.read())})
		case probeWindow:
			obs := p.window()
			if len(obs) == 0 {
				continue
			}
			slices.Sort(obs)
			for _, q := range p.pct {
				r.add(p.chart, p.key+pctSuffix(q), Point{t, round3(percentile(obs, q))})
			}
		}
	}
}

// add appends a point to chart's series key, creating it; the caller holds r.mu.
func (r *recorder) add(chart, key string, pt Point) {
	for i := range r.tl.Charts {
		c := &r.tl.Charts[i]
		if c.ID != chart {
			continue
		}
		for j := range c.Series {
			if c.Series[j].Key == key {
				c.Series[j].Points = append(c.Series[j].Points, pt)
				return
			}
		}
		c.Series = append(c.Series, Series{Key: key, Label: seriesLabels[key], Points: []Point{pt}})
		return
	}
}

// seriesLabels are the legends of the series the demo records.
var seriesLabels = map[string]string{
	"acknowledged":    "acknowledged",
	"retried":         "retried (a side failed)",
	"replay_backlog":  "waiting in replay logs",
	"published":       "published",
	"applied":         "applied",
	"cache_lag_p50":   "p50",
	"cache_lag_p99":   "p99",
	"forklift_rows":   "rows copied or merged",
	"forklift_errors": "errors",
}

func pctSuffix(q float64) string {
	return "_p" + strconv.Itoa(int(math.Round(q)))
}

// percentile of sorted obs, q in [0, 100]: the nearest-rank value.
func percentile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// finish closes what is still open at the end of the run and returns the timeline.
func (r *recorder) finish() Timeline {
	if r == nil {
		return Timeline{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	r.tl.Seconds = t
	for _, spans := range [][]Span{r.tl.Phases, r.tl.Faults} {
		for i := range spans {
			if spans[i].End < 0 {
				spans[i].End = t
			}
		}
	}
	tl := r.tl
	tl.Phases, tl.Faults = slices.Clone(tl.Phases), slices.Clone(tl.Faults)
	tl.Charts = slices.Clone(tl.Charts)
	for i := range tl.Charts {
		tl.Charts[i].Series = slices.Clone(tl.Charts[i].Series)
	}
	return tl
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// record starts the run's timeline: the probes every run has and the sampler; stop ends the
// sampling and puts the timeline into the report.
func (d *run) record(ctx context.Context) (stop func()) {
	d.rec = newRecorder(d.start, time.Second)
	d.rec.rate("writes", "acknowledged", "app", func() float64 { return float64(d.stats.Acked.Load()) })
	d.rec.rate("writes", "retried", "app", func() float64 { return float64(d.stats.Retried.Load()) })
	seen := 0
	d.rec.percentiles("cache-lag", "cache_lag", func() []float64 {
		d.lagMu.Lock()
		defer d.lagMu.Unlock()
		obs := slices.Clone(d.lags[seen:])
		seen = len(d.lags)
		return obs
	}, 50, 99)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { d.rec.run(sctx); close(done) }()
	return func() {
		cancel()
		<-done
		d.rep.Timeline = d.rec.finish()
	}
}

// copied is the rows forklift has copied or merged so far, over every run of the migration.
func (mg *forkliftMigration) copied() float64 {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if n := len(mg.points); n > 0 {
		return float64(max(mg.points[n-1].Rows, mg.base))
	}
	return float64(mg.base)
}

// watchReplay samples the replay backlog of the dualwrite session writing into dir.
func (d *run) watchReplay(dir string, dw interface{ Backlog() (int64, time.Duration) }) {
	d.rec.gauge("backlog", "replay_backlog", dir, func() float64 { n, _ := dw.Backlog(); return float64(n) })
}

// TimelineProblems lists what a finished run's timeline lacks: a span per step, the faults the
// run injected (each ended), and in every chart a series that moved. A run that fed the page
// returns none.
func (r *Report) TimelineProblems() []string {
	var p []string
	tl := &r.Timeline
	if tl.Seconds <= 0 || tl.Interval <= 0 {
		return []string{"no timeline recorded"}
	}
	steps := map[string]bool{}
	for _, s := range tl.Phases {
		if s.Lane == "step" {
			steps[s.Name] = true
		}
	}
	for _, s := range r.Steps {
		if !steps[s.Name] {
			p = append(p, "step "+s.Name+" not on the timeline")
		}
	}
	faults := map[string]Span{}
	for _, f := range tl.Faults {
		faults[f.Name] = f
	}
	for _, k := range r.Evacuation.Killed {
		if f, ok := faults[k]; !ok || f.Lane != "kill" {
			p = append(p, "kill of "+k+" not on the timeline")
		} else if r.CatchUp.Check != nil && f.Until == "" {
			p = append(p, "kill of "+k+" never ended on the timeline")
		}
	}
	// Each EU instance's flips: one span of its lane per epoch it applied.
	lanes := map[string]int{}
	for _, s := range tl.Phases {
		if in, ok := strings.CutPrefix(s.Lane, instanceLane); ok {
			lanes[in]++
		}
	}
	flips := map[string]int{}
	for _, f := range r.Control.Flips {
		flips[f.Instance]++
	}
	for _, in := range r.Control.Instances {
		if lanes[in] == 0 || lanes[in] != flips[in] {
			p = append(p, fmt.Sprintf("instance %s: %d flips recorded, %d on its timeline lane", in, flips[in], lanes[in]))
		}
	}
	for _, c := range tl.Charts {
		moved := false
		for _, s := range c.Series {
			for _, pt := range s.Points {
				moved = moved || pt.V > 0
			}
		}
		if !moved {
			p = append(p, "chart "+c.ID+": no sample above 0")
		}
	}
	return p
}
