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
)

// sqsAllowed reports whether SQS accepts every character of a message body. SQS's documented
// rule (SendMessage, MessageBody): "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
// #x10000 to #x10FFFF. Any characters not included in this list will be rejected."
// (InvalidMessageContents; earlier versions of the same page said SQS instead replaces them with
// U+FFFD, which would land the event on another key). The unit tests' fakeSQS does not check it,
// so the test checks the bodies itself.
func sqsAllowed(body string) (bool, rune) {
	for _, r := range body {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false, r
		}
	}
	return true, 0
}

// TestAttackNoncharacterKeyMakesAnEventSQSRefuses: a key memcached takes (no space, no control
// byte) and that is valid UTF-8 but holds U+FFFE or U+FFFF travels as "key" unescaped
// (encoding/json escapes neither), so the body holds a character SQS refuses with
// InvalidMessageContents.
//
// Interleaving: Client.Set("user:\uffff") stores locally and returns nil → Publish queues a body
// SQS refuses → the sender retries it for ever (or it is spilled and blocks the spill's drain);
// the other regions never hear of the write and keep the old value for good.
// Promise broken: "Event keys travel losslessly" / "Keys memcached refuses ... are refused first
// ... and nothing is sent" — a key accepted locally must produce an event the queue takes; the
// client must not produce poison.
func TestAttackNoncharacterKeyMakesAnEventSQSRefuses(t *testing.T) {
	mc := newFakeMemcache(time.Now)
	s := &recSink{}
	c, err := NewClient(mc, s, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"user:\uffff", "user:\ufffe"} {
		if _, err := c.Set(ctx, &Item{Key: key, Value: []byte("v")}); err != nil {
			t.Fatalf("Set(%q): %v (refusing the key first would be fine)", key, err)
		}
		if _, err := c.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	for _, ev := range s.evs {
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if ok, r := sqsAllowed(string(b)); !ok {
			t.Errorf("%s event for key %q: body holds %U, which SQS refuses (InvalidMessageContents): %s", ev.Op, ev.Key, r, b)
		}
	}
}

// TestAttackOversizeReplicatedValueSendsNothing: with ClientOptions.MaxValueBytes above what
// fits one SQS message (e.g. memcached's 1 MiB item size), a replicated Set of a 300 KiB value
// is stored locally, then Publish refuses the event as too large and sends nothing at all — not
// even the invalidation.
//
// Interleaving: Set(k, small) replicated everywhere → Set(k, 300 KiB) stored here, Publish errors
// "more than one SQS message" → no set and no invalidation reach the other regions: they serve the
// small (older) value for good.
// Promise broken (package doc): "Values whose encoded event would not fit one SQS message
// (MaxMessageBytes) are sent as invalidations instead, and counted."
func TestAttackOversizeReplicatedValueSendsNothing(t *testing.T) {
	f := newFakeSQS(t)
	url := f.url("eu-west-1")
	p, err := NewPublisher(f.client(), []string{url}, PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mc := newFakeMemcache(time.Now)
	c, err := NewClient(mc, p, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate}, MaxValueBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("small")}); err != nil {
		t.Fatal(err)
	}
	_, setErr := c.Set(ctx, &Item{Key: "k", Value: bytes.Repeat([]byte("x"), 300<<10)})
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p.Close(cctx)
	if it, err := c.Get(ctx, "k"); err != nil || len(it.Value) != 300<<10 {
		t.Fatalf("local cache: %v", err)
	}
	got := f.counts(url)
	var ops []string
	for b := range got {
		ev, err := ParseEvent(b)
		if err != nil {
			t.Fatalf("bad body: %v", err)
		}
		ops = append(ops, string(ev.Op))
	}
	if len(got) < 2 {
		t.Fatalf("the 300 KiB write reached the other region as nothing (Set error: %v); bodies sent: %v", setErr, ops)
	}
}

