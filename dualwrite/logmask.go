package dualwrite

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/globalcloud/islands/internal/loghash"
)

// What the package logs about a statement. A statement's values are member data (a key may be an
// email), whether bound or written as literals in its text. Invariants:
//   - at info, warn and error a statement appears only as logStmt gives it (every string, number,
//     blob and UUID literal masked, comments dropped) and its values only as keyHash (a hash: the
//     same values give the same hash, so lines correlate, and the values cannot be read back);
//   - the statement's text as written and its values appear at debug level only;
//   - an error the package builds quotes a statement only as errStmt gives it (logStmt, quoted):
//     the caller logs a refused write's error, at error level as often as not.

// maskedLiteral stands for a literal in a logged statement.
const maskedLiteral = "***"

// uuidLiteral matches a UUID literal, which lexCQL splits into identifier and number pieces.
var uuidLiteral = regexp.MustCompile(`[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`)

// logStmt is stmt as logged at info, warn and error: its tokens as written, except that each
// string ('…', $$…$$), number, blob (0x…) and UUID literal is *** (a string '***'), and comments
// are dropped. Names, keywords and bind markers stay, so the line still says what the statement
// does.
func logStmt(stmt string) string {
	uuids := uuidLiteral.FindAllStringIndex(stmt, -1)
	var b strings.Builder
	b.Grow(len(stmt))
	prevEnd, u, lastUUID := 0, 0, -1
	for _, t := range lexCQL(stmt) {
		for u < len(uuids) && uuids[u][1] <= t.start {
			u++
		}
		inUUID := u < len(uuids) && uuids[u][0] <= t.start && t.kind != tokString && t.kind != tokQuoted
		if inUUID && lastUUID == u {
			prevEnd = t.end // a later piece of a UUID already written as ***
			continue
		}
		if prevEnd > 0 && t.start > prevEnd {
			b.WriteByte(' ')
		}
		switch {
		case inUUID:
			lastUUID = u
			b.WriteString(maskedLiteral)
		case t.kind == tokString:
			b.WriteString("'" + maskedLiteral + "'")
		case t.kind == tokNumber:
			b.WriteString(maskedLiteral)
		default:
			b.WriteString(stmt[t.start:t.end])
		}
		prevEnd = t.end
	}
	return b.String()
}

// errStmt is stmt as the package's errors quote it: logStmt's masked form, in Go quotes (%q).
func errStmt(stmt string) string {
	return strconv.Quote(logStmt(stmt))
}

// keyHash is the hash logged for a statement's values (key_hash): loghash's keyed hash (HMAC-SHA-256
// under the process's key, see internal/loghash) of their Go syntax representation.
func keyHash(values []any) string {
	return loghash.String(fmt.Sprintf("%#v", values))
}

// entryKeyHash is keyHash of an entry's first statement's values ("" when it has none).
func entryKeyHash(e *Entry) string {
	if len(e.Stmts) == 0 {
		return ""
	}
	return keyHash(e.Stmts[0].Values)
}
