package cachesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/bradfitz/gomemcache/memcache"
)

// The fifth attacker's findings: each test fails on the code it was written against.

// TestAttack5TouchGrowsReplicatedValuePastItemSize: a touch adds an expiry (8 bytes) and a touch
// stamp (9 + origin bytes) to the header of the value it touches. In a region whose memcached has
// a smaller item size (memcached -I, the case the doc handles for set events: "a value memcached
// refuses (larger than its item size) is applied as an invalidation at its version"), a replicated
// value that fitted does not fit once touched: Agent.touch's compare-and-swap gets SERVER_ERROR
// object too large, returns it as an apply error, and the message comes back (RetryDelay) and
// fails the same way until the dead-letter queue takes it; its second event fails the same way.
// The value stays, without the expiry the application set, for good (the set's second event is
// late by then: an invalidation at v, which loses to the value at v).
//
// Interleaving: us: Set(k, ~64 KiB) → S, eu (-I 64k) stores it; us: Touch(k, 2 s) → T, eu: CAS too
// large → error, redelivered, error … → DLQ; second events: S (late: invalidation, stale), T (error).
// Promise broken (package doc): "a value memcached refuses (larger than its item size) is applied as
// an invalidation at its version"; "no region serves a value past the expiry the application set".
func TestAttack5TouchGrowsReplicatedValuePastItemSize(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC := newFakeMemcache(clk.now) // memcached's default 1 MiB items
	euMC := newFakeMemcache(clk.now)
	euMC.maxItem = 64 << 10 // eu runs memcached -I 64k
	us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)

	// A value whose stored item (key + header + value) fits eu's item size with 5 bytes to spare.
	header := len(Stored{Version: Version{Micros: 1, Origin: "us"}}.Encode())
	value := bytes.Repeat([]byte("x"), euMC.maxItem-len("k")-header-5)
	if _, err := us.Set(ctx, &Item{Key: "k", Value: value}); err != nil {
		t.Fatal(err)
	}
	if err := us.Touch(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	if len(sink.evs) != 2 || sink.evs[0].Op != OpSet || sink.evs[1].Op != OpTouch {
		t.Fatalf("events: %d", len(sink.evs))
	}
	set, touch := sink.evs[0], sink.evs[1]
	if _, err := euAgent.applyCache(set); err != nil {
		t.Fatal(err)
	}
	if it, err := eu.Get(ctx, "k"); err != nil || len(it.Value) != len(value) {
		t.Fatalf("eu did not store the replicated value: %v", err)
	}
	var applyErr error
	for i := 0; i < 5; i++ { // the touch is received again and again (RetryDelay), until the DLQ takes it
		_, applyErr = euAgent.applyCache(touch)
		clk.add(2 * time.Second)
	}
	t.Logf("eu applying the touch (5 receives): %v", applyErr)
	clk.add(2 * time.Minute) // the second events
	euAgent.applyCache(SecondEvent(set))
	if _, err := euAgent.applyCache(SecondEvent(touch)); err != nil {
		t.Logf("eu applying the touch's second event: %v", err)
	}
	clk.add(10 * time.Minute) // quiescence
	if _, err := us.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("us: want a miss after the touched expiry, got %v", err)
	}
	if it, err := eu.Get(ctx, "k"); err == nil {
		t.Errorf("Touch(k, 2): eu (memcached -I 64k) still serves the %d-byte value 12 min later, us misses; "+
			"the touch makes the item too large there and is never applied, nor applied as an invalidation (apply error: %v)",
			len(it.Value), applyErr)
	}
}

