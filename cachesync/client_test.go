package cachesync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
)

type recSink struct{ evs []*Event }

func (r *recSink) Publish(ctx context.Context, ev *Event) error {
	r.evs = append(r.evs, ev)
	return nil
}

func newTestClient(t *testing.T, reg prometheus.Registerer) (*Client, *fakeMemcache, *recSink) {
	mc := newFakeMemcache(time.Now)
	s := &recSink{}
	c, err := NewClient(mc, s, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Invalidate}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c, mc, s
}

func TestRawValuesReadAsMissesAndAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, mc, _ := newTestClient(t, reg)
	ctx := context.Background()
	mc.Set(&memcache.Item{Key: "k", Value: []byte("\x02 written by a plain client")})
	if _, err := c.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("raw value: want a miss, got %v", err)
	}
	if got, _ := c.GetMulti(ctx, []string{"k"}); len(got) != 0 {
		t.Fatalf("GetMulti returned a raw value: %v", got)
	}
	if n := counterValue(t, reg, "islands_cachesync_unversioned_values_total"); n != 2 {
		t.Fatalf("unversioned counted %v, want 2", n)
	}
	// A write replaces the raw value.
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if it, err := c.Get(ctx, "k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("after Set: %v %v", it, err)
	}
	// A second Client on the same registry does not panic.
	if _, err := NewClient(mc, &recSink{}, ClientOptions{Region: "eu", Registerer: reg}); err != nil {
		t.Fatal(err)
	}
}

func TestOriginLengthIsValidated(t *testing.T) {
	_, err := NewClient(newFakeMemcache(time.Now), &recSink{}, ClientOptions{Region: strings.Repeat("r", 256)})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("256-byte region: want ErrConfig, got %v", err)
	}
}

func TestSetReportsNotApplied(t *testing.T) {
	c, _, s := newTestClient(t, nil)
	ctx := context.Background()
	newer := c.Now()
	older := Version{Micros: newer.Micros - 10, Origin: "us-east-1"}
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("new"), Version: newer}); err != nil {
		t.Fatal(err)
	}
	n := len(s.evs)
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("old"), Version: older}); !errors.Is(err, ErrNotApplied) || !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("older Set: want ErrNotApplied, got %v", err)
	}
	if len(s.evs) != n {
		t.Fatal("a write that did not apply was published")
	}
	if it, _ := c.Get(ctx, "k"); string(it.Value) != "new" {
		t.Fatalf("held %q", it.Value)
	}
}

func TestFillVoidedByInvalidationBetweenBeginAndFill(t *testing.T) {
	c, mc, _ := newTestClient(t, nil)
	ctx := context.Background()
	a := &Agent{mc: mc, opts: AgentOptions{TombstoneTTL: time.Minute}, logger: discard, handlers: map[string]Handler{}}
	for _, held := range []bool{false, true} { // miss, or an earlier tombstone
		key := "k" + map[bool]string{false: "miss", true: "tomb"}[held]
		if held {
			c.Delete(ctx, key)
		}
		tok, err := c.BeginFill(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		// The invalidation of a write the (lagging) read will miss, with an older version.
		if _, err := a.applyCache(&Event{Op: OpInvalidate, Key: key, Version: Version{Micros: 1, Origin: "eu"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Fill(ctx, tok, &Item{Key: key, Value: []byte("stale")}); !errors.Is(err, ErrNotApplied) {
			t.Fatalf("%s: fill after an invalidation: want ErrNotApplied, got %v", key, err)
		}
		if _, err := c.Get(ctx, key); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("%s: stale fill stored", key)
		}
	}
	// A stored fill is replaced by any later invalidation, however old its version.
	tok, _ := c.BeginFill(ctx, "f")
	if err := c.Fill(ctx, tok, &Item{Key: "f", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	a.applyCache(&Event{Op: OpInvalidate, Key: "f", Version: Version{Micros: 1, Origin: "eu"}})
	if _, err := c.Get(ctx, "f"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatal("a fill survived an invalidation")
	}
}

func TestLateSetIsAppliedAsInvalidation(t *testing.T) {
	mc := newFakeMemcache(time.Now)
	a := &Agent{mc: mc, opts: AgentOptions{TombstoneTTL: time.Minute}, logger: discard, handlers: map[string]Handler{}}
	old := Version{Micros: time.Now().Add(-2 * time.Minute).UnixMicro(), Origin: "eu"}
	if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("resurrected"), Version: old}); err != nil {
		t.Fatal(err)
	}
	it, _ := mc.Get("k")
	if s, err := DecodeItem(it); err != nil || s.Kind != KindInvalidation || a.stats.Late.Load() != 1 {
		t.Fatalf("late set stored as %+v (%v), late %d", s, err, a.stats.Late.Load())
	}
}

func TestTouchCountersGetMulti(t *testing.T) {
	c, mc, s := newTestClient(t, nil)
	ctx := context.Background()
	c.Set(ctx, &Item{Key: "n", Value: []byte("41")})
	c.Set(ctx, &Item{Key: "m", Value: []byte("x")})
	if n, err := c.Increment(ctx, "n", 2); err != nil || n != 43 {
		t.Fatalf("Increment: %d %v", n, err)
	}
	if n, err := c.Decrement(ctx, "n", 50); err != nil || n != 0 {
		t.Fatalf("Decrement below 0: %d %v", n, err)
	}
	if last := s.evs[len(s.evs)-1]; last.Op != OpInvalidate || last.Key != "n" {
		t.Fatalf("a counter change must go out as an invalidation, got %+v", last)
	}
	if _, err := c.Increment(ctx, "absent", 1); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Increment of a miss: %v", err)
	}
	got, err := c.GetMulti(ctx, []string{"n", "m", "absent"})
	if err != nil || len(got) != 2 || string(got["m"].Value) != "x" || string(got["n"].Value) != "0" {
		t.Fatalf("GetMulti: %v %v", got, err)
	}
	it, _ := c.Get(ctx, "m")
	if err := c.Touch(ctx, "m", 100); err != nil {
		t.Fatal(err)
	}
	if last := s.evs[len(s.evs)-1]; last.Op != OpTouch || last.Version != it.Version {
		t.Fatalf("touch event %+v, want the touched version %+v", last, it.Version)
	}
	// A remote touch applies to the same version only.
	a := &Agent{mc: mc, opts: AgentOptions{TombstoneTTL: time.Minute}, logger: discard, handlers: map[string]Handler{}}
	if ok, _ := a.applyCache(&Event{Op: OpTouch, Key: "m", Version: Version{Micros: 1, Origin: "eu"}, Expiry: time.Now().Unix() + 5}); ok {
		t.Fatal("a touch of another version applied")
	}
}

// counterValue sums the series of the counter name in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// A clock stepped far ahead in one region must not pin keys elsewhere.
func TestFarAheadVersionsDoNotPinKeys(t *testing.T) {
	c, mc, _ := newTestClient(t, nil)
	ctx := context.Background()
	a := &Agent{mc: mc, opts: AgentOptions{TombstoneTTL: time.Minute, MaxDrift: time.Minute}, logger: discard, handlers: map[string]Handler{}}
	future := Version{Micros: time.Now().Add(24 * time.Hour).UnixMicro(), Origin: "eu"}
	if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("from the future"), Version: future}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) || a.stats.Ahead.Load() != 1 {
		t.Fatalf("a far-ahead set must be an invalidation: %v, ahead %d", err, a.stats.Ahead.Load())
	}
	// The application cannot write at such a version either.
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("v"), Version: future}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Set at a version a day ahead: want ErrConfig, got %v", err)
	}
}
