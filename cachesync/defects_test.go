package cachesync

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The stale-data defects of issue 23, one test each; every one failed on fa3d42f.

// testClock is a settable clock shared by a fake memcached, a client and an agent.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 900_000_000)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testAgent(mc Memcache, clk *testClock, ttl time.Duration) *Agent {
	return &Agent{mc: mc, opts: AgentOptions{TombstoneTTL: ttl, MaxDrift: time.Minute, Now: clk.now}, logger: discard, handlers: map[string]Handler{}}
}

func testClientAt(t *testing.T, mc Memcache, clk *testClock, region string, rules Rules) (*Client, *recSink) {
	t.Helper()
	s := &recSink{}
	c, err := NewClient(mc, s, ClientOptions{Region: region, Rules: rules, TombstoneTTL: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func at(clk *testClock, d time.Duration, origin string) Version {
	return Version{Micros: clk.now().Add(d).UnixMicro(), Origin: origin}
}

// Defect 1: a replicated set whose expiry passed on arrival (or passes before an older event
// arrives) must leave a tombstone at its version, not the older value.
func TestExpiredReplicatedSetLeavesTombstone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expiry func(clk *testClock) int64
		wait   time.Duration // between the newer set's arrival and the older one's
	}{
		{"expired on arrival", func(clk *testClock) int64 { return clk.now().Unix() - 1 }, 0},
		{"negative expiry", func(clk *testClock) int64 { return clk.now().Unix() - 3600 }, 0},
		{"expires before the older set arrives", func(clk *testClock) int64 { return clk.now().Unix() + 1 }, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			mc := newFakeMemcache(clk.now)
			a := testAgent(mc, clk, time.Minute)
			v1, v2 := at(clk, -2*time.Second, "us"), at(clk, -time.Second, "us")
			if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("v2"), Version: v2, Expiry: tc.expiry(clk)}); err != nil {
				t.Fatal(err)
			}
			clk.add(tc.wait)
			if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("v1"), Version: v1}); err != nil {
				t.Fatal(err)
			}
			c, _ := testClientAt(t, mc, clk, "eu", Rules{})
			if it, err := c.Get(context.Background(), "k"); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("older v1 served over the newer (expired) v2: %q %v", itemValue(it), err)
			}
		})
	}
}

func itemValue(it *Item) string {
	if it == nil {
		return ""
	}
	return string(it.Value)
}

// Defect 2: a local write that memcached refuses (too large, or a timeout) must still publish
// the write's event and invalidate the local key.
func TestFailedLocalWritePublishesAndInvalidates(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 2<<20)
	for _, tc := range []struct {
		name  string
		write func(c *Client, mc *fakeMemcache) error
	}{
		{"set too large", func(c *Client, mc *fakeMemcache) error {
			_, err := c.Set(context.Background(), &Item{Key: "k", Value: big})
			return err
		}},
		{"set timeout", func(c *Client, mc *fakeMemcache) error {
			mc.fail(1)
			_, err := c.Set(context.Background(), &Item{Key: "k", Value: []byte("new")})
			return err
		}},
		{"cas too large", func(c *Client, mc *fakeMemcache) error {
			it, err := c.Get(context.Background(), "k")
			if err != nil {
				return err
			}
			it.Value = big
			_, err = c.CompareAndSwap(context.Background(), it)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			mc := newFakeMemcache(clk.now)
			c, s := testClientAt(t, mc, clk, "us", Rules{Default: Replicate})
			if _, err := c.Set(context.Background(), &Item{Key: "k", Value: []byte("old")}); err != nil {
				t.Fatal(err)
			}
			n := len(s.evs)
			err := tc.write(c, mc)
			if err == nil {
				t.Fatal("the failed local write reported no error")
			}
			if len(s.evs) == n {
				t.Fatalf("the write's event was not published (%v)", err)
			}
			if it, err := c.Get(context.Background(), "k"); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("the old value is still served locally: %q %v", itemValue(it), err)
			}
		})
	}
}

