package cachesync

import (
	"context"
	"errors"
	"testing"
	"time"

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
