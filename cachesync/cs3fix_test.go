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
