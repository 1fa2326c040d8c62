package cachesync

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
)

// These tests run the Publisher against an SQS endpoint where nothing listens: a real outage
// (connection refused), no fake. The integration tests do the same with ElasticMQ stopped.

// deadSQS is unsigned, as against the local world's ElasticMQ: ElasticMQ does not check
// credentials; production uses the SDK's default chain.
func deadSQS() *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: aws.AnonymousCredentials{}})
}

func testEvent(i int) *Event {
	return &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: "k" + string(rune('a'+i%26)), Version: Version{Micros: int64(i + 1), Origin: "us"}}
}

func TestPublishDuringOutageIsBoundedAndSpills(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	p, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"}, PublisherOptions{Buffer: 10, PublishTimeout: 5 * time.Millisecond,
		SpillDir: dir, Registerer: reg, SecondInvalidation: time.Second, OwnQueue: "http://127.0.0.1:1/own"})
	if err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for i := 0; i < 500; i++ {
		start := time.Now()
		if err := p.Publish(context.Background(), testEvent(i)); err != nil {
			t.Fatalf("publish %d during the outage: %v", i, err)
		}
		worst = max(worst, time.Since(start))
	}
	total, pending := p.Spilled()
	t.Logf("500 publishes during the outage: slowest %s, spilled %d (pending %d), dropped %d", worst, total, pending, p.Dropped())
	if worst > time.Second || total == 0 || p.Dropped() != 0 {
		t.Fatalf("slowest %s, spilled %d, dropped %d", worst, total, p.Dropped())
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Close(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %s past its 300ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with SQS down: want the deadline's error, got %v", err)
	}
	if p.Dropped() != 0 {
		t.Fatalf("dropped %d on Close with a spill", p.Dropped())
	}
	total2, pending2 := p.Spilled()
	// Every event is in the spill: 500 first events + 500 second ones (one queue) + 500 to own.
	if pending2 != 1500 {
		t.Fatalf("spill holds %d events after Close (spilled %d), want 1500", pending2, total2)
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before-4*2 {
		t.Logf("goroutines %d before Close, %d after", before, after)
	}
	// A new publisher on the same directory finds them.
	p2, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"}, PublisherOptions{SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, pending := p2.Spilled(); pending != 1500 {
		t.Fatalf("reopened spill holds %d, want 1500", pending)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	p2.Close(ctx2)
}

func TestPublishWithoutSpillDropsAndCounts(t *testing.T) {
	p, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"}, PublisherOptions{Buffer: 5, Senders: 1, PublishTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for i := 0; i < 100; i++ {
		if err := p.Publish(context.Background(), testEvent(i)); errors.Is(err, ErrDropped) {
			dropped++
		}
	}
	if dropped == 0 || int64(dropped) != p.Dropped() {
		t.Fatalf("dropped %d, counted %d", dropped, p.Dropped())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	if err := p.Publish(context.Background(), testEvent(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
}

// TestCloseRacesPublish: Close while Publish runs in many goroutines never panics (it used to:
// send on closed channel) and returns by its deadline.
func TestCloseRacesPublish(t *testing.T) {
	for round := 0; round < 20; round++ {
		p, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"}, PublisherOptions{Buffer: 4, PublishTimeout: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					p.Publish(context.Background(), testEvent(i))
				}
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		start := time.Now()
		p.Close(ctx)
		if took := time.Since(start); took > time.Second {
			t.Fatalf("Close took %s", took)
		}
		cancel()
		wg.Wait()
	}
}

// Defect 8: with ResendWindow set, one region's SQS down must not make the publisher resend the
// other regions' events, and each event is resent at most once per outage, per destination.
func TestResendAtMostOncePerOutagePerDestination(t *testing.T) {
	f := newFakeSQS(t)
	up, down := f.url("up"), f.url("down")
	p, err := NewPublisher(f.client(), []string{up, down}, PublisherOptions{ResendWindow: time.Minute, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	i := 0
	publish := func(n int) {
		for ; n > 0; n-- {
			if err := p.Publish(ctx, testEvent(i)); err != nil {
				t.Fatal(err)
			}
			i++
			time.Sleep(2 * time.Millisecond)
		}
	}
	publish(20) // both up
	f.setDown(down, true)
	publish(100) // one region's SQS is out for a while
	f.setDown(down, false)
	publish(20)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		t.Fatal(err)
	}
	for url, limit := range map[string]int{up: 1, down: 2} {
		worst, total := 0, 0
		for _, n := range f.counts(url) {
			worst, total = max(worst, n), total+1
		}
		t.Logf("%s: %d events, each accepted at most %d times", url, total, worst)
		if total != i {
			t.Fatalf("%s accepted %d distinct events of %d", url, total, i)
		}
		if worst > limit {
			t.Fatalf("%s accepted one event %d times (limit %d: the up region had no outage, the down one had one)", url, worst, limit)
		}
	}
}

// Publish spills the records of one event as one group (every append in flight at once, so the
// spill fsyncs them together), not one fsync after another; and a spill slower than
// PublishTimeout does not hold the caller past PublishTimeout + spillConfirmWait (the append goes
// on, counted once durable; the caller hears ErrUnconfirmed).
func TestPublishSpillsOneGroupBoundedByPublishTimeout(t *testing.T) {
	queues := []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/c", "http://127.0.0.1:1/d"}
	p, err := NewPublisher(deadSQS(), queues, PublisherOptions{Buffer: 1, Senders: 1, PublishTimeout: 10 * time.Millisecond,
		SpillDir: filepath.Join(t.TempDir(), "spill"), SecondInvalidation: time.Second, OwnQueue: "http://127.0.0.1:1/own"})
	if err != nil {
		t.Fatal(err)
	}
	real := p.appendSpill
	var mu sync.Mutex
	inFlight, most := 0, 0
	release := make(chan struct{})
	p.appendSpill = func(ctx context.Context, b []byte) error {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		select { // a slow disk: held until the test releases it
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return real(ctx, b)
	}
	ctx := context.Background()
	// Fill the buffers (one slot per queue; senders hold one batch each) until events spill; the
	// spill never answers before the test releases it, so each Publish returns on its bound.
	group := 0
	for i := 0; i < 20 && group == 0; i++ {
		// A spill that has not answered is reported, never taken for success (ErrUnconfirmed).
		if err := p.Publish(ctx, testEvent(i)); err != nil && !errors.Is(err, ErrUnconfirmed) {
			t.Fatal(err)
		}
		mu.Lock()
		group = most
		mu.Unlock()
	}
	for wait := 0; group < 2 && wait < 5000; wait++ { // the group's goroutines may still be starting
		time.Sleep(time.Millisecond)
		mu.Lock()
		group = most
		mu.Unlock()
	}
	close(release)
	p.spillWG.Wait()
	if _, pending := p.Spilled(); pending == 0 {
		t.Fatal("the slow appends were not counted once durable")
	}
	if group < 2 {
		t.Fatalf("one event's records were appended one after another (at most %d in flight)", group)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	p.Close(cctx)
}
