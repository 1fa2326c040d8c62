package dualwrite

import (
	"errors"
	"testing"
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
