package dualwrite

import (
	"context"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// TestHandoffCopyOfOneSideNeverWaitsForTheOtherSidesStore: in the per-side layout
// (HandoffKeyspace) the entries owed to each side are kept in a store of their own. The log holds
// entries owed to the primary (kept in the secondary's cluster: down) BEFORE entries owed to the
// secondary (kept in the primary's cluster: up). A copy pass must store the secondary's entries
// in the store that answers, whatever the other store does: the failing side's entries are left
// for a later pass (the frontier stays before them), never stopping the others.
func TestHandoffCopyOfOneSideNeverWaitsForTheOtherSidesStore(t *testing.T) {
	up := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(primarySide, downSide)
	fa.set(secondarySide, downSide)
	s := newHandoffSession(t, fa, up, "a", HandoffCopyAfter(50*time.Millisecond))
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{downStore{}, up}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	for i, sd := range []string{"primary", "primary", "primary", "secondary", "secondary", "secondary", "secondary"} {
		if err := h.fl.Append(ctx, &Entry{Side: sd, Timestamp: int64(1_700_000_000_000_000 + i), Logged: old,
			Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{i}}}}); err != nil {
			t.Fatal(err)
		}
	}
	step := h.copyStep()
	for i := 0; i < 3; i++ {
		step(ctx)
	}
	bl, _ := handoff.Backlog(ctx, up, "orders")
	if bl["secondary"] != 4 {
		t.Fatalf("after three copy passes the store that answers holds %v (want secondary 4): the copy of the "+
			"secondary's entries waited for the primary's store, which is down", bl)
	}
	// The primary's entries are not shared: the frontier stays before them and the window shows it.
	if age := s.Handoff().UnsharedAge; age < 50*time.Second {
		t.Fatalf("UnsharedAge %v: the primary's entries (logged a minute ago) are kept only here", age)
	}
}

// TestHandoffListingOfOneSideNeverWaitsForTheOtherSidesStore: the listing of the shared backlog
// (H5) counts a store that cannot be read as one batch for the side it keeps, and only for it:
// the other side's count stays the one listed.
func TestHandoffListingOfOneSideNeverWaitsForTheOtherSidesStore(t *testing.T) {
	up := handoff.NewMemStore()
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
	h.refresh(context.Background())
	if n := h.owedTo(secondarySide); n != 0 {
		t.Fatalf("owedTo(secondary) = %d with its store empty and answering: the primary's store being down counts against the secondary", n)
	}
	if n := h.owedTo(primarySide); n != 1 {
		t.Fatalf("owedTo(primary) = %d with its store down: want 1 (unknown counts as one)", n)
	}
}

// hungStore is the hand-off store kept in a cluster whose coordinator takes requests and never
// answers: every call waits for its context.
type hungStore struct{ downStore }

func (hungStore) Batches(ctx context.Context, _ string) ([]handoff.Batch, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hungStore) Beat(ctx context.Context, _, _, _ string, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestHandoffAdoptionOfOneSideNeverWaitsForTheOtherSidesStore: a batch another instance left in
// the store that answers is adopted while the other side's store hangs (its listing waits up to a
// lease TTL, a minute here): each store's adoption runs on its own (H6).
func TestHandoffAdoptionOfOneSideNeverWaitsForTheOtherSidesStore(t *testing.T) {
	ctx := context.Background()
	up := handoff.NewMemStore()
	old := time.Now().Add(-time.Minute)
	raw, err := encodeEntry(&Entry{Side: "secondary", Timestamp: old.UnixMicro(), Logged: old,
		Stmts: []Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{9999, "x"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Put(ctx, "orders", handoff.Batch{ID: "0000000000000001-gone-aa", Side: "secondary", Entries: 1,
		Origin: "gone", Created: old}, [][]byte{raw}); err != nil {
		t.Fatal(err)
	}
	fa := &fakeSides{}
	s := newHandoffSession(t, fa, up, "a", HandoffLease(time.Minute))
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{hungStore{}, up}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.adopt(actx) }()
	defer func() { cancel(); <-done }()
	waitHandoff(t, "the batch in the store that answers adopted while the other store hangs", 10*time.Second,
		func() bool { return s.Handoff().Adopted == 1 })
}

// TestHandoffCopyOfOneSideNeverWaitsForTheOtherSidesHungStore: as
// TestHandoffCopyOfOneSideNeverWaitsForTheOtherSidesStore, the primary's store hanging instead of
// failing (a partitioned coordinator: every call waits for its context, and the copy loop's has
// no deadline): the secondary's entries are still stored while the copy into the hung store waits.
func TestHandoffCopyOfOneSideNeverWaitsForTheOtherSidesHungStore(t *testing.T) {
	up := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(primarySide, downSide)
	fa.set(secondarySide, downSide)
	s := newHandoffSession(t, fa, up, "a", HandoffCopyAfter(50*time.Millisecond))
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{hungStore{}, up}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	for i, sd := range []string{"primary", "primary", "secondary", "secondary", "secondary"} {
		if err := h.fl.Append(ctx, &Entry{Side: sd, Timestamp: int64(1_700_000_000_000_000 + i), Logged: old,
			Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{i}}}}); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.copyStep()(sctx) }()
	defer func() { cancel(); <-done }()
	waitHandoff(t, "the secondary's entries stored while the primary's store hangs", 10*time.Second, func() bool {
		bl, _ := handoff.Backlog(ctx, up, "orders")
		return bl["secondary"] == 3
	})
}
