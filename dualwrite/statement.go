package dualwrite

import (
	"regexp"
	"strings"
)

// statement is what dualwrite needs to know about one CQL string, worked out once and cached.
type statement struct {
	read             bool        // SELECT: goes to the read side only
	lwt              bool        // has an IF clause: the authoritative side decides
	nonDeterministic string      // the first non-deterministic function called, "" if none
	keyspace, table  string      // the table written (keyspace "" when the statement does not name one)
	increments       bool        // UPDATE … SET c = c + / - …: a counter update if the column is a counter
	colOps           []colOp     // operations that are not idempotent if their column is a list
	tbl              *tableState // the session's knowledge of the table written (nil: none)
}

// nonDeterministicFuncs are CQL functions whose value depends on when or where they run.
// minTimeuuid/maxTimeuuid and toTimestamp of a bound value are deterministic and allowed.
var nonDeterministicFuncs = regexp.MustCompile(`(?i)\b(now|uuid|currenttimestamp|currentdate|currenttime|currenttimeuuid)\s*\(`)

var (
	writeTarget = regexp.MustCompile(`(?i)^\s*(?:insert\s+into|update|delete\b.*?\bfrom)\s+("?[\w]+"?(?:\."?[\w]+"?)?)`)
	increment   = regexp.MustCompile(`(?i)\bset\b.*?("?\w+"?)\s*=\s*("?\w+"?)\s*[-+]`)
	lwtClause   = regexp.MustCompile(`(?i)\bif\s+(not\s+exists|exists|\w)`)
)

// parseStatement analyses stmt. It is deliberately conservative: string literals are blanked first
// so that text inside them never looks like a function call or a clause.
func parseStatement(stmt string) statement {
	code := blankLiterals(stmt)
	trimmed := strings.TrimSpace(code)
	var st statement
	if len(trimmed) >= 6 && strings.EqualFold(trimmed[:6], "select") {
		st.read = true
		return st
	}
	if m := nonDeterministicFuncs.FindStringSubmatch(code); m != nil {
		st.nonDeterministic = m[1] + "()"
	}
	st.lwt = lwtClause.MatchString(code) && !strings.HasPrefix(strings.ToLower(trimmed), "begin")
	if m := writeTarget.FindStringSubmatch(code); m != nil {
		name := m[1]
		if i := strings.IndexByte(name, '.'); i >= 0 {
			st.keyspace, st.table = unquote(name[:i]), unquote(name[i+1:])
		} else {
			st.table = unquote(name)
		}
	}
	if m := increment.FindStringSubmatch(code); m != nil && unquote(m[1]) == unquote(m[2]) {
		st.increments = true
	}
	st.colOps = collectionOps(stmt)
	return st
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return strings.ToLower(s)
}

// blankLiterals replaces the contents of '…' string literals and $$…$$ blocks with spaces, keeping
// every byte offset, so the statement can be scanned for code without reading values.
func blankLiterals(stmt string) string {
	b := []byte(stmt)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\'':
			for i++; i < len(b); i++ {
				if b[i] == '\'' {
					if i+1 < len(b) && b[i+1] == '\'' { // '' is an escaped quote
						b[i], b[i+1] = ' ', ' '
						i++
						continue
					}
					break
				}
				b[i] = ' '
			}
		case b[i] == '$' && i+1 < len(b) && b[i+1] == '$':
			end := strings.Index(string(b[i+2:]), "$$")
			if end < 0 {
				return string(b)
			}
			for j := i + 2; j < i+2+end; j++ {
				b[j] = ' '
			}
			i += end + 3
		}
	}
	return string(b)
}

// mapKeyspaces rewrites the keyspace names of stmt that appear in m (keyspace-qualified table
// names such as island.profiles), leaving string literals alone.
func mapKeyspaces(stmt string, m map[string]string) string {
	if len(m) == 0 {
		return stmt
	}
	code := blankLiterals(stmt)
	var out strings.Builder
	last := 0
	for _, loc := range qualifiedName.FindAllStringSubmatchIndex(code, -1) {
		ksStart, ksEnd := loc[2], loc[3]
		to, ok := m[unquote(code[ksStart:ksEnd])]
		if !ok {
			continue
		}
		out.WriteString(stmt[last:ksStart])
		out.WriteString(to)
		last = ksEnd
	}
	if last == 0 {
		return stmt
	}
	out.WriteString(stmt[last:])
	return out.String()
}

var qualifiedName = regexp.MustCompile(`("?[A-Za-z_]\w*"?)\s*\.\s*"?[A-Za-z_]\w*"?`)
