package dualwrite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
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
