package cachesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/bradfitz/gomemcache/memcache"
)

// TestAttack2TouchOvertakenBySetIsLostForGood: a Touch that shortens a replicated value's expiry
// is lost in a region where its event arrives before the set event it refers to (SQS standard
// queues reorder; the doc says the rules hold for "reordered" events). Touch sends no second
// event, and the set's second event (late by CheckSecondInvalidation's rule, so an invalidation at
// the same version) does not touch a value of that version either.
//
// Interleaving: us: Set(k, "v", no expiry) → set event S; Touch(k, 2 s) → touch event T.
// eu agent receives T first (key missing: no-op), then S (stored, no expiry), then S's second
// event (late: invalidation at v, loses to the value at v). us reads a miss from 2 s on; eu serves
// "v" for good.
// Promise broken: "Touch changes it here and, for the same version, in the other regions" and the
// model's "after quiescence every region's cache holds the database's newest value or nothing",
// with expiries: eu serves a value whose expiry, set by the application, passed long ago.
func TestAttack2TouchOvertakenBySetIsLostForGood(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)

	if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := us.Touch(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	if len(sink.evs) != 2 || sink.evs[0].Op != OpSet || sink.evs[1].Op != OpTouch {
		t.Fatalf("events: %+v", sink.evs)
	}
	set, touch := sink.evs[0], sink.evs[1]
	// SQS delivers them in the other order.
	if _, err := euAgent.applyCache(touch); err != nil {
		t.Fatal(err)
	}
	if _, err := euAgent.applyCache(set); err != nil {
		t.Fatal(err)
	}
	// The set's second event, SecondInvalidation later (≥ TombstoneTTL + 2 × skew).
	clk.add(time.Minute + 3*time.Second)
	if _, err := euAgent.applyCache(SecondEvent(set)); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour) // quiescence
	if _, err := us.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("us: want a miss after the touched expiry, got %v", err)
	}
	if it, err := eu.Get(ctx, "k"); err == nil {
		t.Errorf("eu still serves %q an hour after the expiry the application set with Touch (us: a miss): the touch was lost for good", it.Value)
	}
}

// batchLimitSQS is SQS as it treats batch sizes: SendMessageBatch whose bodies add up to more than
// 256 KiB (262,144 bytes, "the maximum total payload size (the sum of the individual lengths of
// all of the batched messages)") is refused as a whole with BatchRequestTooLong, a client fault.
// While down it answers every call with a 500.
type batchLimitSQS struct {
	mu       sync.Mutex
	down     bool
	tooLong  int
	accepted map[string]int
}

func (s *batchLimitSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, &smithy.GenericAPIError{Code: "InternalError", Message: "down", Fault: smithy.FaultServer}
	}
	s.accepted[aws.ToString(in.MessageBody)]++
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (s *batchLimitSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, &smithy.GenericAPIError{Code: "InternalError", Message: "down", Fault: smithy.FaultServer}
	}
	total := 0
	for _, e := range in.Entries {
		total += len(aws.ToString(e.MessageBody))
	}
	if total > 262144 {
		s.tooLong++
		return nil, &types.BatchRequestTooLong{Message: aws.String("Batch requests cannot be longer than 262144 bytes")}
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		s.accepted[aws.ToString(e.MessageBody)]++
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m")})
	}
	return out, nil
}

func (s *batchLimitSQS) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

// TestAttack2SpillDrainOfLargeEventsStallsForGood: the spill's drain forms batches of BatchSize
// spilled entries whatever their bytes (drainOnce), while SQS refuses a batch whose bodies add up
// to more than 256 KiB as a whole (BatchRequestTooLong). Each event fits one message (the
// Publisher checked it), three 100 KiB ones do not fit one batch: the drain retries the same
// batch for ever, never commits, the destination's pending count never falls, and every later
// event for that region goes to the spill behind them (Publish spills while pending > 0).
//
// Interleaving: eu's SQS is down → replicated sets of ~100 KiB bodies fill the buffer and spill;
// eu's SQS comes back → drainOnce sends them 10 at a time in one SendMessageBatch → refused, again
// and again; eu never hears of these writes nor of any later one (stale for good).
// Promise broken: "events that find their destination's buffer full ... are appended there and
// sent when that destination's SQS takes messages again"; a nil Publish means the event is on disk
// to be sent; and the fix that "it never holds a sender or the spill's drain".
func TestAttack2SpillDrainOfLargeEventsStallsForGood(t *testing.T) {
	s := &batchLimitSQS{accepted: map[string]int{}, down: true}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{Senders: 1, Buffer: 1, BatchSize: 10,
		PublishTimeout: 5 * time.Millisecond, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	val := bytes.Repeat([]byte("x"), 75*1024) // ~100 KiB once base64'd: one message, not three in a batch
	v := Version{Micros: time.Now().UnixMicro(), Origin: "us"}
	const n = 12
	for i := 0; i < n; i++ {
		v.Micros++
		if err := p.Publish(ctx, &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: fmt.Sprintf("k%d", i), Value: val, Version: v}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	_, spilled := p.Spilled()
	if spilled < 3 {
		t.Fatalf("setup: want ≥ 3 events spilled, got %d pending", spilled)
	}
	s.setDown(false)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := len(s.accepted)
		s.mu.Unlock()
		if _, pending := p.Spilled(); pending == 0 && got == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	got, tooLong := len(s.accepted), s.tooLong
	s.mu.Unlock()
	_, pending := p.Spilled()
	if pending != 0 || got != n {
		t.Errorf("8 s after eu's SQS came back (%d spilled while it was down): %d of %d events accepted, %d still pending in the spill; SQS refused %d batches as longer than 256 KiB (the drain retries the same batch for ever)", spilled, got, n, pending, tooLong)
	}
}

// TestAttack2CloseWaitsForABlockedPublish: Publish holds the publisher's read lock while it waits
// for room in a full buffer (up to PublishTimeout, and then for the spill), and Close takes the
// write lock first: Close cannot begin until every Publish waiting for room has given up, so it
// overruns its deadline by up to PublishTimeout (twice that with a spill).
//
// Interleaving: eu's SQS is down, the buffer is full; a Publish waits for room (PublishTimeout
// 3 s); Close(ctx with a 300 ms deadline) blocks on p.mu.Lock until that Publish times out.
// Promise broken: "Close ... returns by its deadline with every goroutine stopped ... It never
// panics, also while Publish calls run" (Publisher, Close).
func TestAttack2CloseWaitsForABlockedPublish(t *testing.T) {
	s := &batchLimitSQS{accepted: map[string]int{}, down: true}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{Senders: 1, Buffer: 1, BatchSize: 1,
		PublishTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := func(i int) *Event {
		return &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i),
			Version: Version{Micros: time.Now().UnixMicro(), Origin: "us"}}
	}
	// Fill the sender (retrying), the batcher (waiting for a sender) and the buffer (1).
	for i := 0; i < 3; i++ {
		if err := p.Publish(ctx, ev(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	go p.Publish(ctx, ev(3)) // waits for room, up to PublishTimeout
	time.Sleep(100 * time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	p.Close(cctx)
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close with a 300 ms deadline took %s: it waited for a Publish waiting for room in the buffer", took.Round(time.Millisecond))
	}
}
