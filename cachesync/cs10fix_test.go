package cachesync

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCS10FillAfterFillLeaseTTLIsVoided: the other half of ClientOptions.FillLeaseTTL's promise
// ("BeginFill's lease lives this long, a Fill after it is voided"). memcached keeps the lease
// longer than FillLeaseTTL (rounded up plus the tick's margin, lifetimeSeconds), so the lease's
// expiry in memcached no longer bounds a fill: the token's own clock must. A Fill after
// FillLeaseTTL, with the lease still in memcached, is voided (ErrNotApplied) and stores nothing.
func TestCS10FillAfterFillLeaseTTLIsVoided(t *testing.T) {
	for _, tc := range []struct{ lease, read time.Duration }{
		{1500 * time.Millisecond, 1600 * time.Millisecond},
		{0, 10*time.Second + time.Millisecond}, // the default, 10 s
	} {
		clk := newTestClock()
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
		clk.add(tc.read)
		if _, err := mc.Get("k"); err != nil {
			t.Fatalf("setup: the lease should still be in memcached (its lifetime has the tick's margin): %v", err)
		}
		if err := c.Fill(ctx, tok, &Item{Key: "k", Value: []byte("db")}); !errors.Is(err, ErrNotApplied) {
			t.Errorf("FillLeaseTTL %v (0: default 10s): a Fill %v after BeginFill was not voided: %v", tc.lease, tc.read, err)
		}
		if it, err := c.Get(ctx, "k"); err == nil {
			t.Errorf("FillLeaseTTL %v: a Fill after the lease stored %q", tc.lease, it.Value)
		}
	}
}

// TestCS10ReplacementKeepsAWinningKind: what replaces an entry SQS refused for good must void in
// every region what the refused event would have: a touch (first or second event: one body
// shape) as the delete of its version, which wins over the value at that version (Supersedes
// rule 2); a set as the invalidation of its version (its value was never held elsewhere).
func TestCS10ReplacementKeepsAWinningKind(t *testing.T) {
	v := Version{Micros: 1_700_000_000_000_000, Origin: "eu", Writer: 7}
	stamp := v
	stamp.Micros++
	p := &Publisher{}
	for _, tc := range []struct {
		ev   *Event
		want Op
	}{
		{&Event{Format: EventFormat, ID: "1", Op: OpTouch, Key: "k\uffff", Version: v, Expiry: 1_700_000_010, Touched: &stamp}, OpDelete},
		{SecondEvent(&Event{Format: EventFormat, ID: "2", Op: OpTouch, Key: "k\uffff", Version: v, Expiry: 1_700_000_010, Touched: &stamp}), OpDelete},
		{&Event{Format: EventFormat, ID: "3", Op: OpSet, Key: "k\uffff", Version: v, Value: []byte("v")}, OpInvalidate},
	} {
		body := mustMarshal(t, tc.ev)
		rep, ok := p.replacement(outEntry{body: body, op: tc.ev.Op})
		if !ok {
			t.Fatalf("%s: no replacement for %s", tc.ev.Op, body)
		}
		got, err := ParseEvent(rep.body)
		if err != nil {
			t.Fatal(err)
		}
		if got.Op != tc.want || rep.op != tc.want || got.Version != v || got.Key != "k\uffff" {
			t.Errorf("%s replaced by %s (entry op %s) at %v key %q, want %s at %v", tc.ev.Op, got.Op, rep.op, got.Version, got.Key, tc.want, v)
		}
		if k := voidKind(got.Op); tc.ev.Op == OpTouch && !Supersedes(v, k, v, KindValue) {
			t.Errorf("a refused touch's replacement (%s, kind %d) loses to the value at its own version", got.Op, k)
		}
	}
}

func mustMarshal(t *testing.T, ev *Event) string {
	t.Helper()
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
