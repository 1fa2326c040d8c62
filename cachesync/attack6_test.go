package cachesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
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

// TestAttack6TouchTimeoutDeleteLetsOlderSetIn: a Touch whose compare-and-swap reply is lost removes
// the local key with a plain Delete (Client.Touch), leaving no tombstone, where every other
// unconfirmed write leaves a tombstone at its version (failedWrite). The version the key held is
// forgotten here: an older set event still in flight is then stored over it.
// Interleaving: eu: Set(k,"old") at V1 (event e1 in flight to us); us: Set(k,"new") at V2 > V1;
// us: Touch(k, 1h), cas stored but reply lost → Delete(k); us agent applies e1 → us serves "old".
// Promise broken: "an older event never overwrites a newer value" (the rules; the model's per-step
// check allows it only when memcached evicted the key — here the client removed it); without
// OwnQueue (optional) nothing sends V2 to us again: us serves V1 for good.
func TestAttack6TouchTimeoutDeleteLetsOlderSetIn(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC := &casTimeoutMC{fakeMemcache: newFakeMemcache(clk.now)}
	euMC := newFakeMemcache(clk.now)
	us, _ := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	eu, euSink := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	usAgent := testAgent(usMC, clk, time.Minute)

	v1, err := eu.Set(ctx, &Item{Key: "k", Value: []byte("old")})
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Millisecond)
	v2, err := us.Set(ctx, &Item{Key: "k", Value: []byte("new")})
	if err != nil {
		t.Fatal(err)
	}
	if !v1.Less(v2) {
		t.Fatalf("setup: %v not older than %v", v1, v2)
	}
	usMC.lose = 1
	t.Logf("Touch: %v", us.Touch(ctx, "k", 3600))
	for _, ev := range euSink.evs { // e1 arrives in us after the touch
		if _, err := usAgent.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(10 * time.Minute) // e1's second event (late: an invalidation at V1, loses to V1), then quiescence
	for _, ev := range euSink.evs {
		if _, err := usAgent.applyCache(SecondEvent(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if it, err := us.Get(ctx, "k"); err == nil && it.Version.Less(v2) {
		t.Errorf("us held %q at %v; after a Touch whose reply was lost it serves the older %q at %v (an older set stored over a newer value the client itself removed)",
			"new", v2, it.Value, it.Version)
	} else if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatal(err)
	}
}

// TestAttack6PublishNilButDroppedWhenCtxEnds: Publish whose context has ended while the event goes
// to a full spill returns nil, though the spill refuses the event (recordlog.ErrFull: dropped,
// counted in Dropped). spillOut's wait returns nil on <-ctx.Done() without looking at what the
// appends answered, so whether the caller hears ErrDropped is a coin toss of select.
// Interleaving: eu's SQS down, its spill at its share (1 MiB); the application's request context
// ends (a deadline) as Set publishes; Publish: buffer full / spill pending → spillOut → ctx done →
// nil; the append fails ErrFull a moment later → Dropped+1. The caller never retries: eu keeps
// the older value for good.
// Promise broken (Publish): "A nil error means every destination has the event in memory or on
// disk"; "or else dropped (ErrDropped, counted and logged)".
func TestAttack6PublishNilButDroppedWhenCtxEnds(t *testing.T) {
	m := newMemSQS("eu-west-1", "eu")
	url := m.url("eu")
	m.setDown(true)
	p, err := NewPublisher(m, []string{url}, PublisherOptions{Buffer: 1, Senders: 1, PublishTimeout: 20 * time.Millisecond,
		SpillDir: t.TempDir(), SpillMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, time.Second)
	big := bytes.Repeat([]byte("x"), 150<<10)
	ev := func(i int) *Event {
		return &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: fmt.Sprintf("k%d", i), Value: big, Version: Version{Micros: int64(i + 1), Origin: "us"}}
	}
	i := 0
	for ; p.Dropped() == 0 && i < 40; i++ { // fill eu's spill to its share: the next one is refused
		p.Publish(context.Background(), ev(i))
	}
	if p.Dropped() == 0 {
		t.Fatal("setup: the spill never filled")
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	silent := 0
	for n := 0; n < 20; n++ {
		before := p.Dropped()
		err := p.Publish(ended, ev(i+n))
		deadline := time.Now().Add(2 * time.Second)
		for p.Dropped() == before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err == nil && p.Dropped() > before {
			silent++
		}
	}
	if silent > 0 {
		t.Errorf("%d of 20 Publish calls whose context had ended returned nil while their event was dropped (spill full): "+
			"the caller hears success for a lost event", silent)
	}
}
