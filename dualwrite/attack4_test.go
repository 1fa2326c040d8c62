package dualwrite

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestAttack4ShorthandCounterIncrementReplayed
// Interleaving: Dual, PrimaryAuthoritative; `UPDATE … SET hits += 1` (CQL's shorthand for
// hits = hits + 1, Cassandra 4.0+) on a counter column; the secondary applies the increment but its
// answer is lost (timeout); the write is kept in the replay log as an ordinary write and, once the
// secondary answers again, replayed: the secondary has counted it twice.
// Promise broken (package doc): "Counter updates cannot carry a timestamp and are not idempotent: …
// a failed follower update is recorded as uncertain … and never replayed", and "Statements are read
// by a small CQL lexer": the lexer/parser only knows `c = c ± x`, so `c += x` is not an increment.
func TestAttack4ShorthandCounterIncrementReplayed(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "hits" {
			return kindCounter, nil
		}
		return kindOther, nil
	}
	var applied, calls atomic.Int64
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		applied.Add(1) // the increment reaches the secondary's replicas…
		if calls.Add(1) == 1 {
			return false, errors.New("secondary: write timeout") // …but its answer is lost
		}
		return true, nil
	})
	s := newFakeSession(t, f, withColumnKinds(kinds), withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	if err := s.Query("UPDATE ks.c SET hits += 1 WHERE k = ?", 1).Exec(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.WaitReplayed(ctx)
	if n := applied.Load(); n != 1 {
		t.Fatalf("a counter increment (SET hits += 1) was applied %d times on the secondary: kept for replay "+
			"as an ordinary write (uncertain recorded: %d), so the counter is counted twice", n, s.Stats().Uncertain)
	}
}

// TestAttack4ShorthandListAppendNotRefused
// Interleaving: Dual, PrimaryAuthoritative; `UPDATE … SET tags += ?` (shorthand for
// tags = tags + ?) on a list column is sent to both sides; the secondary applies it but times out;
// the entry is replayed and the secondary's list holds the element twice.
// Promise broken (package doc): "List appends, prepends and index operations are not idempotent
// either: in the dual phases they are refused (ErrNotIdempotent) before reaching either side."
func TestAttack4ShorthandListAppendNotRefused(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "tags" {
			return kindList, nil
		}
		return kindOther, nil
	}
	f := &fakeSides{}
	s := newFakeSession(t, f, withColumnKinds(kinds))
	defer s.Close()
	// The long form is refused (control):
	if err := s.Query("UPDATE ks.t SET tags = tags + ? WHERE k = ?", []string{"a"}, 1).Exec(); !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("control: tags = tags + ? on a list: %v, want ErrNotIdempotent", err)
	}
	err := s.Query("UPDATE ks.t SET tags += ? WHERE k = ?", []string{"a"}, 1).Exec()
	if !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("SET tags += ? (a list append) in the dual phase: %v, want ErrNotIdempotent (a replay duplicates the element)", err)
	}
}
