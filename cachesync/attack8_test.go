package cachesync

import (
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
