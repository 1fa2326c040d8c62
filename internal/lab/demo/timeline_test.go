package demo

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The recorder's rules: spans close where they were closed or at the end of the run; a fault
// lasts from the action that injects it to the first action that ends it; a rate is the increase
// per second of the summed owners, and a re-registered owner replaces its earlier reader.
func TestRecorderSpansAndFaults(t *testing.T) {
	r := newRecorder(time.Now(), time.Second)
	end := r.phase("step", "1. seed")
	end()
	end() // a second call changes nothing
	r.phase("activity", "never closed")
	r.instant("flip", "flip")
	r.action("kill", "cassandra-us")
	r.action("pause", "memcached-us")
	r.action("restart", "cassandra-us")
	r.action("status", "cassandra-us") // not a fault
	tl := r.finish()
	if len(tl.Phases) != 3 || len(tl.Faults) != 2 {
		t.Fatalf("phases %+v faults %+v", tl.Phases, tl.Faults)
	}
	for _, s := range append(tl.Phases, tl.Faults...) {
		if s.Start < 0 || s.End < s.Start || s.End > tl.Seconds {
			t.Errorf("span %+v outside [0, %v]", s, tl.Seconds)
		}
	}
	if f := tl.Faults[0]; f.Until != "restart" || f.Name != "cassandra-us" || f.Lane != "kill" {
		t.Errorf("kill fault %+v", f)
	}
	if f := tl.Faults[1]; f.Until != "" || f.End != tl.Seconds {
		t.Errorf("a fault never ended lasts to the end: %+v", f)
	}
	if p := tl.Phases[2]; p.Start != p.End {
		t.Errorf("flip is an instant: %+v", p)
	}
}

func TestRecorderSamples(t *testing.T) {
	r := newRecorder(time.Now(), time.Second)
	var a, b atomic.Int64
	r.rate("writes", "acknowledged", "us", func() float64 { return float64(a.Load()) })
	r.rate("writes", "acknowledged", "eu", func() float64 { return float64(b.Load()) })
	backlog := int64(7)
	r.gauge("backlog", "replay_backlog", "dir", func() float64 { return float64(backlog) })
	r.gauge("backlog", "replay_backlog", "dir", func() float64 { return float64(backlog * 2) }) // replaces
	var obs []float64
	r.percentiles("cache-lag", "cache_lag", func() []float64 { o := obs; obs = nil; return o }, 50, 99)

	r.sample() // first sample of a rate is 0: nothing to compare with
	a.Add(30)
	b.Add(20)
	obs = []float64{5, 1, 3, 2, 4, 100}
	r.sample()
	r.sample() // no observations: a gap in the lag series, 0 writes/s
	tl := r.finish()
	series := map[string][]Point{}
	for _, c := range tl.Charts {
		for _, s := range c.Series {
			series[s.Key] = s.Points
		}
	}
	if w := series["acknowledged"]; len(w) != 3 || w[0].V != 0 || w[1].V != 50 || w[2].V != 0 {
		t.Errorf("writes/s %+v, want 0, 50, 0", w)
	}
	if g := series["replay_backlog"]; len(g) != 3 || g[0].V != 14 {
		t.Errorf("backlog %+v, want 14 (the replacing reader only)", g)
	}
	if p := series["cache_lag_p50"]; len(p) != 1 || p[0].V != 3 {
		t.Errorf("p50 %+v, want one point of 3", p)
	}
	if p := series["cache_lag_p99"]; len(p) != 1 || p[0].V != 100 {
		t.Errorf("p99 %+v, want one point of 100", p)
	}
	for k := range series {
		if seriesLabels[k] == "" {
			t.Errorf("series %s has no legend label", k)
		}
	}
}

func TestRecorderRunSamplesUntilCancelled(t *testing.T) {
	r := newRecorder(time.Now(), 10*time.Millisecond)
	var n atomic.Int64
	r.gauge("backlog", "replay_backlog", "dir", func() float64 { return float64(n.Add(1)) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if n.Load() < 2 {
		t.Fatalf("sampled %d times", n.Load())
	}
	var nilRec *recorder // a run without a recorder records nothing and does not panic
	nilRec.phase("step", "x")()
	nilRec.action("kill", "x")
	nilRec.rate("writes", "acknowledged", "x", func() float64 { return 0 })
}
