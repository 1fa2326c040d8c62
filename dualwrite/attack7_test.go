package dualwrite

import (
	"context"
	"errors"
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

// TestAttack7OpenIntoDualOverAckedUncertainCounterForPrimary
// Interleaving: a process runs in dual-flipped (the secondary authoritative); an acknowledged
// counter update lands on the secondary and times out on the primary (the follower): recorded
// uncertain for the primary, the caller told success. The process restarts into dual (the primary
// authoritative): Open skips the primary's uncertain store ("in dual they are mostly writes whose
// leader failed"), though this one's caller was told it succeeded, and opens.
// Promise broken (package doc): "Opening a session (New, Open) is the same switch" as SetPhase,
// which refuses to make a side authoritative while it has uncertain writes; SetPhase(Dual) from
// dual-flipped refuses over this very record, a restart into dual does not. The exclusion's premise
// ("which in dual come from such writes", writes whose caller was told they failed) does not hold for
// a record a dual-flipped process left.
func TestAttack7OpenIntoDualOverAckedUncertainCounterForPrimary(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) {
		return false, transientErr{} // the increment's answer is lost on the follower
	})
	s := newFakeSession(t, f, WithReplayLog(l), WithPhase(DualFlipped))
	if err := s.Query("UPDATE ks.hits SET n = n + 1 WHERE k = ?", 1).Exec(); err != nil {
		t.Fatalf("control: the counter update was acknowledged by the authoritative secondary: %v", err)
	}
	if perr := s.SetPhase(Dual); perr == nil {
		t.Fatal("control: SetPhase(Dual) made the primary authoritative over its uncertain counter")
	}
	s.Close()
	l.Close()

	l2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if es, _ := l2.UncertainEntries(); len(es) != 1 {
		t.Fatalf("control: uncertain store after restart: %d records, want 1", len(es))
	}
	f.set(primarySide, nil)
	opts := []Option{withExecHook(f.exec), WithReplayLog(l2), WithPhase(Dual), WithOpenWait(200 * time.Millisecond)}
	s2, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
	if err == nil {
		s2.Close()
		t.Fatal("a session opened straight into dual (the primary authoritative) over an acknowledged counter update " +
			"whose outcome on the primary is unknown (uncertain, recorded in dual-flipped); SetPhase(Dual) refuses the same switch")
	}
	if !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("open into dual: %v, want ErrAuthorityBacklog", err)
	}
}

// TestAttack7StrictNoLogUncertainCounterDoesNotHoldAuthority
// Interleaving: Strict with no replay log (allowed: only PrimaryAuthoritative and Async need one),
// in dual; a counter update lands on the primary and times out on the secondary: recorded as
// uncertain for the secondary in memory (there is no store), the caller told ErrFollower. Then
// SetPhase(DualFlipped): pendingFor returns 0 whenever s.log is nil, so the secondary becomes
// authoritative over a counter whose value on it is unknown and that Uncertain() still lists.
// Promise broken (package doc, SetPhase): it refuses "to make a side authoritative while … that
// side has … uncertain writes (a counter update or a conditional write whose outcome on it is
// unknown …)"; recordUncertain's own contract: "Without a store (Strict with no replay log) … it is
// kept in memory (Uncertain, counted against sd's authority for the life of the process)".
func TestAttack7StrictNoLogUncertainCounterDoesNotHoldAuthority(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		return false, transientErr{} // the increment's answer is lost
	})
	opts := []Option{withExecHook(f.exec), WithPolicy(Strict), WithPhase(Dual)}
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts)
	if err != nil {
		t.Fatalf("control: Strict without a replay log: %v", err)
	}
	defer s.Close()
	if err := s.Query("UPDATE ks.hits SET n = n + 1 WHERE k = ?", 1).Exec(); !errors.Is(err, ErrFollower) {
		t.Fatalf("control: Strict counter update failing on the follower: %v, want ErrFollower", err)
	}
	n := 0
	for _, u := range s.Uncertain() {
		if u.Side == secondarySide.String() {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("control: uncertain records for the secondary: %d (%+v), want 1", n, s.Uncertain())
	}
	if err := s.SetPhase(DualFlipped); err == nil {
		t.Fatalf("SetPhase(DualFlipped) made the secondary authoritative while Uncertain() lists a counter update "+
			"whose outcome on it is unknown (%+v): with no replay log the in-memory record is never counted", s.Uncertain())
	}
}
