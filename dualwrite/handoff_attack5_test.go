package dualwrite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// downStore is the hand-off store kept in a cluster that does not answer (every call fails).
type downStore struct{ handoff.Store }

var errStoreDown = errors.New("unavailable: no hosts available in the pool")

func (downStore) Put(context.Context, string, handoff.Batch, [][]byte) error { return errStoreDown }
func (downStore) Batches(context.Context, string) ([]handoff.Batch, error)   { return nil, errStoreDown }
func (downStore) Entries(context.Context, string, string) ([][]byte, error)  { return nil, errStoreDown }
func (downStore) Delete(context.Context, string, string) error               { return errStoreDown }
func (downStore) Acquire(context.Context, string, string, string, time.Duration) (bool, string, error) {
	return false, "", errStoreDown
}
func (downStore) Release(context.Context, string, string, string) error { return errStoreDown }
func (downStore) Beat(context.Context, string, string, string, time.Duration) error {
	return errStoreDown
}
func (downStore) Drop(context.Context, string, string) error             { return errStoreDown }
func (downStore) Holder(context.Context, string, string) (string, error) { return "", errStoreDown }

// TestAttackHandoff5BackgroundCopyStopsWhileTheOtherClusterIsDown: without WithMigration
// (HandoffKeyspace) an entry owed to a side is kept in the store of the OTHER side's cluster
// (stores[sd] lives in cluster 1-sd): the secondary's backlog in the primary's cluster. Promise:
// WithHandoff's doc and H2 — "entries logged more than HandoffCopyAfter ago are copied to the
// store; a crash that loses the disk too loses at most the last seconds' entries".
// Interleaving: the secondary (and so the store in its cluster, stores[primary]) is down; writes
// are acknowledged by the primary and logged for the secondary; each copy pass's put() first
// forces beat(), which Beats the liveness lease in EVERY distinct store and fails when one fails
// (the down secondary cluster's), so put() returns before storing the batch into the primary
// cluster's store, which answers. Nothing is ever copied during exactly the outage that makes the
// backlog: a crash losing the disk loses the whole outage's acknowledged writes.
func TestAttackHandoff5BackgroundCopyStopsWhileTheOtherClusterIsDown(t *testing.T) {
	up := handoff.NewMemStore() // in the primary's cluster: keeps the entries owed to the secondary
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	s := newHandoffSession(t, fa, up, "a", HandoffCopyAfter(100*time.Millisecond))
	// Make the stores those of HandoffKeyspace's layout: stores[primary] in the (down) secondary's
	// cluster, stores[secondary] in the primary's. The background loops are stopped while they are
	// swapped, and the copy loop's step (copyStep, unchanged) is then run by the test every tick.
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{downStore{}, up}
	defer func() { // Close's hand-off closes h.stop again: the replayer is stopped by then
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	step := h.copyStep()
	stepCtx, stopSteps := context.WithCancel(context.Background())
	stepsDone := make(chan struct{})
	go func() {
		defer close(stepsDone)
		for stepCtx.Err() == nil {
			step(stepCtx)
			time.Sleep(h.tick())
		}
	}()
	defer func() { stopSteps(); <-stepsDone }()

	writeN(t, s, 0, 50)
	if n := len(keptFor(t, s, secondarySide)); n != 50 {
		t.Fatalf("%d entries kept for the secondary, want 50", n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if bl, _ := handoff.Backlog(context.Background(), up, "orders"); bl["secondary"] == 50 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	bl, _ := handoff.Backlog(context.Background(), up, "orders")
	t.Fatalf("3 s after 50 writes were acknowledged and kept for the down secondary (copyAfter 100ms), the store "+
		"that answers holds %v of them (want secondary 50): the copy waits for the down cluster's liveness beat; "+
		"UnsharedAge %v", bl, s.Handoff().UnsharedAge)
}

// TestAttackHandoff5DeadLetterCopyStopsWhileTheOtherClusterIsDown: the same layout as above
// (HandoffKeyspace: stores[sd] in cluster 1-sd). Promise: copyAside's doc and H1 ("in the
// background they are copied every adoptEvery, held like H2's copies") — "a crash that loses the
// disk loses none set aside more than adoptEvery + a copy's time ago".
// Interleaving: the secondary's cluster is down; a write owed to the secondary is dead-lettered
// here; every copy pass's copyAside forces beat(), which fails on the down cluster's store, so
// the dead letter is never put into the primary cluster's store, which answers: a crash losing
// the disk loses it however old it is.
func TestAttackHandoff5DeadLetterCopyStopsWhileTheOtherClusterIsDown(t *testing.T) {
	up := handoff.NewMemStore()
	fa := &fakeSides{}
	fa.set(secondarySide, downSide)
	s := newHandoffSession(t, fa, up, "a", HandoffCopyAfter(time.Hour))
	h := s.ho
	close(h.stop)
	h.wg.Wait()
	h.stores = [2]handoff.Store{downStore{}, up}
	defer func() {
		defer func() { _ = recover(); s.log.Close() }()
		s.Close()
	}()
	writeN(t, s, 0, 1)
	recs, err := h.fl.PendingEntries(10)
	if err != nil || len(recs) != 1 || entrySide(&recs[0].Entry) != secondarySide {
		t.Fatalf("want one entry kept for the secondary: %d, %v", len(recs), err)
	}
	e := recs[0].Entry
	if err := h.fl.aside(context.Background(), h.fl.dead, &e, errors.New("refused for good")); err != nil {
		t.Fatal(err)
	}
	step := h.copyStep()
	for i := 0; i < 3; i++ { // three copy passes, adoptEvery apart: each brings the aside copies up to date
		step(context.Background())
		time.Sleep(h.cfg.adoptEvery)
	}
	bs, _ := up.Batches(context.Background(), "orders")
	for _, b := range bs {
		if b.Kind() == handoff.KindDeadLetter && b.Side == "secondary" {
			return
		}
	}
	t.Fatalf("after three aside copy passes over %v, the store that answers holds no copy of the dead letter owed "+
		"to the secondary (batches %v): its copy waits for the down cluster's liveness beat", 3*h.cfg.adoptEvery, bs)
}
