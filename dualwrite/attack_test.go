package dualwrite

import (
	"context"
	"errors"
	"testing"
)

// TestAttackStrictCounterFollowerFailureAcknowledged
// Interleaving: policy Strict, phase Dual; a counter UPDATE c = c + 1 succeeds on the primary,
// the secondary answers with an error (timeout). Exec returns nil.
// Promise broken (package doc, Strict): "both sides must accept; a follower failure is returned
// to the caller". settleFollower routes every counter follower failure to recordUncertain and
// acknowledges, whatever the policy: a Strict caller is told the increment is on both sides.
func TestAttackStrictCounterFollowerFailureAcknowledged(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary timed out") })
	s := newFakeSession(t, f, WithPolicy(Strict))
	defer s.Close()
	err := s.Query("UPDATE hits SET c = c + ? WHERE k = ?", int64(1), 1).Exec()
	if err == nil || !errors.Is(err, ErrFollower) {
		t.Fatalf("Strict: counter update failed on the follower, Exec = %v, want ErrFollower", err)
	}
}

// TestAttackStrictLWTFollowerFailureAcknowledged
// Interleaving: policy Strict, phase Dual; INSERT … IF NOT EXISTS applies on the primary, the
// secondary fails (timeout). Exec returns nil: the row may be on one side only.
// Promise broken (package doc, Strict): "both sides must accept; a follower failure is returned
// to the caller" — settleFollower logs the LWT follower error and acknowledges.
func TestAttackStrictLWTFollowerFailureAcknowledged(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary timed out") })
	s := newFakeSession(t, f, WithPolicy(Strict))
	defer s.Close()
	applied, err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS", 1, "x").MapScanCAS(map[string]any{})
	if err == nil {
		t.Fatalf("Strict: conditional write failed on the follower, MapScanCAS = (%v, nil), want an error", applied)
	}
}

// TestAttackCounterBothSidesFailNoUncertain
// Interleaving: phase Dual, default policy; a counter update times out on the primary (leader)
// and on the secondary (follower). Exec returns the leader's error; nothing is recorded.
// Promise broken (package doc): "a failed follower update is recorded as uncertain (Uncertain,
// metric) and never replayed" — leaderFailed records the follower only when it succeeded; a
// follower timeout (may have applied) vanishes from Uncertain() and the metric.
func TestAttackCounterBothSidesFailNoUncertain(t *testing.T) {
	f := &fakeSides{}
	fail := func(context.Context, *writeOp) (bool, error) { return false, errors.New("timed out") }
	f.set(primarySide, fail)
	f.set(secondarySide, fail)
	log := NewMemLog()
	s := newFakeSession(t, f, WithReplayLog(log))
	defer s.Close()
	if err := s.Query("UPDATE hits SET c = c + ? WHERE k = ?", int64(1), 1).Exec(); err == nil {
		t.Fatal("leader failed but Exec returned nil")
	}
	var sec bool
	for _, u := range s.Uncertain() {
		if u.Side == "secondary" {
			sec = true
		}
	}
	if !sec {
		t.Fatalf("follower counter update failed (may have applied) but Uncertain() = %+v has nothing for the secondary; stats %+v", s.Uncertain(), s.Stats())
	}
}
