package dualwrite

import (
	"context"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestAttackHandoff4CopyWaitsBehindASlowAdoption: the background copy (share) and adoption run in
// one loop (copyAndAdopt): share, cleanup, then adopt. The third pass gave the listing and the
// liveness lease loops of their own so that a slow adoption never holds them back, but the copy
// stayed behind it. One claim may take up to a lease TTL (invariant 7), a pass many claims in a
// row; meanwhile no entry this instance keeps is copied, and a crash that loses its disk loses
// acknowledged writes logged long before the last copyAfter + tick.
//
// Interleaving: a (copyAfter 200 ms, tick 50 ms, lease 5 s) claims a batch another instance left,
//
//	its Entries read takes 4 s; a acknowledges 5 writes kept for the (failing) secondary; 1.5 s
//	later a crashes with its disk: none of the 5 is in the shared store.
//
// Promise: H2 / WithHandoff: "entries logged more than HandoffCopyAfter ago are copied to the
// store; a crash that loses the disk too loses at most the last seconds' entries" ("the entries
// logged in the last copyAfter + one tick + the time a copy takes").
func TestAttackHandoff4CopyWaitsBehindASlowAdoption(t *testing.T) {
	mem := handoff.NewMemStore()
	ctx := context.Background()
	// A batch another instance left, owed to the secondary (claimed at a's first pass, before any
	// write of a's has failed there).
	old := time.Now().Add(-time.Minute)
	e := &Entry{Side: "secondary", Timestamp: old.UnixMicro(), Logged: old,
		Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{9999, "x"}}}}
	raw, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Put(ctx, "orders", handoff.Batch{ID: "0000000000000001-gone-aa", Side: "secondary", Entries: 1,
		Origin: "gone", Created: old}, [][]byte{raw}); err != nil {
		t.Fatal(err)
	}
	slow := &slowEntries{Store: mem, delay: 4 * time.Second, reading: make(chan struct{}, 1)}
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	copyAfter := 200 * time.Millisecond
	a := newHandoffSession(t, fa, slow, "a", HandoffCopyAfter(copyAfter), HandoffDrain(50*time.Millisecond, 5*time.Second))
	select {
	case <-slow.reading: // a claimed the batch and reads it, slowly (a replica late, within the lease)
	case <-time.After(5 * time.Second):
		t.Fatal("setup: a never claimed the batch")
	}
	writeN(t, a, 0, 5)
	acked := time.Now()
	var owed []int64 // a's own: the adopted entry aside
	for _, ts := range keptFor(t, a, secondarySide) {
		if ts != e.Timestamp {
			owed = append(owed, ts)
		}
	}
	if len(owed) != 5 {
		t.Fatalf("setup: %d entries kept for the secondary, want 5", len(owed))
	}
	time.Sleep(1500 * time.Millisecond) // copyAfter + tick is 250 ms
	// What a crash that loses a's disk now would leave: the store's batches.
	inStore := map[int64]bool{}
	bs, _ := mem.Batches(ctx, "orders")
	for _, b := range bs {
		es, _ := mem.Entries(ctx, "orders", b.ID)
		for _, r := range es {
			if e, err := decodeEntry(r); err == nil {
				inStore[e.Timestamp] = true
			}
		}
	}
	lost := 0
	for _, ts := range owed {
		if !inStore[ts] {
			lost++
		}
	}
	unshared := a.Handoff().UnsharedAge
	age := time.Since(acked)
	a.Close()
	if lost > 0 {
		t.Fatalf("%d of 5 writes acknowledged %s ago (copyAfter %s) are on a's disk only while a's adoption of one batch "+
			"is slow (UnsharedAge %s): the copy waits behind the adoption in the same loop", lost, age.Round(time.Millisecond),
			copyAfter, unshared.Round(time.Millisecond))
	}
}
