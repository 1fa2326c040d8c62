package integration

import (
	"errors"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// TestSmokeMemcached runs set, get, compare-and-swap and delete on each region's memcached.
func TestSmokeMemcached(t *testing.T) {
	e := needServices(t)
	for region, addr := range map[string]string{"us-east-1": e.USMemcached, "eu-west-1": e.EUMemcached} {
		t.Run(region, func(t *testing.T) {
			c := memcached(addr)
			key := "smoke:" + region
			if err := c.Set(&memcache.Item{Key: key, Value: []byte("v1"), Flags: 7, Expiration: 60}); err != nil {
				t.Fatalf("set: %v", err)
			}
			it, err := c.Get(key)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if string(it.Value) != "v1" || it.Flags != 7 {
				t.Fatalf("get = %q flags %d, want v1 flags 7", it.Value, it.Flags)
			}
			it.Value = []byte("v2")
			if err := c.CompareAndSwap(it); err != nil {
				t.Fatalf("cas with a fresh token: %v", err)
			}
			it.Value = []byte("v3")
			if err := c.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
				t.Fatalf("cas with a stale token = %v, want ErrCASConflict", err)
			}
			if it, err = c.Get(key); err != nil || string(it.Value) != "v2" {
				t.Fatalf("after cas: %v %v, want v2", it, err)
			}
			if err := c.Delete(key); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := c.Get(key); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("get after delete = %v, want a miss", err)
			}
		})
	}
}
