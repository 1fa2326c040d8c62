// Package hlc is a hybrid logical clock in microseconds: a timestamp that follows the physical
// clock, never goes backwards, and moves past every timestamp it is shown.
//
// A timestamp is one int64 of microseconds since the Unix epoch, the unit of Cassandra's write
// time, so one value can stamp a database write and the cache entry that mirrors it. The logical
// part of the classic HLC (a counter that orders events within one physical tick) is folded into
// the microseconds: when the physical clock has not moved past the last timestamp, the clock
// returns last+1 µs, borrowing from the future at most as long as it is asked faster than 1 MHz.
//
// Invariants (tested in hlc_test.go):
//   - Monotonic: every Now is strictly greater than every earlier Now and every timestamp accepted
//     by an earlier Observe, whatever the wall clock does.
//   - Causal: after Observe(t) returns nil, Now() > t. A client that observes every version it
//     reads or applies therefore stamps its next write after all of them, so a write that follows
//     another (in any region) never loses to it, whatever the clock skew between the regions.
//   - Bounded drift: Now() - physical ≤ MaxDrift + (Now calls since the physical clock last moved)
//     µs. Observe refuses (ErrTooFarAhead) a timestamp more than MaxDrift ahead of the physical
//     clock, and leaves the clock as it was, so one region whose clock was stepped far forward
//     cannot drag every other region's clock (and pin their keys) with it.
//   - Wall clock stepped backwards: Now keeps returning last+1 until the wall clock catches up
//     (counted in Stats.Backwards); it never repeats or goes back.
//   - Wall clock stepped forwards: Now follows it (the jump is visible in the timestamps; a step
//     larger than MaxDrift is counted in Stats.Forwards). A step is the wall clock moving further
//     than the monotonic clock between two Now calls, so an idle gap (no call for a while) is not
//     one; a clock function without monotonic readings (a test's) counts any wall-clock advance
//     larger than MaxDrift.
package hlc

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxDrift is how far ahead of the physical clock an observed timestamp may be [1 min].
const DefaultMaxDrift = time.Minute

// ErrTooFarAhead: an observed timestamp is more than MaxDrift ahead of the physical clock.
var ErrTooFarAhead = errors.New("hlc: timestamp too far ahead of the physical clock")

// Clock is a hybrid logical clock. The zero value is not usable: use New.
type Clock struct {
	now      func() time.Time
	maxDrift int64 // µs

	mu       sync.Mutex
	last     int64 // the greatest timestamp issued or accepted
	lastPhys int64
	lastRead time.Time // the reading of the last Now, monotonic part included
	stats    Stats
}

// Stats count what the clock saw.
type Stats struct {
	Backwards int64 // Now calls that found the wall clock behind the previous physical reading
	Forwards  int64 // Now calls that found the wall clock jumped forward by more than MaxDrift
	Refused   int64 // Observe calls refused with ErrTooFarAhead
}

// New returns a clock reading now (time.Now when nil) that accepts observed timestamps up to
// maxDrift ahead of it (DefaultMaxDrift when ≤ 0).
func New(now func() time.Time, maxDrift time.Duration) *Clock {
	if now == nil {
		now = time.Now
	}
	if maxDrift <= 0 {
		maxDrift = DefaultMaxDrift
	}
	return &Clock{now: now, maxDrift: maxDrift.Microseconds()}
}

// Now returns a fresh timestamp, strictly greater than every one before it.
func (c *Clock) Now() int64 {
	read := c.now()
	phys := read.UnixMicro()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastPhys != 0 {
		// Sub uses the monotonic readings when both have one: then wall - elapsed is the step.
		elapsed := read.Sub(c.lastRead).Microseconds()
		if phys < c.lastPhys {
			c.stats.Backwards++
		} else if phys-c.lastPhys-elapsed > c.maxDrift || (!monotonic(read, c.lastRead) && phys-c.lastPhys > c.maxDrift) {
			c.stats.Forwards++
		}
	}
	c.lastPhys, c.lastRead = phys, read
	if phys > c.last {
		c.last = phys
	} else {
		c.last++
	}
	return c.last
}

// monotonic reports whether both readings carry a monotonic clock reading.
func monotonic(a, b time.Time) bool { return a != a.Round(0) && b != b.Round(0) }

// Observe moves the clock past t (a version read or applied), so the next Now is greater. A t
// more than MaxDrift ahead of the physical clock is refused and leaves the clock unchanged.
func (c *Clock) Observe(t int64) error {
	phys := c.now().UnixMicro()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t-phys > c.maxDrift {
		c.stats.Refused++
		return fmt.Errorf("%w: %d µs ahead (limit %d)", ErrTooFarAhead, t-phys, c.maxDrift)
	}
	if t > c.last {
		c.last = t
	}
	return nil
}

// Last returns the greatest timestamp issued or accepted so far (0 before any).
func (c *Clock) Last() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// MaxDrift returns how far ahead of the physical clock an observed timestamp may be.
func (c *Clock) MaxDrift() time.Duration { return time.Duration(c.maxDrift) * time.Microsecond }

// Stats returns the clock's counts.
func (c *Clock) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}
