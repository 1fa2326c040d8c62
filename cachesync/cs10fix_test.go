package cachesync

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCS10FillAfterFillLeaseTTLIsVoided: the other half of ClientOptions.FillLeaseTTL's promise
// ("BeginFill's lease lives this long, a Fill after it is voided"). memcached keeps the lease
// longer than FillLeaseTTL (rounded up plus the tick's margin, lifetimeSeconds), so the lease's
// expiry in memcached no longer bounds a fill: the token's own clock must. A Fill after
// FillLeaseTTL, with the lease still in memcached, is voided (ErrNotApplied) and stores nothing.
func TestCS10FillAfterFillLeaseTTLIsVoided(t *testing.T) {
	for _, tc := range []struct{ lease, read time.Duration }{
		{1500 * time.Millisecond, 1600 * time.Millisecond},
		{0, 10*time.Second + time.Millisecond}, // the default, 10 s
	} {
		clk := newTestClock()
		mc := newFakeMemcache(clk.now)
		c, err := NewClient(mc, &recSink{}, ClientOptions{Region: "eu", FillLeaseTTL: tc.lease, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		tok, err := c.BeginFill(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		clk.add(tc.read)
		if _, err := mc.Get("k"); err != nil {
			t.Fatalf("setup: the lease should still be in memcached (its lifetime has the tick's margin): %v", err)
		}
		if err := c.Fill(ctx, tok, &Item{Key: "k", Value: []byte("db")}); !errors.Is(err, ErrNotApplied) {
			t.Errorf("FillLeaseTTL %v (0: default 10s): a Fill %v after BeginFill was not voided: %v", tc.lease, tc.read, err)
		}
		if it, err := c.Get(ctx, "k"); err == nil {
			t.Errorf("FillLeaseTTL %v: a Fill after the lease stored %q", tc.lease, it.Value)
		}
	}
}
