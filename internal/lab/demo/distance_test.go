package demo

import (
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	if p := percentiles(nil); p.N != 0 || p.String() != "no samples" {
		t.Fatalf("no samples: %+v %q", p, p)
	}
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i) // unsorted on purpose
	}
	p := percentiles(v)
	if p.N != 100 || p.P50 != 51 || p.P99 != 100 {
		t.Fatalf("1..100: %+v", p)
	}
	if v[0] != 100 {
		t.Fatal("percentiles sorted its argument in place")
	}
}

// A cache event counts for the WAN setting it was published under, even when it is applied after
// its window closed (the window is appended only when its traffic ends); events outside every
// window count for neither.
func TestCacheLagWindowsByPublishTime(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	d := &run{}
	d.windows = []window{{label: atZero, from: t0, to: t0.Add(10 * time.Second)},
		{label: atDistance, from: t0.Add(20 * time.Second), to: t0.Add(30 * time.Second)}}
	add := func(published time.Time, lag time.Duration) {
		d.lags = append(d.lags, float64(lag.Milliseconds()))
		d.lagAt = append(d.lagAt, published)
	}
	add(t0.Add(9*time.Second), 3*time.Second)         // published at 0 ms, applied after the window
	add(t0.Add(25*time.Second), 100*time.Millisecond) // at distance
	add(t0.Add(15*time.Second), 7*time.Millisecond)   // between the windows: neither
	add(t0.Add(-time.Second), 9*time.Millisecond)     // before: neither
	d.rep = &Report{}
	d.finishDistance()
	got := d.rep.Distance.CacheLag
	if got[0].N != 1 || got[0].P50 != 3000 || got[1].N != 1 || got[1].P50 != 100 {
		t.Fatalf("cache lag by window: %+v", got)
	}
}
