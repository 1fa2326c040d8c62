package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestAttack5QuotedNonDeterministicNotRefused
// Interleaving: Dual; `INSERT … VALUES (?, "now"())` — the same function under its quoted name
// (Cassandra's grammar, functionName: allowedFunctionName is IDENT | QUOTED_NAME …, so "now"()
// and system."uuid"() resolve to now() and uuid()) — goes to both sides; each coordinator computes
// its own timeuuid: the two copies differ, and a replay stores yet another value.
// Promise broken (package doc): "Statements that call non-deterministic functions (now(), uuid(),
// currentTimestamp() …) would store different values on each side and are refused
// (ErrNonDeterministic) unless the caller opts in", and "Statements are read by a small CQL lexer
// (quoted names …)". parseStatement matches only tokIdent against nonDeterministicFuncs, never a
// tokQuoted name followed by "(".
func TestAttack5QuotedNonDeterministicNotRefused(t *testing.T) {
	f := &fakeSides{}
	s := newFakeSession(t, f)
	defer s.Close()
	if err := s.Query("INSERT INTO kv (k, at) VALUES (?, now())", 1).Exec(); !errors.Is(err, ErrNonDeterministic) {
		t.Fatalf("control: now(): %v, want ErrNonDeterministic", err)
	}
	for _, call := range []string{`"now"()`, `"uuid"()`, `system."now"()`, `toTimestamp("now"())`, `"current_timestamp"()`} {
		err := s.Query("INSERT INTO kv (k, at) VALUES (?, "+call+")", 1).Exec()
		if !errors.Is(err, ErrNonDeterministic) {
			t.Errorf("%s: %v, want ErrNonDeterministic (each side stores its own coordinator's value)", call, err)
		}
	}
}

// TestAttack5TextualBatchListAppendLookedUpInFirstTable
// Interleaving: Dual; one textual `BEGIN BATCH INSERT INTO ks.a …; UPDATE ks.b SET tags = tags + ?
// …; APPLY BATCH` — a list append on ks.b. parseStatement keeps one keyspace/table (the first
// statement's), and checkReplayable asks the schema for column tags of ks.a, which has none: the
// append is not refused, goes to both sides, and a follower timeout replays it (element twice).
// Promise broken (package doc): "List appends (l = l + x, l += x), prepends (l = x + l) and index
// operations are not idempotent either: in the dual phases they are refused (ErrNotIdempotent)
// before reaching either side", and "A textual BEGIN BATCH … APPLY BATCH is analysed statement
// by statement" (statement.go) — the same append alone, or first in the batch, is refused.
func TestAttack5TextualBatchListAppendLookedUpInFirstTable(t *testing.T) {
	kinds := func(_ context.Context, _, table, column string) (columnKind, error) {
		if table == "b" && column == "tags" {
			return kindList, nil
		}
		return kindOther, nil
	}
	f := &fakeSides{}
	s := newFakeSession(t, f, withColumnKinds(kinds))
	defer s.Close()
	if err := s.Query("UPDATE ks.b SET tags = tags + ? WHERE k = ?", []string{"x"}, 1).Exec(); !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("control: the append alone: %v, want ErrNotIdempotent", err)
	}
	if err := s.Query("BEGIN BATCH UPDATE ks.b SET tags = tags + ? WHERE k = ?; INSERT INTO ks.a (k, v) VALUES (?, ?); APPLY BATCH",
		[]string{"x"}, 1, 1, "v").Exec(); !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("control: the append first in the batch: %v, want ErrNotIdempotent", err)
	}
	err := s.Query("BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (?, ?); UPDATE ks.b SET tags = tags + ? WHERE k = ?; APPLY BATCH",
		1, "v", []string{"x"}, 1).Exec()
	if !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("list append on ks.b second in a textual batch: %v, want ErrNotIdempotent (its column was looked up in ks.a)", err)
	}
}