// TestAttack5TwoClientsOfOneRegionWriteTheSameVersion: a version is (µs of the client's hybrid
// logical clock, region name). Each application instance has its own Client and so its own clock,
// and a region runs many instances (docs/migration.md: "tens or hundreds per region"), all with
// the same ClientOptions.Region. Two instances writing one key in the same microsecond stamp both
// writes with the same Version. The second Set finds "the very version held", takes itself for
// the first one retried (Client.holds), returns nil without storing, and sends its own value at
// that version: each other region keeps whichever of the two events reaches it first, this
// region keeps the first. The caches disagree with each other (and at least one of them with the
// database, which keeps one value for that timestamp) for good.
//
// Interleaving: us/instance 1: Set(k, "a") at {T, us}; us/instance 2: Set(k, "b") at {T, us} → nil,
// us keeps "a"; eu receives "b" first, then "a" (stale: same version) → us "a", eu "b", for good.
// Promise broken (package doc): "Every stored value carries its version … then the origin region
// as the tie-break" (no tie is broken here) and "after quiescence every region's cache holds the
// database's newest value of each key or nothing"; Set returns nil for a write it did not store.
func TestAttack5TwoClientsOfOneRegionWriteTheSameVersion(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	us1, sink1 := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate}) // instance 1 of region us
	us2, sink2 := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate}) // instance 2, same memcached
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)

	va, err := us1.Set(ctx, &Item{Key: "k", Value: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	vb, err := us2.Set(ctx, &Item{Key: "k", Value: []byte("b")}) // the same microsecond, another process
	if err != nil {
		t.Fatalf("instance 2's Set: %v", err)
	}
	t.Logf("versions: a=%+v b=%+v", va, vb)
	// SQS delivers instance 2's event first.
	for _, ev := range append(append([]*Event(nil), sink2.evs...), sink1.evs...) {
		if _, err := euAgent.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(2 * time.Minute) // second events (late: invalidations at the version, which lose to it)
	for _, ev := range append(append([]*Event(nil), sink1.evs...), sink2.evs...) {
		if _, err := euAgent.applyCache(SecondEvent(ev)); err != nil {
			t.Fatal(err)
		}
	}
	a, aerr := us1.Get(ctx, "k")
	b, berr := eu.Get(ctx, "k")
	if aerr == nil && berr == nil && !bytes.Equal(a.Value, b.Value) {
		t.Errorf("two writes of k by two instances of region us (Set returned nil to both): after quiescence us serves %q, "+
			"eu serves %q, both at version %+v; one of them differs from the database for good", a.Value, b.Value, a.Version)
	}
}

// flakySQS is memSQS whose every n-th SendMessageBatch call fails as a whole with a server fault
// (InternalError, retryable), as an SQS endpoint that is up but loses a share of its calls.
type flakySQS struct {
	*memSQS
	mu    sync.Mutex
	every int
	calls int
}

func (f *flakySQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.calls++
	fail := f.every > 0 && f.calls%f.every == 0
	f.mu.Unlock()
	if fail {
		return nil, apiErr("InternalError", smithy.FaultServer)
	}
	return f.memSQS.SendMessageBatch(ctx, in, o...)
}

// TestAttack5SpillDrainAllOrNothingNeverDrainsAFlakySQS: drainOnce reads 200 spilled records, sends
// them in 20 batches, and commits only if every batch was accepted ("all of them again"); a round
// with one failed call sends the whole 200 again next round, after a backoff growing to 5 s. The
// live sender retries only the entries that failed. So an SQS that takes most calls but not all
// never lets the spill drain: with every 7th call failing, every round of 20 calls has failures,
// nothing is ever committed, the pending count never falls, and (pending > 0) every later event
// for that region goes to the spill behind them — the region hears nothing new, for good, while the
// same 200 events are accepted again every round (a duplicate storm). With random failures the
// same holds in expectation: at 14 % of calls failing a round succeeds with p = 0.86^20 ≈ 5 %, about
// 200 events per 100 s of 5-s backoffs, less than any real write rate.
//
// Interleaving: eu's SQS down, ~240 events spilled → eu's SQS back, failing one call in 7 → drain
// round (the first 200): 17 batches accepted, 3 fail → no commit → … → 8 s later pending is still
// ~240, an event published after the outage (behind them) was never sent, and each of the first
// 200 was accepted once per round.
// Promise broken (PublisherOptions.SpillDir): spilled events "are sent when that destination's SQS
// takes messages again"; package doc (Spill): each spill "drained and committed on its own".
func TestAttack5SpillDrainAllOrNothingNeverDrainsAFlakySQS(t *testing.T) {
	m := newMemSQS("eu-west-1", "eu")
	url := m.url("eu")
	f := &flakySQS{memSQS: m}
	m.setDown(true)
	p, err := NewPublisher(f, []string{url}, PublisherOptions{Buffer: 1, Senders: 1, PublishTimeout: time.Millisecond, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, time.Second)
	ctx := context.Background()
	for i := 0; i < 260; i++ { // a few seconds of writes: more than one drain round (200 records)
		ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i), Version: Version{Micros: int64(i + 1), Origin: "us"}}
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if total, _ := p.Spilled(); total < 210 {
		t.Fatalf("only %d events spilled", total)
	}
	f.mu.Lock()
	f.every = 7
	f.mu.Unlock()
	m.setDown(false)
	later := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: "later", Version: Version{Micros: 1000, Origin: "us"}}
	lb, _ := later.Marshal()
	if err := p.Publish(ctx, later); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if _, pending := p.Spilled(); pending == 0 && m.accepted(url)[string(lb)] > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := m.accepted(url)
	worst := 0
	for _, n := range got {
		worst = max(worst, n)
	}
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	_, pending := p.Spilled()
	t.Errorf("eu's SQS takes 6 calls in 7: 8 s later the spill still holds %d events (pending, never committed), the event "+
		"published after the outage was accepted %d times (never sent: behind them), %d distinct events accepted, one of "+
		"them %d times (%d calls)", pending, got[string(lb)], len(got), worst, calls)
}

// TestAttack5DrainResendsEachEventAgainAtEveryFlap: with ResendWindow, SQS accepting an entry
// keeps it in the window (done) unless it is itself a resend; the spill's drain sends the same
// records again at every round that is not wholly accepted (drainOnce: "all of them again"), and
// each acceptance keeps them again. Each failed call then opens an outage that sets them aside,
// and the next accepted call resends them (into the spill, behind). So one event is resent once per
// flap — not at most once in all — and the spill grows by the window at every flap (towards
// SpillMaxBytes, past which new events are dropped).
//
// Interleaving: eu's SQS down, ~240 events spilled → eu back, failing one call in 7 → drain round:
// batches 1–6 accepted (kept), call 7 fails (outage: they are set aside), batch 8 accepted (sendOK:
// resend them, spilled) … no commit → next round the same 200 again, kept again, set aside again.
// Promise broken (package doc, Spill): "an event is resent at most once, however often SQS flaps"
// (resend.go: "an entry is resent at most once in all").
func TestAttack5DrainResendsEachEventAgainAtEveryFlap(t *testing.T) {
	m := newMemSQS("eu-west-1", "eu")
	url := m.url("eu")
	f := &flakySQS{memSQS: m}
	m.setDown(true)
	p, err := NewPublisher(f, []string{url}, PublisherOptions{Buffer: 1, Senders: 1, PublishTimeout: time.Millisecond,
		SpillDir: t.TempDir(), ResendWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, time.Second)
	ctx := context.Background()
	const n = 260
	for i := 0; i < n; i++ {
		ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i), Version: Version{Micros: int64(i + 1), Origin: "us"}}
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.every = 7
	f.mu.Unlock()
	m.setDown(false)
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) && p.Resent() <= n {
		time.Sleep(50 * time.Millisecond)
	}
	if r := p.Resent(); r > n {
		total, pending := p.Spilled()
		t.Errorf("%d distinct events, %d resends (ResendWindow) within 6 s of a flaky SQS: events resent more than once; "+
			"spill: %d appended, %d pending", n, r, total, pending)
	}
}
