package cachesync

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// sqsAllowed reports whether SQS accepts every character of a message body. SQS's documented
// rule (SendMessage, MessageBody): "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
// #x10000 to #x10FFFF. Any characters not included in this list will be rejected."
// (InvalidMessageContents). The unit tests' fakeSQS does not check it, so the test checks the
// bodies itself.
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
