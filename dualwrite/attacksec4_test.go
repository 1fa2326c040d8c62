package dualwrite

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"testing"

	"github.com/gocql/gocql"
)

// Attack (security review 4): dualwrite's warnings carry a statement's values only as key_hash,
// "so lines correlate, and the values cannot be read back" (logmask.go; docs/security.md "Logs and
// member data": only debug logs hold member data). key_hash is 16 hex digits of an unkeyed SHA-256
// of fmt's %#v of the values: a shadow read's values are its key alone (a member id, an email), so
// whoever reads the warn log hashes the candidates and has the key back. Here a shadow-read
// mismatch's WARN line for member 4711 and for alice@example.com: both come back.
func TestAttackSec4KeyHashReadsBackTheValues(t *testing.T) {
	attackerHash := func(values []any) string { // no secret needed: SHA-256 of the Go syntax
		sum := sha256.Sum256([]byte(fmt.Sprintf("%#v", values)))
		return hex.EncodeToString(sum[:8])
	}
	for _, tc := range []struct {
		stmt       string
		values     []any
		candidates func(yield func([]any) bool)
	}{
		{"SELECT * FROM members WHERE id = ?", []any{int64(4711)}, func(yield func([]any) bool) {
			for id := int64(0); id < 1_000_000; id++ {
				if !yield([]any{id}) {
					return
				}
			}
		}},
		{"SELECT * FROM members_by_email WHERE email = ?", []any{"alice@example.com"}, func(yield func([]any) bool) {
			for _, who := range []string{"bob", "carol", "alice", "dave"} {
				if !yield([]any{who + "@example.com"}) {
					return
				}
			}
		}},
	} {
		var logs bytes.Buffer
		logShadowMismatch(slog.New(slog.NewTextHandler(&logs, nil)), tc.stmt, tc.values, 1, 0) // INFO and above
		m := regexp.MustCompile(`key_hash=([0-9a-f]{16})`).FindStringSubmatch(logs.String())
		if m == nil {
			t.Fatalf("no key_hash in the warn line: %s", logs.String())
		}
		var recovered []any
		tc.candidates(func(v []any) bool {
			if attackerHash(v) == m[1] {
				recovered = v
				return false
			}
			return true
		})
		if recovered != nil {
			t.Errorf("the warn line %q gives the values back by trying candidates: %v (logmask.go promises they cannot be read back)", logs.String(), recovered)
		}
	}
}

// cqlNote is an application's type that marshals itself (gocql.Marshaler): gocql binds it, the
// replay log cannot keep it (ErrUnencodable).
type cqlNote struct{ text string }

func (n cqlNote) MarshalCQL(gocql.TypeInfo) ([]byte, error) { return []byte(n.text), nil }

// Attack (security review 4): at info, warn and error dualwrite logs a statement only as logStmt
// gives it (literals masked) and "the statement as written ... at debug level only" (logmask.go).
// But the replay log's refusal of a value (ErrUnencodable) quotes the whole statement as written
// (entrycodec.go encodeEntry: "(value %d of %q)"), and that error is logged at ERROR unmasked:
// asyncWorker's "dualwrite: async follower write lost" carries it as replay_log_err, right beside
// the masked stmt, when an Async write's follower copy fails (follower down) and the copy cannot
// be kept. Any statement with a literal key and a bound value of the application's own
// gocql.Marshaler type (which gocql, so the leader, takes) puts the member's email in the log.
// Here the error Append returns, which is that replay_log_err.
func TestAttackSec4ReplayLogErrorQuotesTheStatementAsWritten(t *testing.T) {
	stmt := "UPDATE ks.members SET note = ? WHERE email = 'alice@example.com'"
	err := NewMemLog().Append(context.Background(), &Entry{Side: "secondary", Timestamp: 1,
		Stmts: []Stmt{{Stmt: stmt, Values: []any{cqlNote{"hello"}}}}})
	if !errors.Is(err, ErrUnencodable) {
		t.Fatalf("Append: %v, want ErrUnencodable", err)
	}
	var logs bytes.Buffer // what asyncWorker logs, at ERROR
	slog.New(slog.NewTextHandler(&logs, nil)).Error("dualwrite: async follower write lost", "side", "secondary",
		"stmt", logStmt(stmt), "key_hash", keyHash([]any{cqlNote{"hello"}}), "err", errors.New("follower down"), "replay_log_err", err)
	if strings.Contains(logs.String(), "alice@example.com") {
		t.Errorf("the ERROR line shows the member's email through replay_log_err (the statement as written), beside the masked stmt: %s", logs.String())
	}
}
