package migration

import (
	"testing"
	"time"
)

// TestHeartbeatTTLRoundedUp: the heartbeat row never expires before the TTL asked for
// (Cassandra's TTL is whole seconds; rounding down dropped live instances out of the fleet).
func TestHeartbeatTTLRoundedUp(t *testing.T) {
	for _, c := range []struct {
		ttl  time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1900 * time.Millisecond, 2}, {2 * time.Second, 2},
		{2*time.Second + time.Nanosecond, 3}, {15 * time.Second, 15}} {
		if got := ttlSeconds(c.ttl); got != c.want || time.Duration(got)*time.Second < c.ttl {
			t.Errorf("ttlSeconds(%s) = %d, want %d (never below the TTL)", c.ttl, got, c.want)
		}
	}
}
