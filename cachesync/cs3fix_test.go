package cachesync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// TestRetriedAddAfterDroppedPublishIsSentAgain: Add's twin of
// TestAttack3RetriedSetAfterDroppedPublishIsNeverSent. An Add stored locally whose event the
// Publisher dropped, retried at the same Version, finds its own value held: it must send its
// event again (not memcache.ErrNotStored and nothing), or the other regions keep the older value.
func TestRetriedAddAfterDroppedPublishIsSentAgain(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	sink := &droppingSink{}
	us, err := NewClient(usMC, sink, ClientOptions{Region: "us", Rules: Rules{Default: Replicate}, TombstoneTTL: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)
	if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := us.DeleteAt(ctx, "k", Version{}); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Millisecond)
	v2 := us.Now()
	sink.n = 1
	if _, err := us.Add(ctx, &Item{Key: "k", Value: []byte("v2"), Version: v2}); !errors.Is(err, ErrDropped) {
		t.Fatalf("first attempt: %v, want ErrDropped", err)
	}
	if _, err := us.Add(ctx, &Item{Key: "k", Value: []byte("v2"), Version: v2}); err != nil {
		t.Errorf("retried Add at the version it stored: %v, want nil (its event sent again)", err)
	}
	// A different write at an older version still loses.
	if _, err := us.Add(ctx, &Item{Key: "k", Value: []byte("old"), Version: Version{Micros: v2.Micros - 1, Origin: "us"}}); !errors.Is(err, memcache.ErrNotStored) {
		t.Errorf("Add under a live newer value: %v, want ErrNotStored", err)
	}
	for _, ev := range sink.evs {
		if _, err := euAgent.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	if it, err := eu.Get(ctx, "k"); err != nil || string(it.Value) != "v2" {
		t.Errorf("eu: %v %v, want v2", it, err)
	}
}

// TestResendWindowFlappingSendsEachEventAgainAtMostOnce: the attacker's note on ResendWindow. SQS
// flapping (down, up, down, up …) opens an outage at each failure; each outage set aside what was
// accepted in the window before, resends included (kept again when resent), so one event accepted
// once was sent again at every flap, a duplicate storm growing with the flapping. An event is
// resent at most once in all.
func TestResendWindowFlappingSendsEachEventAgainAtMostOnce(t *testing.T) {
	f := newFakeSQS(t)
	eu := f.url("eu")
	p, err := NewPublisher(f.client(), []string{eu}, PublisherOptions{ResendWindow: time.Minute, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		p.Close(ctx)
	}()
	ctx := context.Background()
	first := testEvent(0)
	body, _ := first.Marshal()
	if err := p.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, ok func() bool) {
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
		}
	}
	waitFor("the first acceptance", func() bool { return f.counts(eu)[string(body)] == 1 })
	for flap := 1; flap <= 4; flap++ {
		f.setDown(eu, true)
		ev := testEvent(flap)
		b, _ := ev.Marshal()
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		failedBefore := f.failed[eu]
		f.mu.Unlock()
		waitFor("a refused call", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.failed[eu] > failedBefore })
		f.setDown(eu, false)
		waitFor("the flap's event", func() bool { return f.counts(eu)[string(b)] > 0 })
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.counts(eu)[string(body)]; n > 2 {
		t.Errorf("an event accepted once was sent %d times over 4 flaps of SQS (at most twice: once, and once again after the first outage)", n)
	}
}
