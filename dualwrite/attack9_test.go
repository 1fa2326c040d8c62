package dualwrite

import (
	"errors"
	"testing"
)

// TestAttack9TextualBatchWithoutSemicolonsListAppendNotRefused
// Interleaving: Dual; one textual `BEGIN BATCH INSERT INTO ks.a … UPDATE ks.b SET tags = tags + [..]
// … APPLY BATCH` whose statements are not separated by ';' (optional in Cassandra's grammar:
// batchStatement is `BEGIN … BATCH usingClause? ( batchStatementObjective ';'? )* APPLY BATCH`).
// parseStatement splits a textual batch on ';' only and parses the first DML of each piece, so the
// second statement's list append (and a list prepend, an index delete) is never seen: the write
// goes to both sides, and a follower failure keeps it for replay, which appends the element twice.
// Promise broken (package doc): "List appends (l = l + x, l += x), prepends (l = x + l) and index
// operations are not idempotent either: in the dual phases they are refused (ErrNotIdempotent)
// before reaching either side" — the same batch written with ';' is refused (control below).
func TestAttack9TextualBatchWithoutSemicolonsListAppendNotRefused(t *testing.T) {
	f := &fakeSides{}
	s := newFakeSession(t, f)
	defer s.Close()
	if err := s.Query("BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'v'); UPDATE ks.b SET tags = tags + ['x'] WHERE k = 1; APPLY BATCH").Exec(); !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("control: with ';' separators: %v, want ErrNotIdempotent", err)
	}
	for _, stmt := range []string{
		"BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'v') UPDATE ks.b SET tags = tags + ['x'] WHERE k = 1 APPLY BATCH",
		"BEGIN BATCH UPDATE ks.b SET v = 'v' WHERE k = 1 UPDATE ks.b SET tags = ['x'] + tags WHERE k = 1 APPLY BATCH",
		"BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'v') DELETE tags[0] FROM ks.b WHERE k = 1 APPLY BATCH",
	} {
		err := s.Query(stmt).Exec()
		if !errors.Is(err, ErrNotIdempotent) {
			t.Errorf("%q: %v, want ErrNotIdempotent (a list operation of the batch's second statement, separated without ';')", stmt, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.seen[primarySide]) + len(f.seen[secondarySide]); n != 0 {
		t.Errorf("%d side writes landed: a non-idempotent list operation reached the sides (and would be kept for replay on a follower failure)", n)
	}
}
