package cachesync

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestAttack6SecondEventDelayTruncatedBelowTheRule: NewClient accepts SecondInvalidation =
// TombstoneTTL + 2 × MaxClockSkew (5m + 2 × 1.25 s = 302.5 s), as CheckSecondInvalidation
// requires; the Publisher then sends the second event with DelaySeconds = int32(302.5 s / 1 s) =
// 302: half a second below the bound the guarantee rests on ("a second event must arrive after
// every set event it could race has become late ... so SecondInvalidation ≥ TombstoneTTL + 2 ×
// skew"; "NewClient refuses a SecondInvalidation below TombstoneTTL + 2 × MaxClockSkew").
// Interleaving: Delete at V publishes its second invalidation; SQS makes it visible after 302 s,
// not 302.5 s: a set older than V racing it from a clock 1.25 s behind is still "young" there.
// The same truncation sends a SecondInvalidation of 1.9 s ("keep it above the replica lag" of,
// say, 1.5 s) after 1 s, before the lagging replica has the write: a fill then serves the old
// value for good. The sub-second part is dropped silently, never rounded up nor refused.
func TestAttack6SecondEventDelayTruncatedBelowTheRule(t *testing.T) {
	m := newMemSQS("eu-west-1", "eu")
	url := m.url("eu")
	var mu sync.Mutex
	var delays []int32
	second := DefaultTombstoneTTL + 2*1250*time.Millisecond
	p, err := NewPublisher(m, []string{url}, PublisherOptions{SecondInvalidation: second, OnSent: func(s Sent) {
		mu.Lock()
		delays = append(delays, s.Delay)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, 5*time.Second)
	c, err := NewClient(newFakeMemcache(time.Now), p, ClientOptions{Region: "us", MaxClockSkew: 1250 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewClient refused SecondInvalidation %s: %v", second, err)
	}
	if _, err := c.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(delays)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delays) < 2 {
		t.Fatalf("sent %v, want the event and its second event", delays)
	}
	for _, d := range delays {
		if d == 0 {
			continue // the first event
		}
		if got := time.Duration(d) * time.Second; got < second {
			t.Errorf("second event sent with DelaySeconds %d (%s): below the SecondInvalidation %s that NewClient checked against TombstoneTTL + 2 × MaxClockSkew", d, got, second)
		}
	}
}
