package dualwrite

import (
	"context"
	"sync/atomic"
	"time"
)

// clock hands out client timestamps in microseconds, strictly increasing within one session, so two
// writes of one process to the same cell never tie (a tie in Cassandra is broken by value, not by
// order).
type clock struct {
	last atomic.Int64
	now  func() time.Time
}

func (c *clock) next() int64 {
	t := c.now().UnixMicro()
	for {
		last := c.last.Load()
		if t <= last {
			t = last + 1
		}
		if c.last.CompareAndSwap(last, t) {
			return t
		}
	}
}

// valuesOf is a context with the values of vals and the cancellation (and deadline) of the
// embedded one: a follower write carries the caller's values (tracing …) but lives until the
// session closes, not until the caller gives up. One allocation, where WithoutCancel +
// WithCancel + AfterFunc took five.
type valuesOf struct {
	context.Context
	vals context.Context
}

func (c valuesOf) Value(key any) any { return c.vals.Value(key) }