// TestAttackLateLocalSetStoredOverExpiredTombstone: Client.Set at an explicit Version (the
// database write's timestamp, as the doc asks) older than a delete the cache already saw, arriving
// after that delete's tombstone expired, is stored as a value with no expiry. The database keeps
// the delete (it is newer), so the region serves the deleted value for good; the agents apply the
// same set arriving late as an invalidation ("never as a value"), the Client does not.
//
// Interleaving: Set(k, v1) … DeleteAt(k, v2>v1) leaves tombstone v2 → TombstoneTTL+margin+drift
// pass, tombstone expires → Set(k, Version v1) (a retried or delayed cache write) stores value v1,
// returns nil → Get(k) serves v1 for good; database: deleted at v2.
// Promise broken: "Set reports a write that lost to a newer version with ErrNotApplied";
// "after quiescence every region's cache holds the database's newest value of each key or nothing";
// "A set ... older than TombstoneTTL ... is applied as an invalidation, never as a value".
func TestAttackLateLocalSetStoredOverExpiredTombstone(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	c, _ := testClientAt(t, mc, clk, "us-east-1", Rules{Default: Replicate})
	ctx := context.Background()
	v1, err := c.Set(ctx, &Item{Key: "k", Value: []byte("v1")})
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	v2, err := c.Delete(ctx, "k")
	if err != nil || !v1.Less(v2) {
		t.Fatal(err)
	}
	clk.add(10 * time.Minute) // TombstoneTTL is 1 min: the tombstone is gone
	_, err = c.Set(ctx, &Item{Key: "k", Value: []byte("v1"), Version: v1})
	if it, gerr := c.Get(ctx, "k"); gerr == nil {
		t.Fatalf("Set at v1 (older than the delete at v2) returned %v and the cache serves %q at %v for good; the database holds the delete", err, it.Value, it.Version)
	}
}

// TestAttackClientPublishesPoisonVersion: Set accepts an Item.Version with Micros ≤ 0 (e.g.
// Version{Origin: region} with no time, or a negative one), stores it and publishes it; every
// agent's ParseEvent refuses it ("without a valid key or version") and sends it to the
// dead-letter queue, so the other regions never hear of the write.
//
// Interleaving: Set(k, Version{Micros: 0, Origin: "us-east-1"}) → nil, stored locally, event
// published → ParseEvent: ErrPoison → DLQ; the other regions keep the previous value.
// Promise broken: the client must not produce poison events (ErrConfig for a bad version, as it
// does for one far ahead); "A nil error means every destination has the event".
func TestAttackClientPublishesPoisonVersion(t *testing.T) {
	for _, v := range []Version{{Micros: 0, Origin: "us-east-1"}, {Micros: -5, Origin: "us-east-1"}} {
		mc := newFakeMemcache(time.Now)
		s := &recSink{}
		c, err := NewClient(mc, s, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Set(context.Background(), &Item{Key: "k", Value: []byte("v"), Version: v}); err != nil {
			if errors.Is(err, ErrConfig) {
				continue // refused: fine
			}
			t.Fatalf("Set at %v: %v", v, err)
		}
		for _, ev := range s.evs {
			b, _ := ev.Marshal()
			if _, err := ParseEvent(string(b)); errors.Is(err, ErrPoison) {
				t.Errorf("Set at %v returned nil and published an event every agent dead-letters: %v", v, err)
			}
		}
	}
}

// strictSQS is an in-process SQS sender that refuses, as SQS does, a message body holding a
// character outside SQS's allowed set: SendMessage with InvalidMessageContents, SendMessageBatch
// with a per-entry failure (SenderFault). It counts what it accepted.
type strictSQS struct {
	mu       sync.Mutex
	accepted map[string]int
	refused  int
}

func (s *strictSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, _ := sqsAllowed(aws.ToString(in.MessageBody)); !ok {
		s.refused++
		return nil, &smithy.GenericAPIError{Code: "InvalidMessageContents", Message: "Invalid characters found", Fault: smithy.FaultClient}
	}
	s.accepted[aws.ToString(in.MessageBody)]++
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (s *strictSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if ok, _ := sqsAllowed(aws.ToString(e.MessageBody)); !ok {
			s.refused++
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidMessageContents"),
				Message: aws.String("Invalid characters found"), SenderFault: true})
			continue
		}
		s.accepted[aws.ToString(e.MessageBody)]++
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m")})
	}
	return out, nil
}

