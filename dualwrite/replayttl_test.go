package dualwrite

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// TestReplayTTLEveryStatementOfTextualBatch: a textual batch whose first statement has no TTL to
// shorten (USING TTL 0 means none; a bound TTL) still has each other TTL shortened by the time
// the entry waited, literal or bound.
func TestReplayTTLEveryStatementOfTextualBatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		stmt   string
		values []any
		want   []string // substrings of the replayed statement
		bound  map[int]int
	}{
		{"first TTL 0", "BEGIN BATCH INSERT INTO a (k) VALUES (1) USING TTL 0; INSERT INTO b (k) VALUES (1) USING TTL 200; APPLY BATCH", nil,
			[]string{"USING TTL 0;", "USING TTL 150;"}, nil},
		{"bound then literal", "BEGIN BATCH INSERT INTO a (k) VALUES (?) USING TTL ?; INSERT INTO b (k) VALUES (1) USING TTL 200; APPLY BATCH",
			[]any{1, 100}, []string{"USING TTL ?;", "USING TTL 150;"}, map[int]int{1: 50}},
	} {
		t.Run(c.name, func(t *testing.T) {
			log := NewMemLog()
			logged := time.Now()
			if err := log.Append(context.Background(), &Entry{Side: "secondary", Timestamp: logged.UnixMicro(), Logged: logged,
				Stmts: []Stmt{{Stmt: c.stmt, Values: c.values}}}); err != nil {
				t.Fatal(err)
			}
			recs, err := log.Pending(1)
			if err != nil || len(recs) != 1 {
				t.Fatal(recs, err)
			}
			got := remainingTTL(recs[0].Entry.Stmts[0], logged.Add(50*time.Second))
			for _, w := range c.want {
				if !strings.Contains(got.Stmt, w) {
					t.Errorf("replayed 50 s after logging: %s\nwant %q in it", got.Stmt, w)
				}
			}
			for i, w := range c.bound {
				if got.Values[i] != w {
					t.Errorf("bound TTL %d = %v, want %d", i, got.Values[i], w)
				}
			}
			if c.values != nil && recs[0].Entry.Stmts[0].Values[1] != 100 {
				t.Errorf("the log's own values were changed: %v", recs[0].Entry.Stmts[0].Values)
			}
		})
	}
}

type ttlSecs int16

type ttlMarshaler struct{ n int32 }

func (m ttlMarshaler) MarshalCQL(gocql.TypeInfo) ([]byte, error) {
	return []byte{byte(m.n >> 24), byte(m.n >> 16), byte(m.n >> 8), byte(m.n)}, nil
}

// A bound TTL is read as gocql marshals it for Cassandra's int marker: every value gocql sends is
// read as the TTL it sends, and what gocql refuses to marshal is not read (gocql refuses the
// write itself: it never reaches either side).
func TestBoundTTLReadAsGocqlMarshalsIt(t *testing.T) {
	n, s := 100, "100"
	for _, c := range []struct {
		v    any
		want int64 // -1: not read
	}{
		{100, 100}, {int8(100), 100}, {int16(100), 100}, {int32(100), 100}, {int64(100), 100},
		{uint(100), 100}, {uint8(100), 100}, {uint16(100), 100}, {uint32(100), 100}, {uint64(100), 100},
		{ttlSecs(100), 100}, {&n, 100}, {&s, 100}, {"100", 100}, {"+100", 100},
		{ttlMarshaler{100}, 100},
		{"abc", -1}, {"1h", -1}, {" 100", -1}, {"100.0", -1}, {1.5, -1}, {int64(1) << 40, -1}, {"99999999999", -1},
		{(*int)(nil), -1}, {gocql.UnsetValue, -1}, {true, -1},
	} {
		got, ok := ttlSeconds(Stmt{Stmt: "INSERT INTO kv (k) VALUES (1) USING TTL ?", Values: []any{c.v}}, ttlSpot{bind: 0})
		b, merr := gocql.Marshal(ttlType, c.v)
		sent := merr == nil && len(b) == 4
		switch {
		case c.want == -1 && ok:
			t.Errorf("TTL bound as %T %v read as %d, want not read (gocql sends %v, %v)", c.v, c.v, got, b, merr)
		case c.want != -1 && (!ok || got != c.want):
			t.Errorf("TTL bound as %T %v read as %d, %v; want %d", c.v, c.v, got, ok, c.want)
		}
		if ok != sent {
			t.Errorf("TTL bound as %T %v: read %v, but gocql marshals it: %v (%v)", c.v, c.v, ok, sent, merr)
		}
	}
}

// A write whose TTL gocql cannot marshal fails on both sides with gocql's MarshalError: the caller
// gets it, and nothing is kept for either side.
func TestUnmarshallableTTLRefusedNotKept(t *testing.T) {
	f := &fakeSides{}
	marshal := func(_ context.Context, op *writeOp) (bool, error) {
		if _, err := gocql.Marshal(ttlType, op.stmts[0].Values[2]); err != nil {
			return false, err
		}
		return true, nil
	}
	f.set(primarySide, marshal)
	f.set(secondarySide, marshal)
	l := NewMemLog()
	s := newFakeSession(t, f, WithReplayLog(l))
	defer s.Close()
	err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) USING TTL ?", 1, "v", "1h").Exec()
	var me gocql.MarshalError
	if !errors.As(err, &me) {
		t.Fatalf("TTL bound as \"1h\": %v, want gocql's MarshalError", err)
	}
	if n, _ := l.Backlog(); n != 0 {
		t.Fatalf("%d entries kept for a write gocql refused to marshal, want 0", n)
	}
}
