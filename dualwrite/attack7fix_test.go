package dualwrite

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The other side of TestAttack7OpenIntoDualOverAckedUncertainCounterForPrimary: a dual process
// whose leader (the primary) times out on a counter update tells the caller it failed and records
// the primary's outcome as uncertain, marked Unacked; a restart in dual opens over it (the doc's
// "a restart in dual after a primary blip opens as before"). The same record without the mark (as
// an earlier version wrote it) reads as acknowledged and refuses the open.
func TestOpenIntoDualOverUnackedUncertainRecordForPrimary(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(l))
	if err := s.Query("UPDATE ks.hits SET n = n + 1 WHERE k = ?", 1).Exec(); err == nil {
		t.Fatal("control: a counter update whose leader timed out succeeded")
	}
	s.Close()
	es, err := l.UncertainEntries()
	if err != nil || len(es) != 1 || es[0].Entry.Side != primarySide.String() || !es[0].Entry.Unacked {
		t.Fatalf("uncertain store after the leader's failure: %+v, %v; want one record for the primary marked Unacked", es, err)
	}
	l.Close()

	open := func() error {
		l, err := OpenFileLog(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f.set(primarySide, nil)
		opts := []Option{withExecHook(f.exec), WithReplayLog(l), WithPhase(Dual), WithOpenWait(200 * time.Millisecond)}
		s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
		if err == nil {
			s.Close()
		}
		return err
	}
	if err := open(); err != nil {
		t.Fatalf("open in dual over the primary's Unacked uncertain record: %v", err)
	}

	// The same record without the mark: acknowledged for all the reader knows.
	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := es[0].Entry
	e.Unacked = false
	if _, err := l2.DropUncertain(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := l2.RecordUncertain(context.Background(), &e, transientErr{}); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if err := open(); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("open in dual over an unmarked uncertain record for the primary: %v, want ErrAuthorityBacklog", err)
	}
}
