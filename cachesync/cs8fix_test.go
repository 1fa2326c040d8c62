package cachesync

import (
	"context"
	"testing"
	"time"
)

// Tests for the fixes of the attack-8 defects (issue 23).

// TestAddOfAnExpiredValueOrdersAsItsDelete: an Add whose expiry has passed already is the delete
// of its version, as the same value held once expired is (Stored.At), so it is ordered against
// what is held the same way whichever of the two came first. Region X holds an invalidation at
// (t, c) and the application Adds there an already expired value at (t, b); region Y receives
// that Add's set event and then the invalidation: both must end on the same entry.
func TestAddOfAnExpiredValueOrdersAsItsDelete(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	ts := clk.now().UnixMicro()
	inv := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: "k", Version: Version{Micros: ts, Origin: "c", Writer: 1}}
	mcX, mcY := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	x, y := testAgent(mcX, clk, time.Minute), testAgent(mcY, clk, time.Minute)
	if _, err := x.applyCache(inv); err != nil {
		t.Fatal(err)
	}
	c, sink := testClientAt(t, mcX, clk, "b", Rules{Default: Replicate})
	past := int32(clk.now().Unix() - 1) // an absolute expiry already passed
	if _, err := c.Add(ctx, &Item{Key: "k", Value: []byte("A"), Expiration: past, Version: Version{Micros: ts, Origin: "b", Writer: 2}}); err != nil {
		t.Fatalf("Add of an expired value at (t, b) over an invalidation at (t, c): %v; it is the delete of (t, b), which wins a tie with the invalidation", err)
	}
	if len(sink.evs) != 1 {
		t.Fatalf("the Add sent %d events, want its set", len(sink.evs))
	}
	for _, ev := range []*Event{sink.evs[0], inv} {
		if _, err := y.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	type entry struct {
		v Version
		k Kind
	}
	read := func(mc *fakeMemcache) entry {
		it, err := mc.Get("k")
		if err != nil {
			t.Fatal(err)
		}
		s, err := DecodeItem(it)
		if err != nil {
			t.Fatal(err)
		}
		s = s.At(clk.now())
		return entry{s.Version, s.Kind}
	}
	if sx, sy := read(mcX), read(mcY); sx != sy || sx.k != KindTombstone {
		t.Errorf("region X (invalidation, then the Add) holds %+v, region Y (the Add's event, then the invalidation) %+v: want both the delete at (t, b)", sx, sy)
	}
}
