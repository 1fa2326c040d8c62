package forklift

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket of rows per second shared by all workers; a nil limiter never waits.
// The bucket holds at most one second of tokens, so a pause never turns into a burst.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newLimiter(rowsPerSec float64) *limiter {
	if rowsPerSec <= 0 {
		return nil
	}
	return &limiter{rate: rowsPerSec, tokens: rowsPerSec, last: time.Now()}
}

// wait takes n tokens, sleeping until they are there. A request larger than the bucket goes into
// debt, which later callers wait off.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
