package cachesync

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/internal/recordlog"
)

// TestAttack9RefusedTouchReplacedByAnInvalidationThatLosesToItsValue: an entry SQS refuses for
// good is "encoded again (a set or a touch as the invalidation of its version)" (sendAll,
// replacement). For a touch that replacement is a no-op wherever the touched value is held:
// an invalidation at v loses to the value at v (Supersedes rule 4, KindInvalidation). So the
// other region keeps the value with its old expiry (here: none) for good — while every other
// path of a touch that cannot be applied leaves a tombstone (KindTombstone) at v (Agent.touch's
// hold, Client.Touch's voidAt, the touched-too-large path), which does win over the value at v.
// Realistic trigger, the one replacement names: a touch spilled by an older version whose body
// carries a raw U+FFFF in its key (SQS: InvalidMessageContents); the new Publisher drains it.
// Interleaving: eu: Set(k) at V (replicated to us, no expiry); eu: Touch(k, 10 s) spilled (old
// body) → drain: refused → sent as OpInvalidate at V → us applies it: value at V wins, kept.
// Promise broken: "A touch is never lost … no region serves a value past the expiry the
// application set" (package doc, Expiries); us serves the value 10 s past that expiry and for good.
func TestAttack9RefusedTouchReplacedByAnInvalidationThatLosesToItsValue(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	key := "k\uffff" // a key memcached takes; an older version put it raw into the body
	euMC, usMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	eu, euSink := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	us, _ := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	usAgent := testAgent(usMC, clk, time.Minute)

	if _, err := eu.Set(ctx, &Item{Key: key, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := usAgent.applyCache(euSink.evs[0]); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	if err := eu.Touch(ctx, key, 10); err != nil {
		t.Fatal(err)
	}
	touch := euSink.evs[len(euSink.evs)-1]
	if touch.Op != OpTouch {
		t.Fatalf("setup: last event %s", touch.Op)
	}
	// The body an older version spilled: the key as a raw JSON string (U+FFFF unescaped).
	legacy, err := json.Marshal(map[string]any{"v": EventFormat, "id": touch.ID, "op": "touch", "key": key,
		"exp": touch.Expiry, "ver": touch.Version, "touched": touch.Touched})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := ParseEvent(string(legacy)); err != nil || ev.Key != key || ev.Op != OpTouch {
		t.Fatalf("setup: legacy body does not parse as the touch: %v", err)
	}
	if validSQSChars(string(legacy)) {
		t.Fatal("setup: the legacy body is one SQS takes")
	}

	m := newMemSQS("us-east-1", "us")
	url := m.url("us")
	dir := t.TempDir()
	l, err := recordlog.Open(dir, recordlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(spillRecord{Queue: url, Body: string(legacy), Op: OpTouch})
	if _, err := l.Append(ctx, rec); err != nil {
		t.Fatal(err)
	}
	l.Close()
	p, err := NewPublisher(m, []string{url}, PublisherOptions{SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, pending := p.Spilled(); pending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	p.Close(cctx)
	cancel()
	got := m.accepted(url)
	if len(got) == 0 {
		t.Fatal("setup: nothing of the touch reached us")
	}
	for body := range got {
		ev, err := ParseEvent(body)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("us receives %s at %v", ev.Op, ev.Version)
		if _, err := usAgent.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(30 * time.Second) // 20 s past the expiry eu's touch set
	if it, err := us.Get(ctx, key); err == nil {
		t.Errorf("us serves %q at %v 20 s past the expiry eu's Touch set (%d): the refused touch went out as an invalidation at its own version, which loses to the value at that version",
			it.Value, it.Version, touch.Expiry)
	} else if !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatal(err)
	}
	if _, err := eu.Get(ctx, key); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("control: eu itself should miss after the expiry: %v", err)
	}
}

// TestAttack9FillLeaseLivesLessThanFillLeaseTTL: BeginFill hands memcached the lease's lifetime
// as int32(FillLeaseTTL / time.Second): truncated, and then subject to memcached's one-second
// tick (an item given N s lives N−1..N s — the package doc's own rule, which every tombstone
// lifetime pays with rounding up plus a margin, tombstoneSeconds). So the lease of a 1.5 s
// FillLeaseTTL is given 1 s and may be gone 0.1 s later; the default 10 s lease lives 9.1 s.
// Interleaving: BeginFill(k) at 0.9 s into a second (lease: tombstone, exptime 1 or 10);
// the database read takes 0.6 s (resp. 9.5 s), under FillLeaseTTL → Fill: CAS finds no key → voided.
// Promise broken: ClientOptions.FillLeaseTTL "BeginFill's lease lives this long, a Fill after it
// is voided": a Fill well within it is voided (ErrNotApplied), and the key stays a miss.
func TestAttack9FillLeaseLivesLessThanFillLeaseTTL(t *testing.T) {
	for _, tc := range []struct{ lease, read time.Duration }{
		{1500 * time.Millisecond, 600 * time.Millisecond},
		{0, 9500 * time.Millisecond}, // the default, 10 s
	} {
		clk := newTestClock() // 0.9 s into a second, as memcached's tick sees it
		mc := newFakeMemcache(clk.now)
		c, err := NewClient(mc, &recSink{}, ClientOptions{Region: "eu", FillLeaseTTL: tc.lease, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		tok, err := c.BeginFill(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		clk.add(tc.read) // the database read, within the lease
		if err := c.Fill(ctx, tok, &Item{Key: "k", Value: []byte("db")}); err != nil {
			t.Errorf("FillLeaseTTL %v (0: default 10s): a Fill %v after BeginFill, with nothing written meanwhile, was voided: %v",
				tc.lease, tc.read, err)
		}
	}
}
