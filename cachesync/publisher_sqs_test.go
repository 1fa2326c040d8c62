package cachesync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Unit tests of the publisher through the SQS interface (memSQS keeps SQS's limits): batching,
// partial batch failures, the resend after an outage and the spill's drain.

// waitFor polls cond until it holds or 20 s pass (a bound for a hung test, not a speed check).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func sizedEvent(i, size int) *Event {
	return &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "k" + string(rune('a'+i%26)), Value: []byte(strings.Repeat("v", size)),
		Version: Version{Micros: int64(i + 1), Origin: "us"}}
}

// TestPublisherBatchesWithinSQSLimits: events of random sizes (up to about 200 KiB encoded) all reach the
// queue exactly once, and no call breaks SQS's limits (10 entries, 256 KiB a batch): memSQS
// refuses such a call, and nothing was refused.
func TestPublisherBatchesWithinSQSLimits(t *testing.T) {
	s := newMemSQS("eu-west-1", "eu")
	url := s.url("eu")
	p, err := NewPublisher(s, []string{url}, PublisherOptions{Senders: 2, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	want := map[string]bool{}
	for i := 0; i < 300; i++ {
		size := rnd.IntN(2000)
		if rnd.IntN(10) == 0 {
			size = rnd.IntN(150 * 1024) // base64: under 200 KiB encoded, one message
		}
		ev := sizedEvent(i, size)
		b, _ := ev.Marshal()
		want[string(b)] = true
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	closeWithin(t, p)
	got := s.accepted(url)
	for b := range want {
		if got[b] != 1 {
			t.Fatalf("an event of %d bytes accepted %d times, want once", len(b), got[b])
		}
	}
	for _, code := range []string{"BatchRequestTooLong", "TooManyEntriesInBatchRequest", "EmptyBatchRequest", "BatchEntryIdsNotDistinct", "InvalidParameterValue"} {
		if n := s.refused(code); n != 0 {
			t.Errorf("SQS refused %d calls or entries with %s", n, code)
		}
	}
	if p.Sent() != int64(len(want)) || p.Dropped() != 0 {
		t.Errorf("sent %d dropped %d, want %d and 0", p.Sent(), p.Dropped(), len(want))
	}
}

// TestPublisherRetriesPartialBatchFailures: SQS fails some entries of a batch (a server fault)
// and accepts the others; only the failed ones are sent again, so every event arrives once.
// Entries refused as a sender fault are replaced by their invalidation, not retried as they are.
func TestPublisherRetriesPartialBatchFailures(t *testing.T) {
	s := newMemSQS("eu-west-1", "eu")
	url := s.url("eu")
	rnd := rand.New(rand.NewPCG(5, 6))
	tries := map[string]int{}
	s.entryFault = func(body string) (string, bool) {
		tries[body]++
		if strings.Contains(body, `"op":"set"`) && strings.Contains(body, "poison") {
			return "InvalidMessageContents", true // refused for good, whatever the try
		}
		if tries[body] < 3 && rnd.IntN(3) == 0 {
			return "InternalError", false
		}
		return "", false
	}
	p, err := NewPublisher(s, []string{url}, PublisherOptions{Senders: 1, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 100; i++ {
		ev := testEvent(i)
		b, _ := ev.Marshal()
		want[string(b)] = true
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	poison := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "poison", Value: []byte("x"), Version: Version{Micros: 7, Origin: "us"}}
	if err := p.Publish(context.Background(), poison); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, p)
	got := s.accepted(url)
	for b := range want {
		if got[b] != 1 {
			t.Fatalf("event accepted %d times, want once: %s", got[b], b)
		}
	}
	if s.refused("InternalError") == 0 {
		t.Fatal("the fake failed no entry: the test tests nothing")
	}
	inv := 0
	for b, n := range got {
		if strings.Contains(b, "poison") {
			if !strings.Contains(b, `"op":"invalidate"`) || n != 1 {
				t.Errorf("poison set: %q accepted %d times, want its invalidation once", b, n)
			}
			inv++
		}
	}
	if inv != 1 || p.Refused() != 1 {
		t.Errorf("poison set: %d invalidations accepted, %d refused; want 1 and 1", inv, p.Refused())
	}
}

// TestPublisherResendsAfterOutage: SQS restarts and loses what it had accepted; the next call
// fails, and once SQS takes sends again the events accepted in the ResendWindow before the outage
// are sent again, once.
func TestPublisherResendsAfterOutage(t *testing.T) {
	s := newMemSQS("eu-west-1", "eu")
	url := s.url("eu")
	p, err := NewPublisher(s, []string{url}, PublisherOptions{ResendWindow: time.Minute, FlushInterval: time.Millisecond, Senders: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var before []string
	for i := 0; i < 20; i++ {
		ev := testEvent(i)
		b, _ := ev.Marshal()
		before = append(before, string(b))
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first events accepted", func() bool { return p.Sent() == 20 })
	s.restart()
	s.setDown(true)
	after := testEvent(99)
	if err := p.Publish(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a refused call", func() bool { return s.refused("InternalError") > 0 })
	s.setDown(false)
	waitFor(t, "the resend", func() bool { return p.Resent() == 20 && p.Sent() >= 41 })
	got := s.accepted(url)
	for _, b := range before {
		if got[b] != 2 {
			t.Errorf("event accepted %d times, want twice (sent, then resent after the outage)", got[b])
		}
	}
	b, _ := after.Marshal()
	if got[string(b)] != 1 {
		t.Errorf("the event published during the outage was accepted %d times, want once", got[string(b)])
	}
}

// TestPublisherDrainsItsSpill: while SQS is down the events go to the spill; once it takes sends
// again the spill drains to it, every event once, and the pending count falls to zero.
func TestPublisherDrainsItsSpill(t *testing.T) {
	s := newMemSQS("eu-west-1", "eu")
	url := s.url("eu")
	s.setDown(true)
	p, err := NewPublisher(s, []string{url}, PublisherOptions{Buffer: 2, Senders: 1, PublishTimeout: time.Millisecond, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	want := map[string]bool{}
	for i := 0; i < 50; i++ {
		ev := testEvent(i)
		b, _ := ev.Marshal()
		want[string(b)] = true
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if total, _ := p.Spilled(); total == 0 {
		t.Fatal("nothing spilled while SQS was down")
	}
	s.setDown(false)
	waitFor(t, "the spill drained", func() bool { _, pending := p.Spilled(); return pending == 0 && p.Sent() >= 50 })
	got := s.accepted(url)
	for b := range want {
		if got[b] < 1 {
			t.Fatalf("an event never arrived: %s", b)
		}
	}
	if p.Dropped() != 0 {
		t.Errorf("%d dropped", p.Dropped())
	}
}

// TestClientPublishesToEveryOtherRegion: a client over one publisher with a destination per
// region (each its own SQS client) sends every write to every other region's queue.
func TestClientPublishesToEveryOtherRegion(t *testing.T) {
	eu, usw2 := newMemSQS("eu-west-1", "islands-eu-west-1"), newMemSQS("us-west-2", "islands-us-west-2")
	ctx := context.Background()
	p, err := NewPublisherTo(ctx, []Destination{
		{Region: "eu-west-1", Client: eu, Queue: "islands-eu-west-1"},
		{Region: "us-west-2", Client: usw2, Queue: "islands-us-west-2"},
	}, nil, PublisherOptions{FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(newFakeMemcache(time.Now), p, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, p)
	for _, r := range []struct {
		s   *memSQS
		url string
	}{{eu, eu.url("islands-eu-west-1")}, {usw2, usw2.url("islands-us-west-2")}} {
		got := r.s.accepted(r.url)
		if len(got) != 1 {
			t.Errorf("%s got %d events, want the write's one", r.url, len(got))
		}
		for b := range got {
			if ev, err := ParseEvent(b); err != nil || ev.Key != "k" || ev.Op != OpSet {
				t.Errorf("%s got %q (%v)", r.url, b, err)
			}
		}
	}
}

// TestPublisherOptionsValidate: the defaults are valid; a field out of range is refused by
// Validate and by NewPublisher, naming the field.
func TestPublisherOptionsValidate(t *testing.T) {
	if err := DefaultPublisherOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if d := DefaultPublisherOptions(); d.BatchSize != 10 || d.Buffer != 10000 || d.Senders != 16 || d.FlushInterval != 5*time.Millisecond ||
		d.PublishTimeout != 20*time.Millisecond || d.SpillMaxBytes != 1<<30 {
		t.Errorf("defaults: %+v", d)
	}
	for field, o := range map[string]PublisherOptions{
		"BatchSize":          {BatchSize: 11},
		"Buffer":             {Buffer: -1},
		"Senders":            {Senders: -2},
		"FlushInterval":      {FlushInterval: -time.Second},
		"PublishTimeout":     {PublishTimeout: -time.Second},
		"SpillMaxBytes":      {SpillMaxBytes: -1},
		"SecondInvalidation": {SecondInvalidation: 16 * time.Minute},
		"ResendWindow":       {ResendWindow: -time.Second},
	} {
		err := o.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "PublisherOptions."+field) {
			t.Errorf("%s: Validate = %v, want ErrConfig naming the field", field, err)
		}
		if _, err := NewPublisher(newMemSQS("eu-west-1", "q"), []string{"u"}, o); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewPublisher = %v, want ErrConfig", field, err)
		}
	}
}

// TestAgentOptionsValidate: the same for the agent's options.
func TestAgentOptionsValidate(t *testing.T) {
	if err := DefaultAgentOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for field, o := range map[string]AgentOptions{
		"Receivers":         {Receivers: -1},
		"Appliers":          {Appliers: -1},
		"WaitSeconds":       {WaitSeconds: 21},
		"VisibilityTimeout": {VisibilityTimeout: -1},
		"RetryDelay":        {RetryDelay: -1},
		"TombstoneTTL":      {TombstoneTTL: -time.Second},
		"MaxDrift":          {MaxDrift: -time.Second},
	} {
		err := o.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "AgentOptions."+field) {
			t.Errorf("%s: Validate = %v, want ErrConfig naming the field", field, err)
		}
		if _, err := NewAgent(newMemSQS("eu-west-1", "q"), "u", newFakeMemcache(time.Now), o); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewAgent = %v, want ErrConfig", field, err)
		}
	}
}

// TestPublisherToAgentThroughSQS: a write in one region reaches the other region's memcached
// through the SQS interface alone — the publisher sends to the in-memory SQS, the agent receives,
// applies and deletes there — with no server.
func TestPublisherToAgentThroughSQS(t *testing.T) {
	s := newMemSQS("eu-west-1", "eu")
	url := s.url("eu")
	p, err := NewPublisher(s, []string{url}, PublisherOptions{FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, time.Second)
	us, err := NewClient(newFakeMemcache(time.Now), p, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate}})
	if err != nil {
		t.Fatal(err)
	}
	euMC := newFakeMemcache(time.Now)
	a, err := NewAgent(s, url, euMC, AgentOptions{WaitSeconds: 1, Receivers: 1, Appliers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := 0; i < 20; i++ {
		if _, err := us.Set(ctx, &Item{Key: fmt.Sprintf("k%d", i), Value: []byte(fmt.Sprint("v", i))}); err != nil {
			t.Fatal(err)
		}
	}
	eu, err := NewClient(euMC, &recSink{}, ClientOptions{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every value in eu", func() bool { return a.Stats().Applied.Load() >= 20 })
	for i := 0; i < 20; i++ {
		it, err := eu.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil || string(it.Value) != fmt.Sprint("v", i) {
			t.Fatalf("eu k%d: %v %v", i, it, err)
		}
	}
	waitFor(t, "the handled messages deleted", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queues[url].msgs) == 0
	})
}
