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

// TestLateOKOfACallBegunBeforeTheFailureKeepsTheOutage: only a call begun after an outage's
// first failure ends it (resendState invariant 3). The answer to a call begun before, read
// after, says nothing about the server since: the outage stays on and nothing is resent yet; the
// event that call carried joins the resend set (invariant 2); the first OK of a call begun after
// the failure ends the outage and resends both.
func TestLateOKOfACallBegunBeforeTheFailureKeepsTheOutage(t *testing.T) {
	s := &gateSQS{accepted: map[string]int{}, held: make(chan struct{}), release: make(chan struct{})}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{BatchSize: 1, Senders: 1, FlushInterval: time.Millisecond, ResendWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, 2*time.Second)
	entry := func(i int) outEntry {
		b, _ := testEvent(i).Marshal()
		return outEntry{body: string(b), op: OpInvalidate}
	}
	e0, b := entry(0), entry(1)
	p.done(url, []outEntry{e0}, time.Now())
	beforeB := time.Now() // B's call begins
	p.sendFailed(url)     // another sender's call fails: the outage begins
	p.done(url, []outEntry{b}, beforeB)
	p.sendOK(url, beforeB) // B's answer, read now
	p.recentMu.Lock()
	outage, suspect := p.state(url).outage, len(p.state(url).suspect)
	p.recentMu.Unlock()
	if !outage || p.Resent() != 0 {
		t.Fatalf("the late OK of a call begun before the failure ended the outage (outage %v, resent %d)", outage, p.Resent())
	}
	if suspect != 2 {
		t.Fatalf("resend set holds %d events, want 2 (e0, in recent at the failure, and B, begun before it)", suspect)
	}
	p.sendOK(url, time.Now()) // a call begun after the failure
	if p.Resent() != 2 {
		t.Errorf("the first OK after the failure resent %d events, want 2", p.Resent())
	}
	for _, e := range []outEntry{e0, b} {
		if s.count(e.body) != 1 {
			t.Errorf("%s sent %d times after the outage, want once", e.body, s.count(e.body))
		}
	}
}
