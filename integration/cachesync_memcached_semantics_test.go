package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/cachesync"
)

// recordingSink keeps what a Client publishes (no SQS needed for these checks).
type recordingSink struct{ evs []*cachesync.Event }

func (r *recordingSink) Publish(_ context.Context, ev *cachesync.Event) error {
	r.evs = append(r.evs, ev)
	return nil
}

// TestCachesyncRealMemcachedSemantics checks, against the real memcached, what the unit tests'
// fake memcached claims (cas on a missing key is a miss, an item over 1 MiB is refused and a
// refused cas or add leaves the old item), and issue 23's defects 2 and 5 on it: a write memcached
// refuses still publishes and invalidates the key; Increment keeps the TTL.
func TestCachesyncRealMemcachedSemantics(t *testing.T) {
	e := needServices(t)
	mc := memcached(e.USMemcached)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	big := bytes.Repeat([]byte("x"), 2<<20)

	// The fake's claims.
	if err := mc.CompareAndSwap(&memcache.Item{Key: "sem:missing:" + run, Value: []byte("v"), CasID: 1}); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("cas on a missing key: want ErrCacheMiss (NOT_FOUND), got %v", err)
	}
	k := "sem:big:" + run
	if err := mc.Add(&memcache.Item{Key: k, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	it, _ := mc.Get(k)
	it.Value = big
	if err := mc.CompareAndSwap(it); err == nil || definiteMemcached(err) {
		t.Fatalf("cas of 2 MiB: want SERVER_ERROR object too large, got %v", err)
	}
	if it, err := mc.Get(k); err != nil || string(it.Value) != "old" {
		t.Fatalf("a refused cas must leave the old item: %v %v", it, err)
	}

	// Defect 2: the Client's write memcached refuses.
	s := &recordingSink{}
	c, err := cachesync.NewClient(mc, s, cachesync.ClientOptions{Region: "us-east-1", Rules: csRules})
	if err != nil {
		t.Fatal(err)
	}
	key := "profile:sem:" + run
	if _, err := c.Set(ctx, &cachesync.Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	n := len(s.evs)
	if _, err := c.Set(ctx, &cachesync.Item{Key: key, Value: big}); err == nil {
		t.Fatal("a 2 MiB Set reported no error")
	}
	if len(s.evs) != n+1 || s.evs[n].Op != cachesync.OpInvalidate {
		t.Fatalf("the refused write published %d events (%+v), want one invalidation", len(s.evs)-n, s.evs[n:])
	}
	if _, err := c.Get(ctx, key); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("the old value is still served after a refused write: %v", err)
	}

	// Defect 5: Increment keeps the TTL.
	ck := "counter:sem:" + run
	if _, err := c.Set(ctx, &cachesync.Item{Key: ck, Value: []byte("1"), Expiration: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Increment(ctx, ck, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond) // past the 2 s TTL and memcached's tick
	if _, err := c.Get(ctx, ck); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("the counter outlived its 2 s TTL: %v", err)
	}
}

func definiteMemcached(err error) bool {
	return errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss)
}
