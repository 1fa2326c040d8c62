package dualwrite

import (
	"context"
	"testing"
	"time"
)

// TestAttack7TimedOutCounterUncertainTwice
// Interleaving: Dual, PrimaryAuthoritative, FileLog; a counter update whose caller's deadline ends
// while the primary (leader) is still working on it; the leader answers the context's error (not
// a refusal: it may have counted it), so leaderFailed records it as uncertain for the primary
// under the caller's context, which is already done: bounded returns the context's error at once
// while the durable record goes on and succeeds, and recordUncertain, reading that as "could not
// be kept durably", keeps a second copy in memory. One write, two uncertain records; the operator
// reconciles and drops the durable one (`islands replay drop --uncertain`, FileLog.DropUncertain),
// yet the primary can never regain authority in this process (the memory copy has no command).
// Promise broken (package doc, SetPhase): uncertain writes hold a side's authority "until an
// operator reconciles them and drops them with `islands replay drop --uncertain`"; and the record
// (Uncertain, metric) counts one write twice.
func TestAttack7TimedOutCounterUncertainTwice(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &fakeSides{}
	f.set(primarySide, func(ctx context.Context, _ *writeOp) (bool, error) {
		<-ctx.Done() // the leader is slow: the caller's deadline ends first
		return false, ctx.Err()
	})
	s := newFakeSession(t, f, WithReplayLog(l))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Query("UPDATE ks.hits SET n = n + 1 WHERE k = ?", 1).WithContext(ctx).Exec(); err == nil {
		t.Fatal("control: the counter update whose leader timed out succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		es, err := l.UncertainEntries()
		if err != nil {
			t.Fatal(err)
		}
		if len(es) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("control: no durable uncertain record for the timed-out counter update")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	n := 0
	for _, u := range s.Uncertain() {
		if u.Side == primarySide.String() {
			n++
		}
	}
	// The operator reconciles the counter and drops the uncertain record.
	if _, err := l.DropUncertain(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPhase(DualFlipped); err != nil {
		t.Fatalf("control: SetPhase(DualFlipped): %v", err)
	}
	perr := s.SetPhase(Dual)
	if n != 1 || perr != nil {
		t.Fatalf("one counter update whose leader timed out is recorded %d times as uncertain for the primary "+
			"(want 1: Uncertain()=%+v); after the operator dropped the uncertain store, SetPhase(Dual) = %v "+
			"(the memory copy holds the primary's authority with no command to clear it)", n, s.Uncertain(), perr)
	}
}
