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

// TestAttackHandoff4DeadLettersAdoptedIntoTheAuthority: H4 keeps an instance that already reads a
// side from taking entries owed to that side out of the store into its local log, where "an entry
// moved from the store into the log of an instance already reading that side would be counted by
// neither" (the fleet's Wait counts the store; the instance applied the phase already). A batch of
// dead letters or uncertain writes gets no such check (sink -> sinkAside, and Skip looks at neither
// kind nor phase): an instance reading the secondary adopts dead letters owed to the secondary into
// its local dead-letter store. The store then owes the secondary nothing, so `islands migration
// set --wait` (owesNewAuthority: the store only) completes the move of authority, while those
// acknowledged writes the secondary lacks sit in one instance's dead-letter store, in no count the
// fleet reads (its heartbeat's DeadLetters counts what its own replayer set aside) and checked by
// no SetPhase of its (it applied the phase before they arrived).
//
// Interleaving: b applies dual-flipped (store empty); a, still dual, closes with 3 dead letters
//
//	for the secondary (handed off, kind deadletter); b adopts them: the store owes the secondary 0.
//
// Promise: H4 ("never appended ... while that side is authoritative ... counted by neither");
// docs "Authority": "A side's shared backlog (replay entries, dead letters, uncertain writes)
// counts against it"; invariant 6 (dead letters count against their side like replay entries).
func TestAttackHandoff4DeadLettersAdoptedIntoTheAuthority(t *testing.T) {
	st := handoff.NewMemStore()
	ctx := context.Background()
	fb := &fakeSides{}
	b := newHandoffSession(t, fb, st, "b", HandoffDrain(50*time.Millisecond, 5*time.Second))
	defer b.Close()
	if err := b.SetPhase(DualFlipped); err != nil { // nothing owed to the secondary yet: b reads it
		t.Fatal(err)
	}
	// a (dual; its secondary refused 3 acknowledged writes, dead-lettered) closes: its dead letters
	// go to the store as a batch of kind deadletter for the secondary (handAside).
	var raws [][]byte
	for i := 0; i < 3; i++ {
		raw, err := encodeEntry(&Entry{Side: "secondary", Timestamp: time.Now().UnixMicro() + int64(i), Logged: time.Now(),
			Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{500 + i, "acked"}}}})
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	id := "0000000000000001-a-aa" + handoff.KindSuffix(handoff.KindDeadLetter)
	if err := st.Put(ctx, "orders", handoff.Batch{ID: id, Side: "secondary", Entries: len(raws), Origin: "a",
		Created: time.Now()}, raws); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Second) // b adopts every second
	for time.Now().Before(deadline) {
		if bl, _ := handoff.Backlog(ctx, st, "orders"); bl["secondary"] == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	bl, _ := handoff.Backlog(ctx, st, "orders")
	local := b.deadLettersFor(secondarySide)
	if bl["secondary"] == 0 {
		t.Fatalf("b, reading the secondary (dual-flipped), adopted %d dead letters owed to the secondary into its local "+
			"dead-letter store: the store now owes the secondary %d (what the fleet's Wait counts), b's heartbeat counts "+
			"DeadLetters %d; the acknowledged writes the secondary lacks are counted by neither", local, bl["secondary"],
			b.Stats().DeadLettered)
	}
}
