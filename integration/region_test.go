package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab"
	"github.com/globalcloud/islands/internal/lab/world"
)

// TestRegionHandles opens a lab.Region per region of the real world: each one's application
// session lands in its own datacenter, and a value set through one region's cache reaches every
// other region's memcached through that region's queue on its SQS server (across the WAN), applied
// by the receiving handle's agent.
func TestRegionHandles(t *testing.T) {
	w := needWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := lab.OpenAll(ctx, w, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.CloseAll(rs)
	rules := cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "regiontest:", Mode: cachesync.Replicate}}}
	for _, r := range rs {
		s, err := r.Session(cqlconn.RoleApp)
		if err != nil {
			t.Fatal(err)
		}
		var dc string
		if err := s.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&dc); err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if dc != r.Name.DC() {
			t.Errorf("%s's session answered from datacenter %s", r.Name, dc)
		}
		if err := r.StartCache(ctx, lab.CacheOptions{Rules: rules, SpillDir: t.TempDir(),
			Agent: cachesync.AgentOptions{WaitSeconds: 1, RetryDelay: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	nonce := time.Now().UnixNano()
	for _, from := range rs {
		key := fmt.Sprintf("regiontest:%s:%d", from.Name, nonce)
		want := "from " + string(from.Name)
		if _, err := from.Cache().Set(ctx, &cachesync.Item{Key: key, Value: []byte(want), Expiration: 300}); err != nil {
			t.Fatalf("%s: set %s: %v", from.Name, key, err)
		}
		for _, to := range rs {
			if to == from {
				continue
			}
			for {
				it, err := to.Cache().Get(ctx, key)
				if err == nil && string(it.Value) == want {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("%s's value of %s never reached %s (last: %v)", from.Name, key, to.Name, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	if len(rs) != 3 {
		t.Errorf("%d region handles, want the world's three", len(rs))
	}
	for _, r := range rs {
		// One publisher sends to every other region (a destination each); the values above
		// reached each of them. The counter moves once SendMessageBatch answered, which may be
		// after the event was already received and applied on the other side.
		p := r.Publisher()
		if p == nil {
			t.Fatalf("%s has no publisher", r.Name)
		}
		for p.Sent() < int64(len(world.Regions)-1) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if p.Sent() < int64(len(world.Regions)-1) {
			t.Errorf("%s sent %d events, want at least one to each other region", r.Name, p.Sent())
		}
	}
}
