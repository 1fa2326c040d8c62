package dualwrite

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Every refusal of the write path (ErrNonDeterministic, ErrNotReplayable, ErrNotIdempotent, alone
// or in a batch) quotes the statement as logStmt masks it: the application logs a refused write's
// error, and a literal in the statement is member data (or a password: ALTER ROLE … PASSWORD).
// The statement's shape (keywords, names, the function) stays, so the error still says what was
// refused.
func TestSec5RefusalErrorsQuoteTheStatementMasked(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "tags" {
			return kindList, nil
		}
		return kindOther, nil
	}
	secrets := []string{"alice@example.com", "Alice Liddell", "s3cret-pw", "0xdeadbeef", "123e4567-e89b-12d3-a456-426614174000", "4711"}
	cases := []struct {
		stmt  string
		want  error
		shape string
	}{
		{"INSERT INTO kv (k, v) VALUES ('alice@example.com', toTimestamp(now()))", ErrNonDeterministic, "INSERT INTO kv"},
		{"UPDATE kv SET v = 'Alice Liddell, 4 Wonderland Rd' WHERE k = uuid()", ErrNonDeterministic, "uuid()"},
		{"ALTER ROLE app WITH PASSWORD = 's3cret-pw'", ErrNotReplayable, "ALTER ROLE app"},
		{"INSERT INTO kv (k, id, at) VALUES (0xdeadbeef, 123e4567-e89b-12d3-a456-426614174000, currentTimestamp())", ErrNonDeterministic, "currentTimestamp()"},
		{"UPDATE ks.t SET tags = tags + ['alice@example.com'] WHERE k = 4711", ErrNotIdempotent, "tags = tags +"},
	}
	for _, batch := range []bool{false, true} {
		s := newFakeSession(t, &fakeSides{}, withColumnKinds(kinds))
		for _, c := range cases {
			var err error
			if batch {
				b := s.NewBatch(0)
				b.Query("INSERT INTO kv (k) VALUES (?)", 1)
				b.Query(c.stmt)
				err = s.ExecuteBatch(b)
			} else {
				err = s.Query(c.stmt).Exec()
			}
			if !errors.Is(err, c.want) {
				t.Errorf("batch=%v %q: %v, want %v", batch, c.stmt, err, c.want)
				continue
			}
			for _, lit := range secrets {
				if strings.Contains(c.stmt, lit) && strings.Contains(err.Error(), lit) {
					t.Errorf("batch=%v: the refusal shows the literal %q: %v", batch, lit, err)
				}
			}
			if !strings.Contains(err.Error(), c.shape) || !strings.Contains(err.Error(), maskedLiteral) {
				t.Errorf("batch=%v: the refusal lost the statement's shape (%q, ***): %v", batch, c.shape, err)
			}
		}
		s.Close()
	}
}