// Defect 3: keys are bytes; the event envelope must carry them unchanged, and the client must
// refuse the keys memcached refuses.
func TestNonUTF8KeysSurviveTheEnvelope(t *testing.T) {
	for _, key := range []string{"k\xff", "\xc3\x28bad", strings.Repeat("\xfe", 250)} {
		ev := &Event{Format: EventFormat, ID: "x", Op: OpInvalidate, Key: key, Version: Version{Micros: 5, Origin: "us"}}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseEvent(string(b))
		if err != nil || got.Key != key {
			t.Fatalf("key %q came back as %q (%v)", key, got.Key, err)
		}
	}
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	c, s := testClientAt(t, mc, clk, "us", Rules{})
	for _, key := range []string{"has space", strings.Repeat("k", 251), "ctl\x01", ""} {
		if _, err := c.Set(context.Background(), &Item{Key: key, Value: []byte("v")}); !errors.Is(err, memcache.ErrMalformedKey) {
			t.Fatalf("Set(%q): want ErrMalformedKey, got %v", key, err)
		}
	}
	if len(s.evs) != 0 {
		t.Fatalf("refused keys published %d events", len(s.evs))
	}
}

// Defect 4: a version stamped far ahead (a clock stepped forward) wins in the database until
// real time passes it; the cache must not let an older real write win there meanwhile.
func TestFarFutureVersionKeepsCacheWithDatabase(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	a := testAgent(mc, clk, time.Minute)
	future := at(clk, time.Hour, "ap") // the database's newest until an hour passes
	if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("future"), Version: future}); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Minute) // past the drift limit the old code clamped to
	later := at(clk, 0, "eu")
	if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("later"), Version: later}); err != nil {
		t.Fatal(err)
	}
	c, _ := testClientAt(t, mc, clk, "us", Rules{})
	if it, err := c.Get(context.Background(), "k"); err == nil && string(it.Value) == "later" {
		t.Fatalf("cache holds %q at %d but the database's newest is the far-future write at %d", it.Value, later.Micros, future.Micros)
	}
	if a.stats.Ahead.Load() == 0 {
		t.Fatal("the far-ahead event was not counted")
	}
}

// Defect 5: Increment and Decrement keep the key's TTL, as memcached's incr does.
func TestIncrementKeepsTTL(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	c, _ := testClientAt(t, mc, clk, "us", Rules{})
	ctx := context.Background()
	if _, err := c.Set(ctx, &Item{Key: "n", Value: []byte("1"), Expiration: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Increment(ctx, "n", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrement(ctx, "n", 1); err != nil {
		t.Fatal(err)
	}
	clk.add(11 * time.Second)
	if it, err := c.Get(ctx, "n"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("the counter outlived its 10 s TTL: %q %v", itemValue(it), err)
	}
}

// Defect 6: a tombstone must outlive the "late" threshold under memcached's one-second clock
// (and a fractional TombstoneTTL), or an older set arriving in the gap is applied.
func TestTombstoneOutlivesLateThreshold(t *testing.T) {
	for _, ttl := range []time.Duration{4 * time.Second, 4500 * time.Millisecond} {
		clk := newTestClock() // at x.9 s: memcached's tick makes a TTL-4 item live 3.1 s
		mc := newFakeMemcache(clk.now)
		a := testAgent(mc, clk, ttl)
		v1, v2 := at(clk, -50*time.Millisecond, "us"), at(clk, 0, "eu")
		if _, err := a.applyCache(&Event{Op: OpDelete, Key: "k", Version: v2}); err != nil {
			t.Fatal(err)
		}
		clk.add(ttl - 100*time.Millisecond) // v1 is younger than the TTL: not late
		if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("old"), Version: v1}); err != nil {
			t.Fatal(err)
		}
		c, _ := testClientAt(t, mc, clk, "us", Rules{})
		if it, err := c.Get(context.Background(), "k"); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("TombstoneTTL %s: an older set was applied over a delete: %q %v", ttl, itemValue(it), err)
		}
	}
}

