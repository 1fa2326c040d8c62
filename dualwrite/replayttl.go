package dualwrite

import (
	"reflect"
	"regexp"
	"strconv"
	"time"
)

// A write with USING TTL n, replayed later with TTL n again, would live longer on the follower
// than on the side that took it. The log stores each statement's absolute expiry (the write's
// client timestamp + n seconds) and replay sends the remaining TTL, never less than 1 s: an
// expired cell still shadows older data (it turns into a tombstone), so an expired write is
// replayed with TTL 1 rather than dropped, and TTL 0 would mean "no TTL".

// ttlRE finds the TTL of USING TTL n / USING TIMESTAMP t AND TTL n (a literal or a ? marker).
var ttlRE = regexp.MustCompile(`(?i)\b(?:USING|AND)\s+TTL\s+(\?|\d+)`)

// ttlSpot says where a statement's TTL is: the byte span of its literal in the text, or the
// index of its bind marker among the statement's values (-1 when a literal).
type ttlSpot struct {
	start, end int // of the literal or the '?'
	bind       int
}

// findTTL returns where stmt's TTL is, if it has one.
func findTTL(stmt string) (ttlSpot, bool) {
	m := ttlRE.FindStringSubmatchIndex(stmt)
	if m == nil || inLiteral(stmt, m[2]) {
		return ttlSpot{}, false
	}
	sp := ttlSpot{start: m[2], end: m[3], bind: -1}
	if stmt[m[2]:m[3]] == "?" {
		sp.bind = countMarkers(stmt[:m[2]])
	}
	return sp, true
}

// countMarkers counts the ? bind markers in s outside string literals and quoted names.
func countMarkers(s string) int {
	n := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
		}
	}
	return n
}

// inLiteral reports whether position i of s is inside a string literal or quoted name.
func inLiteral(s string, i int) bool {
	var quote byte
	for j := 0; j < i && j < len(s); j++ {
		c := s[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		}
	}
	return quote != 0
}

// ttlSeconds returns the TTL a statement was sent with, from its text or its bound value.
func ttlSeconds(st Stmt, sp ttlSpot) (int64, bool) {
	if sp.bind < 0 {
		n, err := strconv.ParseInt(st.Stmt[sp.start:sp.end], 10, 64)
		return n, err == nil
	}
	if sp.bind >= len(st.Values) || st.Values[sp.bind] == nil {
		return 0, false
	}
	v := reflect.ValueOf(st.Values[sp.bind])
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(v.Uint()), true
	}
	return 0, false
}

// expiryOf returns the absolute expiry (µs) of st written at client timestamp ts (µs), or 0 when
// it has no TTL (or TTL 0, which means none).
func expiryOf(st Stmt, ts int64) int64 {
	sp, ok := findTTL(st.Stmt)
	if !ok {
		return 0
	}
	ttl, ok := ttlSeconds(st, sp)
	if !ok || ttl <= 0 {
		return 0
	}
	if ts == 0 {
		ts = time.Now().UnixMicro()
	}
	return ts + ttl*1e6
}

// remainingTTL returns st as it must be replayed at now: its TTL (literal or bound) replaced by
// the seconds left until its expiry, at least 1. A statement without an expiry is returned as is.
func remainingTTL(st Stmt, now time.Time) Stmt {
	if st.Expiry == 0 {
		return st
	}
	sp, ok := findTTL(st.Stmt)
	if !ok {
		return st
	}
	left := (st.Expiry - now.UnixMicro() + 999_999) / 1e6 // round up: never shorter than the original
	left = max(left, 1)
	out := st
	if sp.bind < 0 {
		out.Stmt = st.Stmt[:sp.start] + strconv.FormatInt(left, 10) + st.Stmt[sp.end:]
		return out
	}
	if sp.bind < len(st.Values) {
		out.Values = append([]any(nil), st.Values...)
		out.Values[sp.bind] = int(left)
	}
	return out
}
