package cachesync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSecondInvalidationRuleRefused (issue 31): the guarantee after a tombstone is evicted needs
// SecondInvalidation ≥ TombstoneTTL + 2 × clock skew (doc.go). A Client over a Publisher whose
// second event comes sooner — the README's old 5 s against the default 5 min tombstones — is
// refused with ErrConfig naming the three values; one that obeys the rule is taken.
func TestSecondInvalidationRuleRefused(t *testing.T) {
	mc := newFakeMemcache(time.Now)
	cases := []struct {
		second, tomb, skew time.Duration
		ok                 bool
	}{
		{second: 5 * time.Second, ok: false}, // defaults: 5m tombstones, 1s skew
		{second: 5 * time.Minute, ok: false}, // 5m < 5m + 2s
		{second: 5*time.Minute + 2*time.Second, ok: true},
		{second: 90 * time.Second, tomb: time.Minute, skew: 10 * time.Second, ok: true},
		{second: 70 * time.Second, tomb: time.Minute, skew: 10 * time.Second, ok: false},
		{second: 0, ok: true}, // off: nothing to check
	}
	for _, c := range cases {
		p, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"}, PublisherOptions{SecondInvalidation: c.second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewClient(mc, p, ClientOptions{Region: "us-east-1", TombstoneTTL: c.tomb, MaxClockSkew: c.skew})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.Close(ctx)
		cancel()
		if c.ok != (err == nil) {
			t.Errorf("second %s tombstones %s skew %s: got %v, want ok=%v", c.second, c.tomb, c.skew, err, c.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "SecondInvalidation") || !strings.Contains(err.Error(), "TombstoneTTL")) {
			t.Errorf("second %s: error %q: want ErrConfig naming SecondInvalidation and TombstoneTTL", c.second, err)
		}
	}
}
