package cachesync

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The second event's DelaySeconds is SecondInvalidation rounded UP to whole seconds, never
// truncated, and a delay under one second is sent as 1 s, never 0 (at once); the rule
// NewClient and Validate check judges that rounded delay, the one SQS applies.
func TestSecondEventDelayRoundedUp(t *testing.T) {
	for _, c := range []struct {
		second time.Duration
		want   int32
	}{{300 * time.Millisecond, 1}, {time.Second, 1}, {1900 * time.Millisecond, 2}, {302500 * time.Millisecond, 303}, {14*time.Minute + 59500*time.Millisecond, 900}} {
		m := newMemSQS("eu-west-1", "eu")
		var mu sync.Mutex
		var delays []int32
		p, err := NewPublisher(m, []string{m.url("eu")}, PublisherOptions{SecondInvalidation: c.second, OnSent: func(s Sent) {
			mu.Lock()
			delays = append(delays, s.Delay)
			mu.Unlock()
		}})
		if err != nil {
			t.Fatalf("SecondInvalidation %s: %v", c.second, err)
		}
		if got := p.SecondInvalidation(); got != time.Duration(c.want)*time.Second {
			t.Errorf("SecondInvalidation %s: the publisher reports %s, want the delay SQS applies, %ds", c.second, got, c.want)
		}
		if err := p.Publish(context.Background(), &Event{Format: EventFormat, ID: newID(), Op: OpDelete, Key: "k", Version: Version{Micros: 1, Origin: "us"}}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(delays)
			mu.Unlock()
			if n >= 2 || time.Now().After(deadline) {
				break
			}
		}
		closeAtEnd(t, p, 5*time.Second)
		mu.Lock()
		if len(delays) != 2 || min(delays[0], delays[1]) != 0 || max(delays[0], delays[1]) != c.want {
			t.Errorf("SecondInvalidation %s: sent with delays %v, want [0 %d]", c.second, delays, c.want)
		}
		mu.Unlock()
	}
	// 302.2 s is sent as 303 s ≥ 5m + 2 × 1.25 s: accepted; 15m0.5s would be 901 s: refused.
	if err := CheckSecondInvalidation(302200*time.Millisecond, DefaultTombstoneTTL, 1250*time.Millisecond); err != nil {
		t.Errorf("CheckSecondInvalidation judged the delay given, not the one SQS applies: %v", err)
	}
	if err := CheckSecondInvalidation(301*time.Second, DefaultTombstoneTTL, 1250*time.Millisecond); !errors.Is(err, ErrConfig) {
		t.Errorf("CheckSecondInvalidation(301 s) = %v, want ErrConfig", err)
	}
	if err := (PublisherOptions{SecondInvalidation: 15*time.Minute + 500*time.Millisecond}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("Validate(15m0.5s) = %v, want ErrConfig (SQS delays at most 900 s)", err)
	}
}
