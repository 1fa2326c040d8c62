package dualwrite

import "strings"

// A small CQL lexer: every decision dualwrite takes about a statement (the table written, LWT,
// counter increments, list operations, non-deterministic functions, the TTL, keyspace names to
// map) is taken on its tokens, never on its raw text, so that nothing inside a string literal,
// a $$ literal, a quoted identifier or a comment is ever read as code.
//
// Invariants (checked by FuzzLexCQL):
//   - lexCQL never panics and never loops; its tokens are in order, do not overlap, and lie
//     within the input;
//   - text outside tokens is only white space and comments (-- …, // … to the end of the line,
//     /* … */);
//   - an unterminated literal, quoted name or comment runs to the end of the input (one token, or
//     nothing for a comment): what follows an unbalanced quote is never code.

// tokKind is the class of a CQL token.
type tokKind uint8

const (
	tokIdent  tokKind = iota // unquoted name or keyword; text lowercased
	tokQuoted                // "quoted name"; text unescaped, case kept
	tokString                // '…' or $$…$$ literal; text not kept
	tokNumber                // 12, 1.5e3, 0xcafe, and the digit-led pieces of a UUID literal
	tokMarker                // ? or :name
	tokPunct                 // any other character, or one of != <= >= += -=
)

// token is one token of a statement: its class, its text as dualwrite compares it, and its byte
// span in the statement.
type token struct {
	kind       tokKind
	text       string
	start, end int
}

// is reports whether t is the unquoted keyword kw (lower case).
func (t token) is(kw string) bool { return t.kind == tokIdent && t.text == kw }

// punct reports whether t is the punctuation p.
func (t token) punct(p string) bool { return t.kind == tokPunct && t.text == p }

// name reports whether t names a column, table or keyspace (quoted or not).
func (t token) name() bool { return t.kind == tokIdent || t.kind == tokQuoted }

func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || (c >= '0' && c <= '9') }

// lexCQL splits stmt into tokens.
func lexCQL(stmt string) []token {
	toks := make([]token, 0, 16)
	n := len(stmt)
	for i := 0; i < n; {
		c := stmt[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case (c == '-' && i+1 < n && stmt[i+1] == '-') || (c == '/' && i+1 < n && stmt[i+1] == '/'):
			for i < n && stmt[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && stmt[i+1] == '*':
			end := strings.Index(stmt[i+2:], "*/")
			if end < 0 {
				i = n
			} else {
				i += 2 + end + 2
			}
		case c == '\'':
			j := i + 1
			for j < n {
				if stmt[j] == '\'' {
					if j+1 < n && stmt[j+1] == '\'' { // '' is an escaped quote
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			toks = append(toks, token{kind: tokString, start: i, end: j})
			i = j
		case c == '$' && i+1 < n && stmt[i+1] == '$':
			end := strings.Index(stmt[i+2:], "$$")
			j := n
			if end >= 0 {
				j = i + 2 + end + 2
			}
			toks = append(toks, token{kind: tokString, start: i, end: j})
			i = j
		case c == '"':
			var b strings.Builder
			j := i + 1
			for j < n {
				if stmt[j] == '"' {
					if j+1 < n && stmt[j+1] == '"' { // "" is an escaped quote
						b.WriteByte('"')
						j += 2
						continue
					}
					j++
					break
				}
				b.WriteByte(stmt[j])
				j++
			}
			toks = append(toks, token{kind: tokQuoted, text: b.String(), start: i, end: j})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < n && isIdentPart(stmt[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: strings.ToLower(stmt[i:j]), start: i, end: j})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < n && (isIdentPart(stmt[j]) || stmt[j] == '.' ||
				((stmt[j] == '+' || stmt[j] == '-') && (stmt[j-1]|0x20) == 'e' && !strings.HasPrefix(stmt[i:j], "0x"))) {
				j++
			}
			toks = append(toks, token{kind: tokNumber, text: stmt[i:j], start: i, end: j})
			i = j
		case c == '?':
			toks = append(toks, token{kind: tokMarker, text: "?", start: i, end: i + 1})
			i++
		case c == ':' && i+1 < n && isIdentStart(stmt[i+1]):
			j := i + 2
			for j < n && isIdentPart(stmt[j]) {
				j++
			}
			toks = append(toks, token{kind: tokMarker, text: stmt[i:j], start: i, end: j})
			i = j
		case c == ':' && i+1 < n && stmt[i+1] == '"':
			// A named bind marker with a quoted name (:"K"): a marker like any other, so every later
			// marker keeps its position.
			j := i + 2
			for j < n {
				if stmt[j] == '"' {
					if j+1 < n && stmt[j+1] == '"' {
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			toks = append(toks, token{kind: tokMarker, text: stmt[i:j], start: i, end: j})
			i = j
		case (c == '!' || c == '<' || c == '>' || c == '+' || c == '-') && i+1 < n && stmt[i+1] == '=':
			// += and -= are Cassandra's shorthand column operations (c += x is c = c + x).
			toks = append(toks, token{kind: tokPunct, text: stmt[i : i+2], start: i, end: i + 2})
			i += 2
		default:
			toks = append(toks, token{kind: tokPunct, text: stmt[i : i+1], start: i, end: i + 1})
			i++
		}
	}
	return toks
}
