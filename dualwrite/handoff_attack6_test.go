package dualwrite

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// flakyStore is a MemStore whose cluster can be made unreachable for a while (Put and Beat fail).
type flakyStore struct {
	*handoff.MemStore
	down atomic.Bool
}

func (f *flakyStore) Put(ctx context.Context, scope string, b handoff.Batch, es [][]byte) error {
	if f.down.Load() {
		return errStoreDown
	}
	return f.MemStore.Put(ctx, scope, b, es)
}

func (f *flakyStore) Beat(ctx context.Context, scope, lease, owner string, ttl time.Duration) error {
	if f.down.Load() {
		return errStoreDown
	}
	return f.MemStore.Beat(ctx, scope, lease, owner, ttl)
}

// TestAttackHandoff6UndecodableDeadLetterReachesOnlyOneSidesStore.
// Promise: putAside's doc — an aside entry "that cannot be decoded (no side known) goes to both
// sides" — with internal/handoff's invariant 6 ("All count against their side") and H5/H6: locally
// such a dead letter counts for both sides (DeadLettersFor), so its hand-off must keep it in the
// store of each side, where each side's authority check (owedTo) counts it.
// Interleaving: per-side stores; the primary's store (in the secondary's cluster) is briefly down
// when copyAside first copies an undecodable dead letter: the secondary's copy is stored and
// remembered in h.asides with the entry's ID. The store comes back; every later copyAside sees the
// ID "copied" and never stores the primary's copy; Close's handAside skips it as copied and drops
// the local dead letter. From then on nothing anywhere counts it against the primary.
func TestAttackHandoff6UndecodableDeadLetterReachesOnlyOneSidesStore(t *testing.T) {
	ctx := context.Background()
	storeP := &flakyStore{MemStore: handoff.NewMemStore()} // keeps the primary's entries (secondary's cluster)
	storeS := &flakyStore{MemStore: handoff.NewMemStore()} // keeps the secondary's entries (primary's cluster)
	fa := &fakeSides{}
	s := newHandoffSession(t, fa, storeS, "a")
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{storeP, storeS}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	if err := h.fl.asideRaw(h.fl.dead, "cannot be decoded", []byte{0xee, 0x01, 0x02, 0x03}); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.fl.DeadLettersFor("primary"); n != 1 {
		t.Fatalf("locally the undecodable dead letter counts %d for the primary, want 1", n)
	}
	storeP.down.Store(true)
	_ = h.copyAside(ctx) // the primary's store fails: only the secondary's copy is stored
	storeP.down.Store(false)
	for i := 0; i < 3; i++ { // the store is back: later passes should store the primary's copy
		if err := h.copyAside(ctx); err != nil {
			t.Fatalf("copyAside with both stores up: %v", err)
		}
	}
	if _, err := h.handAside(ctx); err != nil { // Close's hand-off of the dead letters
		t.Fatalf("handAside: %v", err)
	}
	if n, _ := h.fl.DeadLettersFor("primary"); n != 0 {
		t.Fatalf("the dead letter is still here (%d): handAside did not drop it", n)
	}
	blS, _ := handoff.Backlog(ctx, storeS, "orders")
	blP, _ := handoff.Backlog(ctx, storeP, "orders")
	if blS["secondary"] != 1 {
		t.Fatalf("the secondary's store holds %v, want secondary 1", blS)
	}
	if blP["primary"] != 1 {
		t.Fatalf("the primary's store holds %v after the store came back and Close's hand-off: the undecodable "+
			"dead letter (owed to either side) was dropped locally and is kept only for the secondary; "+
			"nothing counts it against the primary's authority any more", blP)
	}
}
