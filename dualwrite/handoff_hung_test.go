package dualwrite

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// countingHungStore is a hungAllStore counting the calls still waiting in it.
type countingHungStore struct {
	hungAllStore
	inside, calls atomic.Int64
}

func (c *countingHungStore) Put(ctx context.Context, scope string, b handoff.Batch, es [][]byte) error {
	c.calls.Add(1)
	c.inside.Add(1)
	defer c.inside.Add(-1)
	return c.hungAllStore.Put(ctx, scope, b, es)
}

func (c *countingHungStore) Beat(ctx context.Context, scope, lease, owner string, ttl time.Duration) error {
	c.calls.Add(1)
	c.inside.Add(1)
	defer c.inside.Add(-1)
	return c.hungAllStore.Beat(ctx, scope, lease, owner, ttl)
}

// TestHandoffHungStoreOneCallAtATimeAndNoneLeftAtClose: with the primary's store hung, copy passes
// go on without it (the secondary's entries are copied at each pass), the hung store holds one
// background call at a time (skipped while it is outstanding, launch), and Close leaves no call
// going on in it.
func TestHandoffHungStoreOneCallAtATimeAndNoneLeftAtClose(t *testing.T) {
	up := handoff.NewMemStore()
	hung := &countingHungStore{}
	fa := &fakeSides{}
	fa.set(primarySide, downSide)
	fa.set(secondarySide, downSide)
	s := newHandoffSession(t, fa, up, "a", HandoffCopyAfter(50*time.Millisecond), HandoffDrain(50*time.Millisecond, 300*time.Millisecond))
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{hung, up}
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	lctx, cancel := context.WithCancel(ctx)
	step := h.copyStep()
	for pass := 0; pass < 4; pass++ {
		for i, sd := range []string{"primary", "secondary"} {
			if err := h.fl.Append(ctx, &Entry{Side: sd, Timestamp: int64(1_700_000_000_000_000 + 10*pass + i), Logged: old,
				Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{10*pass + i}}}}); err != nil {
				t.Fatal(err)
			}
		}
		step(lctx)
		if bl, _ := handoff.Backlog(ctx, up, "orders"); bl["secondary"] != int64(pass+1) {
			t.Fatalf("after pass %d the secondary's store holds %v, want secondary %d", pass, bl, pass+1)
		}
		if n := hung.inside.Load(); n > 1 {
			t.Fatalf("pass %d: %d calls wait in the hung store at once, want at most 1", pass, n)
		}
	}
	cancel() // the copy loop stops, as at Close
	func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	if n := hung.inside.Load(); n != 0 {
		t.Fatalf("after Close %d calls still wait in the hung store", n)
	}
	if hung.calls.Load() == 0 {
		t.Fatal("the hung store was never called")
	}
}
