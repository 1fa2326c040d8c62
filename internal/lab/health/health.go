// Package health waits for a program's health endpoint (cachesync's /healthz) to say it serves:
// the one wait that the chaos campaign and the integration tests do after starting an agent.
package health

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Interval is how often Wait asks.
const Interval = 100 * time.Millisecond

// Wait asks url (GET) every Interval until it answers 200 OK, and returns nil then. When ctx ends
// first it returns an error that names url and the last answer (the connection error or the
// status), wrapping ctx's error. Bound the wait with ctx's deadline: Wait sets none.
func Wait(ctx context.Context, url string) error {
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("health: %s: %w", url, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else if ctx.Err() == nil || last == "" {
			// The request cut short by ctx's own end says nothing about the server: the answer
			// before it stays the last one.
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health: %s not healthy (last: %s): %w", url, last, ctx.Err())
		case <-time.After(Interval):
		}
	}
}