func (s *strictSQS) count() (accepted, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted), s.refused
}

// TestAttackRefusedEntriesStallThePublisher: the Publisher retries an entry SQS refused for good
// (a sender fault: InvalidMessageContents) for ever, each in one of its Senders (16 by default), so
// 16 writes of keys the client accepts (U+FFFF, see above) take every sender for good and every
// later event of every key waits in the buffer, not sent, until the buffer fills and they are
// dropped (or spilled, where the drain fails for ever on the same records).
//
// Interleaving: 16 × Set("bad:N\uffff") (each its own batch) → 16 senders loop on
// InvalidMessageContents with backoff → Set("good") returns nil, its event is never sent.
// Promise broken: "Publish never waits longer than PublishTimeout" holds, but "A nil error means
// every destination has the event in memory or on disk" to be sent — it is never sent; a
// region's replication stops for every key after 16 bad keys.
func TestAttackRefusedEntriesStallThePublisher(t *testing.T) {
	s := &strictSQS{accepted: map[string]int{}}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu-west-1"
	p, err := newPublisher(s, []string{url}, PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, 200*time.Millisecond)
	c, err := NewClient(newFakeMemcache(time.Now), p, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Invalidate}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 16; i++ {
		if _, err := c.Set(ctx, &Item{Key: fmt.Sprintf("bad:%d\uffff", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // past FlushInterval: each its own batch
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Set(ctx, &Item{Key: fmt.Sprintf("good:%d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if acc, _ := s.count(); acc >= 5 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	acc, ref := s.count()
	t.Fatalf("after 3 s: %d of 5 good events sent; SQS refused the bad ones %d times (retried for ever, every sender busy)", acc, ref)
}

// TestAttackOneRegionDownStopsTheSpillForTheOthers: once anything is spilled, every event goes
// to the spill for every destination, and drainOnce consumes its 200 oldest records only when SQS
// took all of them, for all destinations. While one destination (region C) is down, the drain
// fails every round: the healthy region B receives the same oldest records again each round (a
// duplicate storm for as long as C is down) and never anything after them — B's replication stops
// because C is out.
//
// Interleaving: C down; Publish e1..e300 (C's buffer full → spill → everything spilled, for B
// and C) → drain: B's batches taken, C's refused → not committed → next round the same 200 again
// → B never gets e101..e300 while C is down.
// Promise broken: "an outage is one destination's (another region's SQS refusing sends opens none
// here)"; spilled events "are sent when SQS takes messages again" — B's SQS takes them.
func TestAttackOneRegionDownStopsTheSpillForTheOthers(t *testing.T) {
	const n = 300
	f, _, b, _ := publishOneRegionDown(t, n, 200*time.Millisecond)
	deadline := time.Now().Add(4 * time.Second)
	var got map[string]int
	for time.Now().Before(deadline) {
		if got = f.counts(b); len(got) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	dup := 0
	for _, k := range got {
		dup = max(dup, k)
	}
	t.Fatalf("region B (up) got %d of %d events in 4 s while region C was down; the most sent body reached it %d times", len(got), n, dup)
}

// TestAttackCloseOverrunsItsDeadlineOnASlowSpill: Close's deadline bounds the sending, but what
// is still buffered then is spilled with spillAppendTimeout (5 s) of its own, and Close waits for
// it (and for every append in flight): on a disk whose fsync stalls, Close returns seconds after
// its deadline.
//
// Interleaving: SQS unreachable, events buffered → Close(deadline 200 ms) → deadline passes →
// leftovers appended to a spill whose fsync stalls → Close returns ≈ 5 s later.
// Promise broken: "Close never panics and returns by its deadline with every goroutine stopped".
func TestAttackCloseOverrunsItsDeadlineOnASlowSpill(t *testing.T) {
	p, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"}, PublisherOptions{Senders: 1, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p.appendSpill = func(ctx context.Context, b []byte) error { // an fsync that stalls
		<-ctx.Done()
		return ctx.Err()
	}
	for i := 0; i < 50; i++ {
		if err := p.Publish(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	p.Close(ctx)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close with a 200 ms deadline returned after %s", took.Round(time.Millisecond))
	}
}
