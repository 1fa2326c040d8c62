package dualwrite

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/internal/handoff"
)

// stuckPut is a store whose Put (a copy) does not return until released or cancelled: a
// coordinator that accepts the request and answers late, within gocql's timeouts.
type stuckPut struct {
	handoff.Store
	putting chan struct{}
	release chan struct{}
}

func (s *stuckPut) Put(ctx context.Context, scope string, b handoff.Batch, raws [][]byte) error {
	select {
	case s.putting <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Put(ctx, scope, b, raws)
}

// TestHandoffUnsharedAgeReadWhileACopyIsStuck: UnsharedAge (and its gauge) is the age of the
// oldest entry on this instance's disk only at the moment it is read (H2), not the age the last
// finished copy pass saw: while a copy hangs, the window grows and both say so.
func TestHandoffUnsharedAgeReadWhileACopyIsStuck(t *testing.T) {
	st := &stuckPut{Store: handoff.NewMemStore(), putting: make(chan struct{}, 1), release: make(chan struct{})}
	f := &fakeSides{}
	f.set(secondarySide, downSide)
	reg := prometheus.NewRegistry()
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayDir(t.TempDir()), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
			WithName("orders"), WithRegisterer(reg), WithHandoff(handoffStore(st), HandoffInstance("a"), HandoffLease(5*time.Second),
				HandoffCopyAfter(200*time.Millisecond), HandoffDrain(50*time.Millisecond, 5*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer close(st.release) // before Close: its final copy goes through
	writeN(t, s, 0, 5)
	acked := time.Now() // every entry was logged before this
	select {
	case <-st.putting: // the copy of the 5 entries hangs
	case <-time.After(5 * time.Second):
		t.Fatal("setup: the entries were never copied")
	}
	time.Sleep(time.Second)
	floor := time.Since(acked) // the oldest unshared entry is at least this old now
	got := s.Handoff().UnsharedAge
	if got < floor {
		t.Fatalf("UnsharedAge %s while a copy hangs; the oldest entry only on this disk is older than %s", got, floor)
	}
	if m := s.Handoff().MaxUnsharedAge; m < floor {
		t.Fatalf("MaxUnsharedAge %s, below the age %s read a moment ago", m, floor)
	}
	floor = time.Since(acked)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauge := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "islands_dualwrite_handoff_unshared_age_seconds" {
			gauge = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if gauge < floor.Seconds() {
		t.Fatalf("islands_dualwrite_handoff_unshared_age_seconds %v while a copy hangs; the oldest entry only on this disk is older than %s", gauge, floor)
	}
}
