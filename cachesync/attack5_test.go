package cachesync

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

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
