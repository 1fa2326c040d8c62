package forklift

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/gocql/gocql"
)

// retryable reports whether err is worth retrying: timeouts, an overloaded or unavailable
// coordinator, lost connections. Every forklift write is idempotent (fixed timestamps), so a retry
// can never apply a cell twice with a different result.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeOverloaded, gocql.ErrCodeUnavailable, gocql.ErrCodeWriteTimeout,
			gocql.ErrCodeReadTimeout, gocql.ErrCodeBootstrapping, gocql.ErrCodeTruncate,
			gocql.ErrCodeServer, gocql.ErrCodeReadFailure, gocql.ErrCodeWriteFailure:
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, gocql.ErrTimeoutNoResponse) || errors.Is(err, gocql.ErrNoConnections) ||
		errors.Is(err, gocql.ErrConnectionClosed) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, gocql.ErrUnavailable)
}

// backoff is the wait before retry attempt n (0-based): 100ms doubling to 10s, with jitter so
// workers that failed together do not retry together.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n, 7)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// retry runs f until it succeeds, fails with a non-retryable error, or has failed retries+1 times.
// onRetry is told of each retried error.
func retry(ctx context.Context, retries int, onRetry func(error), f func() error) error {
	return retryWait(ctx, retries, onRetry, backoff, f)
}

// retryWait is retry waiting wait(n) before retry attempt n.
func retryWait(ctx context.Context, retries int, onRetry func(error), wait func(n int) time.Duration, f func() error) error {
	for n := 0; ; n++ {
		err := f()
		if err == nil || !retryable(err) || n >= retries || ctx.Err() != nil {
			return err
		}
		if onRetry != nil {
			onRetry(err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait(n)):
		}
	}
}
