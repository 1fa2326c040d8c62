package cachesync

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The fourth attacker's findings: each test fails on the code it was written against.

// casTimeoutMC is the fake memcached whose next compare-and-swap is stored but answered with a
// read timeout (the reply lost on the wire: memcached did the write, the client never heard).
type casTimeoutMC struct {
	*fakeMemcache
	lose int
}

func (m *casTimeoutMC) CompareAndSwap(it *memcache.Item) error {
	err := m.fakeMemcache.CompareAndSwap(it)
	if err == nil && m.lose > 0 {
		m.lose--
		return fmt.Errorf("memcache: %w", errFakeTimeout)
	}
	return err
}

// TestAttack4TouchTimeoutSendsNothing: Client.Touch's compare-and-swap times out after memcached
// stored it (the reply is lost). Touch returns the timeout and sends nothing: no touch, no
// invalidation, no tombstone here. The other regions keep the value without the new expiry for good.
//
// Interleaving: us: Set(k, "v") → S (eu applies it, no expiry); us: Touch(k, 2) — the cas is
// stored in us, its reply times out → Touch returns the error, nothing published; eu never hears.
//
// Promise broken (package doc): "A local write whose outcome memcached did not confirm (object too
// large, a timeout, a broken connection) still goes out — as an invalidation at its version …
// the local key gets a tombstone at that version"; Expiries: "no region serves a value past the
// expiry the application set". Increment/CompareAndSwap go through failedWrite on the same error;
// Touch does not. A retry of the Touch cannot help either: us now holds the touch, so the
// application sees it applied (and once 2 s pass us misses and Touch reports a miss).
func TestAttack4TouchTimeoutSendsNothing(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC := &casTimeoutMC{fakeMemcache: newFakeMemcache(clk.now)}
	euMC := newFakeMemcache(clk.now)
	us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)

	if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	usMC.lose = 1
	terr := us.Touch(ctx, "k", 2)
	t.Logf("Touch: %v", terr)
	for _, ev := range sink.evs {
		if _, err := euAgent.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(2 * time.Minute) // the second events (a late set: an invalidation at v, loses to v)
	for _, ev := range sink.evs {
		if _, err := euAgent.applyCache(SecondEvent(ev)); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(10 * time.Minute) // quiescence
	if _, err := us.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("us: want a miss after the touched expiry, got %v", err)
	}
	if it, err := eu.Get(ctx, "k"); err == nil {
		t.Errorf("Touch(k, 2) whose cas reply timed out (stored in us): eu still serves %q 10 min later, "+
			"us misses; events sent: %d (the set only) — the unconfirmed write never went out", it.Value, len(sink.evs))
	}
}
