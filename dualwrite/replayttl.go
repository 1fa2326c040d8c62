package dualwrite

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// A write with USING TTL n, replayed later with TTL n again, would live longer on the follower
// than on the side that took it. The log stores each statement's absolute expiry (the time the
// entry was logged + n seconds) and replay sends the remaining TTL, never less than 1 s: an
// expired cell still shadows older data (it turns into a tombstone), so an expired write is
// replayed with TTL 1 rather than dropped, and TTL 0 would mean "no TTL".

// ttlSpot says where a statement's TTL is: the byte span of its literal in the text, or the
// index of its bind marker among the statement's values (-1 when a literal).
type ttlSpot struct {
	start, end int // of the literal or the marker
	bind       int
}

// findTTLs returns where each of stmt's TTLs is, in the order of the text (a textual batch has
// one per statement).
func findTTLs(stmt string) []ttlSpot {
	if !containsFold(stmt, "ttl") {
		return nil
	}
	return parseStatement(stmt).ttls
}

// containsFold reports whether s contains the lower-case ASCII word w in any case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && s[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// ttlType is the CQL type of a USING TTL bind marker (Cassandra's [ttl] marker is an int).
var ttlType = gocql.NewNativeType(4, gocql.TypeInt, "")

// ttlSeconds returns the TTL a statement was sent with, from its text or its bound value.
//
// A bound TTL is read exactly as gocql marshals it for Cassandra's int marker (gocql.Marshal): any
// Go integer type (named ones too) within int32, a string of decimal digits ("100", "+100": gocql's
// strconv.ParseInt(v, 10, 32)), a pointer to one of those, a gocql.Marshaler's encoding. What
// gocql cannot marshal (a float, "1h", "abc", out of range) is not read: gocql refuses that write
// with its own MarshalError before it reaches either side, as it would without dualwrite, so it is
// never applied, never kept and never replayed (a marshal error is a refusal, classifyFailure).
// A nil pointer or gocql.UnsetValue is no TTL, as in Cassandra.
func ttlSeconds(st Stmt, sp ttlSpot) (int64, bool) {
	if sp.bind < 0 {
		n, err := strconv.ParseInt(st.Stmt[sp.start:sp.end], 10, 64)
		return n, err == nil
	}
	if sp.bind >= len(st.Values) || st.Values[sp.bind] == nil {
		return 0, false
	}
	switch v := st.Values[sp.bind].(type) { // the common cases, without gocql.Marshal's allocation
	case int:
		return int64(v), v >= math.MinInt32 && v <= math.MaxInt32
	case int32:
		return int64(v), true
	case int64:
		return v, v >= math.MinInt32 && v <= math.MaxInt32
	}
	b, err := gocql.Marshal(ttlType, st.Values[sp.bind])
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return int64(int32(binary.BigEndian.Uint32(b))), true
}

// refTTL returns the first of spots whose TTL can be read and is set (> 0), with that TTL: the
// one an entry's Expiry is counted from.
func refTTL(st Stmt, spots []ttlSpot) (int, int64, bool) {
	for i, sp := range spots {
		if ttl, ok := ttlSeconds(st, sp); ok && ttl > 0 {
			return i, ttl, true
		}
	}
	return 0, 0, false
}

// expiryOf returns the absolute expiry (µs) of st logged at logged (µs), or 0 when it has no TTL
// (or TTL 0, which means none). Cassandra expires a cell TTL seconds after it arrives, whatever its
// client timestamp (which the caller may set far in the past): the base is when the entry was
// logged, just after the write reached the side that took it (never earlier: a replayed cell
// never dies before the original).
func expiryOf(st Stmt, logged int64) int64 {
	_, ttl, ok := refTTL(st, findTTLs(st.Stmt))
	if !ok {
		return 0
	}
	if logged == 0 {
		logged = time.Now().UnixMicro()
	}
	return logged + ttl*1e6
}

// remainingTTL returns st as it must be replayed at now: each TTL (literal or bound) replaced by
// the seconds left until its expiry, at least 1. A statement without an expiry is returned as is.
//
// st.Expiry is the expiry of the statement's reference TTL (refTTL); every TTL of a textual batch
// was logged at the same moment, so that moment is st.Expiry minus the reference TTL, and each
// TTL's expiry is that moment plus its own TTL.
func remainingTTL(st Stmt, now time.Time) Stmt {
	if st.Expiry == 0 {
		return st
	}
	spots := findTTLs(st.Stmt)
	ref, refSecs, ok := refTTL(st, spots)
	if !ok {
		return st
	}
	logged := st.Expiry - refSecs*1e6
	out := st
	var b strings.Builder
	last, copied := 0, false
	for i, sp := range spots {
		ttl, ok := ttlSeconds(st, sp)
		if !ok || ttl <= 0 {
			continue // no TTL (0 means none) or one that cannot be read: sent as it was
		}
		expiry := logged + ttl*1e6
		if i == ref {
			expiry = st.Expiry
		}
		left := (expiry - now.UnixMicro() + 999_999) / 1e6 // round up: never shorter than the original
		left = max(left, 1)
		if sp.bind < 0 {
			b.WriteString(st.Stmt[last:sp.start])
			b.WriteString(strconv.FormatInt(left, 10))
			last = sp.end
			continue
		}
		if sp.bind < len(st.Values) {
			if !copied { // st.Values is the log's: never written
				out.Values, copied = append([]any(nil), st.Values...), true
				out.enc = nil // the encoding of the values as they were
			}
			out.Values[sp.bind] = int(left)
		}
	}
	if last > 0 {
		b.WriteString(st.Stmt[last:])
		out.Stmt = b.String()
	}
	return out
}

// trimTTLs returns stmts as a follower copy sent at now, later than the leader took the write at
// taken, must carry them: each USING TTL shortened by the time since taken, exactly as a replay
// of the write's entry (logged at taken) would send it (remainingTTL). Cassandra counts a TTL
// from the write's arrival, so time spent in the async queue must not lengthen the follower's
// cell. stmts itself, without a copy, when less than a second has passed (remainingTTL rounds up:
// no TTL would change) or none has a TTL.
func trimTTLs(stmts []Stmt, taken, now time.Time) []Stmt {
	if taken.IsZero() || now.Sub(taken) < time.Second {
		return stmts
	}
	var out []Stmt
	for i, st := range stmts {
		st.Expiry = expiryOf(st, taken.UnixMicro())
		if st.Expiry == 0 {
			continue
		}
		if out == nil {
			out = append([]Stmt(nil), stmts...)
		}
		out[i] = remainingTTL(st, now)
		out[i].Expiry = 0 // a live request, not an entry
	}
	if out == nil {
		return stmts
	}
	return out
}