// TestAttack5StringBoundTTLReplayedInFull
// Interleaving: Dual; `INSERT … USING TTL ?` bound with the string "100" (gocql marshals a string
// to the int TTL: marshalInt's case string) lands on the leader and is kept for the follower;
// the follower is back 50 s later and the replayer sends TTL "100" again, so the follower's copy
// outlives the leader's by 50 s (ttlSeconds reads only Go integer kinds: no expiry is stored).
// Promise broken (package doc): "The TTL of a replayed USING TTL write is what remains of it
// counted from when the leader answered the write … never from when the entry was kept".
// (The package already treats a string as a legal gocql integer for counters: counterByValue.)
func TestAttack5StringBoundTTLReplayedInFull(t *testing.T) {
	const stmt = "INSERT INTO kv (k, v) VALUES (?, ?) USING TTL ?"
	log := NewMemLog()
	logged := time.Now()
	e := &Entry{Side: "secondary", Timestamp: logged.UnixMicro(), Logged: logged,
		Stmts: []Stmt{{Stmt: stmt, Values: []any{1, "v", "100"}}}}
	if err := log.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	recs, err := log.Pending(1)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	got := remainingTTL(recs[0].Entry.Stmts[0], logged.Add(50*time.Second))
	if fmt.Sprint(got.Values[2]) != "50" {
		t.Fatalf("TTL bound as %q, replayed 50 s after the leader took it, is sent as %v (want 50): the "+
			"follower's copy lives 50 s longer than the leader's", "100", got.Values[2])
	}
}

// TestAttack5QuotedNamedMarkerShiftsTTLOntoData
// Interleaving: Dual; `INSERT INTO kv (k, n) VALUES (:"K", :n) USING TTL :ttl` bound (1, 500, 100)
// — a named bind marker with a quoted name is CQL (bindParameter: ':' noncol_ident, which includes
// QUOTED_NAME) — is kept for the follower. The lexer does not see :"K" as a marker, so the TTL's
// index is 1: the log stores an expiry from n = 500, and the replayer 50 s later rewrites value 1
// (n) to 450 and sends TTL 100 in full: the follower stores n = 450 instead of 500, for 100 s.
// Promise broken (package doc): the replayed write is the acknowledged one "with the original
// timestamp" (wrong data here), and "The TTL of a replayed USING TTL write is what remains of it".
func TestAttack5QuotedNamedMarkerShiftsTTLOntoData(t *testing.T) {
	const stmt = `INSERT INTO kv (k, n) VALUES (:"K", :n) USING TTL :ttl`
	log := NewMemLog()
	logged := time.Now()
	if err := log.Append(context.Background(), &Entry{Side: "secondary", Timestamp: logged.UnixMicro(), Logged: logged,
		Stmts: []Stmt{{Stmt: stmt, Values: []any{1, 500, 100}}}}); err != nil {
		t.Fatal(err)
	}
	recs, err := log.Pending(1)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	got := remainingTTL(recs[0].Entry.Stmts[0], logged.Add(50*time.Second))
	if fmt.Sprint(got.Values[1]) != "500" || fmt.Sprint(got.Values[2]) != "50" {
		t.Fatalf("replayed 50 s after the leader took it: values %v, want [1 500 50] (n unchanged, TTL shortened)", got.Values)
	}
}

// Like TestAttack5TextualBatchListAppendLookedUpInFirstTable, for counters: an increment bound as
// a string (the schema decides) second in a textual batch is looked up in its own table, so it is
// a counter update (never stamped, never replayed), not an ordinary write of the first table.
func TestTextualBatchCounterLookedUpInOwnTable(t *testing.T) {
	kinds := func(_ context.Context, _, table, column string) (columnKind, error) {
		if table == "c" && column == "hits" {
			return kindCounter, nil
		}
		return kindOther, nil
	}
	s := newFakeSession(t, &fakeSides{}, withColumnKinds(kinds))
	defer s.Close()
	stmt := "BEGIN COUNTER BATCH UPDATE ks.d SET n = n + ? WHERE k = ?; UPDATE ks.c SET hits = hits + ? WHERE k = ?; APPLY BATCH"
	op := &writeOp{ctx: context.Background(), stmts: []Stmt{{Stmt: stmt, Values: []any{"1", 1, "1", 1}}}}
	if err := s.resolveCounter(op, Dual); err != nil {
		t.Fatal(err)
	}
	if !op.counter {
		t.Fatalf("an increment of counter column ks.c.hits second in a textual batch was not taken for a counter update " +
			"(its column looked up in ks.d)")
	}
}
