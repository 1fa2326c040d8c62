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

// hungAllStore is a hand-off store in a cluster whose coordinator takes requests and never answers
// (a partition): every call waits for its context.
type hungAllStore struct{ downStore }

func (hungAllStore) Put(ctx context.Context, _ string, _ handoff.Batch, _ [][]byte) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hungAllStore) Batches(ctx context.Context, _ string) ([]handoff.Batch, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (hungAllStore) Beat(ctx context.Context, _, _, _ string, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hungAllStore) Delete(ctx context.Context, _, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestAttackHandoff6HungStoreStopsTheOtherSidesCopiesAfterOnePass.
// Promise: H6 ("each store stands alone … a side whose store fails leaves its entries behind the
// frontier for a later pass while the other side's are copied"; the fix a2ddd79: "a hung store
// delays nothing of the other's") with H2's loss window (entries logged more than copyAfter ago
// are copied; a crash losing the disk loses at most the last copyAfter + a tick + a copy).
// Interleaving: per-side stores; the primary's store hangs (partitioned coordinator). The copy
// loop's first pass stores the secondary's batch, but put() waits (wg.Wait) for the primary's
// putHeld, whose Beat/Put wait on the copy loop's context, which has no deadline: the pass never
// returns. Entries owed to the secondary logged afterwards are never copied, however old: a crash
// losing the disk loses every write acknowledged since, though their store answers.
func TestAttackHandoff6HungStoreStopsTheOtherSidesCopiesAfterOnePass(t *testing.T) {
	up := handoff.NewMemStore() // in the primary's cluster: keeps the secondary's entries
	fa := &fakeSides{}
	fa.set(primarySide, downSide)
	fa.set(secondarySide, downSide)
	s := newHandoffSession(t, fa, up, "a", HandoffCopyAfter(50*time.Millisecond), HandoffDrain(50*time.Millisecond, time.Second))
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{hungAllStore{}, up}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	appendOld := func(from int, sides ...string) {
		for i, sd := range sides {
			if err := h.fl.Append(ctx, &Entry{Side: sd, Timestamp: int64(1_700_000_000_000_000 + from + i), Logged: old,
				Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{from + i}}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendOld(0, "primary", "primary", "secondary", "secondary", "secondary")
	// The copy loop, as every() runs it: a step each tick, under a context without deadline.
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		step := h.copyStep()
		for lctx.Err() == nil {
			step(lctx)
			select {
			case <-lctx.Done():
			case <-time.After(h.tick()):
			}
		}
	}()
	defer func() { cancel(); <-done }()
	waitHandoff(t, "the first pass to store the secondary's entries", 10*time.Second, func() bool {
		bl, _ := handoff.Backlog(ctx, up, "orders")
		return bl["secondary"] == 3
	})
	appendOld(100, "secondary", "secondary", "secondary") // logged a minute ago: due at the next pass
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if bl, _ := handoff.Backlog(ctx, up, "orders"); bl["secondary"] == 6 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	bl, _ := handoff.Backlog(ctx, up, "orders")
	t.Fatalf("5 s (100 copy ticks) after three more entries owed to the secondary were logged (a minute old), its "+
		"store, which answers, holds %v (want secondary 6): the copy loop is stuck in the first pass, waiting for the "+
		"primary's hung store; UnsharedAge %v", bl, s.Handoff().UnsharedAge)
}

// TestAttackHandoff6DeadLetterStoreDownKeepsBackTheOtherSidesUncertainCopies.
// Promise: copyAside's doc and H6 — the copies of dead letters and uncertain writes are stored
// "each side's batch on its own: one store's failure keeps back none of the other's (H6)", so that
// "a crash that loses the disk loses none set aside more than adoptEvery + a copy's time ago".
// Interleaving: per-side stores; the primary's store is down. This instance holds a dead letter
// owed to the primary and an uncertain write owed to the secondary (whose store answers). Every
// copyAside pass fails on the dead-letter kind (the primary's batch) and returns before reaching
// the uncertain kind: the secondary's uncertain write is never copied to its store, which answers,
// for as long as the other cluster is down; a crash losing the disk loses it.
func TestAttackHandoff6DeadLetterStoreDownKeepsBackTheOtherSidesUncertainCopies(t *testing.T) {
	ctx := context.Background()
	up := handoff.NewMemStore() // in the primary's cluster: keeps what is owed to the secondary
	fa := &fakeSides{}
	s := newHandoffSession(t, fa, up, "a")
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{downStore{}, up}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	old := time.Now().Add(-time.Minute)
	if err := h.fl.DeadLetter(ctx, Record{Entry: Entry{Side: "primary", Timestamp: old.UnixMicro(), Logged: old,
		Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{1}}}}}, errStoreDown); err != nil {
		t.Fatal(err)
	}
	if err := h.fl.RecordUncertain(ctx, &Entry{Side: "secondary", Timestamp: old.UnixMicro() + 1, Logged: old,
		Stmts: []Stmt{{Stmt: "UPDATE c SET n = n + 1 WHERE k = ?", Values: []any{2}}}}, errStoreDown); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // five passes (adoptEvery each in the copy loop)
		_ = h.copyAside(ctx)
	}
	bs, _ := up.Batches(ctx, "orders")
	for _, b := range bs {
		if b.Kind() == handoff.KindUncertain && b.Side == "secondary" {
			return
		}
	}
	t.Fatalf("after five copy passes the secondary's store, which answers, holds %v: no copy of the uncertain write "+
		"owed to the secondary; every pass stopped at the dead letter owed to the primary, whose store is down", bs)
}