// Defect 7: Touch on a filled key must not publish version 0 (every agent rejects it as poison).
func TestTouchOnFillPublishesNoZeroVersion(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	c, s := testClientAt(t, mc, clk, "us", Rules{})
	ctx := context.Background()
	tok, err := c.BeginFill(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Fill(ctx, tok, &Item{Key: "k", Value: []byte("filled")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Touch(ctx, "k", 60); err != nil {
		t.Fatal(err)
	}
	for _, ev := range s.evs {
		b, _ := ev.Marshal()
		if _, err := ParseEvent(string(b)); err != nil {
			t.Fatalf("published an event every agent refuses: %+v: %v", ev, err)
		}
	}
}

// An error that is not memcached being unreachable (here: an object too large for the cache)
// must not pause the agent's receivers as "memcached unreachable"; a timeout must.
func TestOnlyUnreachableMemcachedPausesReceiving(t *testing.T) {
	f := newFakeSQS(t)
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	a := testAgent(mc, clk, time.Minute)
	a.sqs, a.queueURL = f.client(), f.url("q")
	big := Event{Format: EventFormat, ID: "x", Op: OpSet, Key: "k", Value: bytes.Repeat([]byte("v"), 2<<20), Version: at(clk, 0, "us")}
	body, _ := big.Marshal()
	a.handleOne(context.Background(), sqsMessage(string(body)))
	if a.mcDown.Load() {
		t.Fatal("an object too large for memcached paused receiving as if memcached were unreachable")
	}
	mc.fail(1)
	small := Event{Format: EventFormat, ID: "y", Op: OpInvalidate, Key: "k", Version: at(clk, 0, "us")}
	body, _ = small.Marshal()
	a.handleOne(context.Background(), sqsMessage(string(body)))
	if !a.mcDown.Load() {
		t.Fatal("a memcached timeout did not pause receiving")
	}
}

// Found by the widened model (seed 5): a version from Client.Now, handed back to Set or DeleteAt
// after the wall clock was stepped back more than MaxDrift, was refused as "too far ahead" —
// the database had the write, the cache and the other regions never heard of it.
func TestOwnVersionAcceptedAfterBackwardClockStep(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	s := &recSink{}
	c, err := NewClient(mc, s, ClientOptions{Region: "us", MaxDrift: 5 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	clk.add(10 * time.Second) // stepped ahead...
	v := c.Now()
	clk.add(-10 * time.Second) // ...and back, before the write is made
	if _, err := c.Set(context.Background(), &Item{Key: "k", Value: []byte("v"), Version: v}); err != nil {
		t.Fatalf("Set at the client's own version: %v", err)
	}
	if _, err := c.DeleteAt(context.Background(), "k", c.Now()); err != nil {
		t.Fatalf("DeleteAt at the client's own version: %v", err)
	}
	if len(s.evs) != 2 {
		t.Fatalf("%d events published, want 2", len(s.evs))
	}
}

// Found by the widened model (seed 674): a CompareAndSwap (or Increment) of a value stamped
// further ahead than the clock follows must still write a newer version, or the database keeps
// the old value while the cache serves the new one.
func TestReplacingWriteIsNewerThanAFarAheadValue(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	a := testAgent(mc, clk, time.Minute)
	c, _ := testClientAt(t, mc, clk, "us", Rules{})
	ctx := context.Background()
	ahead := at(clk, 30*time.Second, "eu") // within the agent's MaxDrift (1 min), beyond c2's (5 s)
	c2, _ := NewClient(mc, &recSink{}, ClientOptions{Region: "us", MaxDrift: 5 * time.Second, Now: clk.now})
	if _, err := a.applyCache(&Event{Op: OpSet, Key: "k", Value: []byte("7"), Version: ahead}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{c, c2} {
		it, err := cl.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		held := it.Version
		it.Value = []byte("8")
		v, err := cl.CompareAndSwap(ctx, it)
		if err != nil || !held.Less(v) {
			t.Fatalf("CompareAndSwap over v=%d wrote v=%d (%v)", held.Micros, v.Micros, err)
		}
		if _, err := cl.Increment(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
		if it, _ := cl.Get(ctx, "k"); !v.Less(it.Version) {
			t.Fatalf("Increment over v=%d wrote v=%d", v.Micros, it.Version.Micros)
		}
	}
}
