package dualwrite

import (
	"context"
	"strings"
	"testing"
	"time"
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
