package cachesync

import (
	"context"
	"testing"
	"time"
)

// TestAttack8ExpiredSetArrivingAfterAValueOfItsTimeDiverges: the one ordering rule (package doc,
// Supersedes) says "at one time a tombstone (a delete, an invalidation, an expired value, a fill's
// floor) wins over a value", and "every region converges to the same entry whatever order the
// writes arrive in". store applies it to the entry HELD (cur.At(now)) but not to the one ARRIVING:
// an incoming set whose expiry has already passed is compared as a live value, so it loses, by
// origin, to a live value of the same µs, while in the other order the expired one held wins.
//
// Interleaving (two set events A=(t,"a",expired on arrival) and B=(t,"b",no expiry)):
//
//	region X: B applied, then A (after A's expiry) → X keeps B and serves it for good;
//	region Y: A applied (after its expiry), then B → Y holds A's tombstone and reads a miss.
//
// The regions diverge for good, and X serves a value the database (Cassandra: an expired cell wins
// a timestamp tie) does not hold.
func TestAttack8ExpiredSetArrivingAfterAValueOfItsTimeDiverges(t *testing.T) {
	clk := newTestClock()
	ts := clk.now().UnixMicro()
	exp := clk.now().Unix() + 1
	a := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "k", Value: []byte("A"), Expiry: exp,
		Version: Version{Micros: ts, Origin: "a", Writer: 7}}
	b := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "k", Value: []byte("B"),
		Version: Version{Micros: ts, Origin: "b", Writer: 9}}
	clk.add(3 * time.Second) // A's expiry has passed; both still well within TombstoneTTL

	mcX, mcY := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	x, y := testAgent(mcX, clk, time.Minute), testAgent(mcY, clk, time.Minute)
	for _, ev := range []*Event{b, a} {
		if _, err := x.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []*Event{a, b} {
		if _, err := y.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	read := func(mc *fakeMemcache) string {
		it, err := mc.Get("k")
		if err != nil {
			return "miss"
		}
		s, err := DecodeItem(it)
		if err != nil {
			return "raw"
		}
		s = s.At(clk.now())
		if s.Kind == KindTombstone {
			return "miss"
		}
		return string(s.Value)
	}
	gx, gy := read(mcX), read(mcY)
	if gx != gy {
		t.Errorf("region X (B then A) reads %q, region Y (A then B) reads %q: the same two events in another order left the regions on different entries for good (promise: a strict total order, every region converges; an expired value at t wins over a value at t)", gx, gy)
	}
	if gx != "miss" {
		t.Errorf("region X serves %q: the expired value at the same time should win (tombstone rule) and the key read as a miss", gx)
	}
}

// TestAttack8ReplicatedValueWipedByItsOwnSecondEvent: a replicated set "is followed by itself
// again" (SecondEvent, package doc: it replaces whatever FILL it meets), and CheckSecondInvalidation
// makes that second event always late (SecondInvalidation ≥ TombstoneTTL + 2 × skew), so every
// agent applies it as an invalidation at the set's own version. Before the seventh pass that
// invalidation lost to the value at v ("a late set: an invalidation at v, loses to v", the
// comments of attack3/4/5/6_test.go); since Supersedes makes a tombstone win a tie, it deletes the
// value it repeats, in every region and in the origin's own (OwnQueue). Replicate then degenerates
// into a delayed invalidate: no region keeps a replicated value past SecondInvalidation, and the
// miss stampedes every region's database once per write.
//
// Interleaving: us Set k=v at V (replicate) → eu applies the set (serves v) → SecondInvalidation
// later eu (and us, via its own queue) applies the second event, late → tombstone at V → k misses.
func TestAttack8ReplicatedValueWipedByItsOwnSecondEvent(t *testing.T) {
	clk := newTestClock()
	const ttl = time.Minute
	second := ttl + 2*DefaultMaxClockSkew
	if err := CheckSecondInvalidation(second, ttl, DefaultMaxClockSkew); err != nil {
		t.Fatal(err)
	}
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	if _, err := us.Set(context.Background(), &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	set := sink.evs[0]
	usAgent, euAgent := testAgent(usMC, clk, ttl), testAgent(euMC, clk, ttl)
	if _, err := euAgent.applyCache(set); err != nil {
		t.Fatal(err)
	}
	clk.add(second) // the second event arrives SecondInvalidation later, in every region
	for _, a := range []*Agent{euAgent, usAgent} {
		if _, err := a.applyCache(SecondEvent(set)); err != nil {
			t.Fatal(err)
		}
	}
	for name, mc := range map[string]*fakeMemcache{"eu": euMC, "us (origin)": usMC} {
		c, _ := testClientAt(t, mc, clk, "x", Rules{Default: Replicate})
		if it, err := c.Get(context.Background(), "k"); err != nil || string(it.Value) != "v" {
			t.Errorf("%s: after the replicated set's own second event, Get(k) = %v, %v; want the replicated value v (no newer write exists: the second event repeats the set, it must not delete it)", name, it, err)
		}
	}
}
