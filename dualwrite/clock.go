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

// mergeCancel returns a context with ctx's values that is cancelled when either ctx or also is.
func mergeCancel(ctx, also context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(also, cancel)
	return c, func() { stop(); cancel() }
}
