package dualwrite

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// Defect 4: a counter update is decided from the table's schema, not from the Go type of the
// delta or the batch type: whatever its shape, a failed follower update is uncertain, never
// replayed (a replay would count it twice).
func TestCounterDecidedFromSchema(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "hits" {
			return kindCounter, nil
		}
		return kindOther, nil
	}
	delta := int64(1)
	for _, c := range []struct {
		name string
		run  func(s *Session) error
	}{
		{"unlogged batch", func(s *Session) error {
			b := s.NewBatch(gocql.UnloggedBatch)
			b.Query("UPDATE ks.c SET hits = hits + ? WHERE k = ?", 1, 1)
			return s.ExecuteBatch(b)
		}},
		{"delta bound as *int64", func(s *Session) error {
			return s.Query("UPDATE ks.c SET hits = hits + ? WHERE k = ?", &delta, 1).Exec()
		}},
		{"delta bound as a string", func(s *Session) error {
			return s.Query("UPDATE ks.c SET hits = hits + ? WHERE k = ?", "1", 1).Exec()
		}},
		{"quoted column", func(s *Session) error {
			return s.Query(`UPDATE ks.c SET "hits" = "hits" - ? WHERE k = ?`, "1", 1).Exec()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeSides{}
			f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary timed out") })
			l := NewMemLog()
			s := newFakeSession(t, f, WithReplayLog(l), withColumnKinds(kinds))
			defer s.Close()
			if err := c.run(s); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.Backlog(); n != 0 {
				t.Fatalf("a counter update entered the replay log (%d entries): replayed, it counts twice", n)
			}
			if u := l.UncertainEntries(); len(u) != 1 {
				t.Fatalf("uncertain entries %d, want the counter update", len(u))
			}
		})
	}
}

// Defect 5: a conditional write on a quoted column is an LWT (the leader decides; never replayed).
func TestQuotedColumnConditionIsLWT(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("secondary timed out") })
	s := newFakeSession(t, f)
	defer s.Close()
	for _, stmt := range []string{
		`UPDATE ks.t SET v = ? WHERE k = ? IF "Owner" = ?`,
		`UPDATE ks.t SET v = ? WHERE k = ? if/*c*/"Owner" = ?`,
		"UPDATE ks.t SET v = ? WHERE k = ? IF\n\t\"Owner\" IN (?, ?)",
	} {
		if !s.statement(stmt).lwt {
			t.Errorf("%q: not recognised as a conditional write", stmt)
		}
	}
	if _, err := s.Query(`UPDATE ks.t SET v = ? WHERE k = ? IF "Owner" = ?`, 1, 2, "me").MapScanCAS(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Backlog(); n != 0 {
		t.Fatalf("a conditional write entered the replay log (%d entries)", n)
	}
}

// Defect 6: the remaining TTL of a replay is counted from when the entry was logged (Cassandra
// expires a cell TTL seconds after it arrives), not from the caller-settable client timestamp.
func TestReplayTTLFromLogTime(t *testing.T) {
	now := time.Now()
	l := NewMemLog()
	e := &Entry{Side: "secondary", Timestamp: now.Add(-50 * time.Minute).UnixMicro(), Logged: now,
		Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k, v) VALUES (?, ?) USING TTL 3600", Values: []any{1, "v"}},
			{Stmt: "INSERT INTO ks.t (k, v) VALUES (?, ?) USING TTL ?", Values: []any{1, "v", 3600}}}}
	if err := l.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	recs, _ := l.Pending(1)
	st := remainingTTL(recs[0].Entry.Stmts[0], now.Add(time.Second))
	if want := "INSERT INTO ks.t (k, v) VALUES (?, ?) USING TTL 3599"; st.Stmt != want {
		t.Errorf("replayed one second later as %q, want %q", st.Stmt, want)
	}
	st = remainingTTL(recs[0].Entry.Stmts[1], now.Add(time.Second))
	if st.Values[2] != 3599 {
		t.Errorf("bound TTL replayed one second later as %v, want 3599", st.Values[2])
	}
}

// Review of issue 22's fixes: in a single-side phase counter-ness only decides the timestamp, so
// a write never waits for (nor depends on) a schema lookup there; a lookup that fails is not
// retried by every write.
func TestSingleSidePhaseNeedsNoSchema(t *testing.T) {
	var lookups atomic.Int64
	f := &fakeSides{}
	s := newFakeSession(t, f, WithPhase(PrimaryOnly), withColumnKinds(func(context.Context, string, string, string) (columnKind, error) {
		lookups.Add(1)
		return kindOther, errors.New("system_schema unreadable")
	}))
	defer s.Close()
	for i := 0; i < 3; i++ {
		if err := s.Query("UPDATE ks.c SET hits = hits + ? WHERE k = ?", "1", i).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	if n := lookups.Load(); n != 0 {
		t.Fatalf("%d schema lookups for writes in primary-only, want none", n)
	}
}
