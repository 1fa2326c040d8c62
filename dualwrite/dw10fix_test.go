package dualwrite

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// TestWholeListWritesRefusedOnNonFrozenListsOnly: a whole-list write (UPDATE … SET l = …, INSERT
// naming l) is refused in the dual phases when l is a non-frozen list (the schema says "list<…>"),
// in a query, a gocql batch or a textual batch, and allowed on a frozen<list>, a set, a map, a
// scalar, l = null, and in the single-side phases.
func TestWholeListWritesRefusedOnNonFrozenListsOnly(t *testing.T) {
	kinds := func(_ context.Context, _, _, column string) (columnKind, error) {
		if column == "tags" {
			return kindList, nil // list<text>; "frozen" (frozen<list<text>>), "s" (set), "m" (map) are not
		}
		return kindOther, nil
	}
	refused := []string{
		"UPDATE ks.t SET tags = ? WHERE k = ?",
		"UPDATE ks.t SET v = 1, tags = ['a'] WHERE k = ?",
		"INSERT INTO ks.t (k, tags) VALUES (?, ?)",
		"INSERT INTO ks.t (k, \"tags\") VALUES (?, ['a'])",
		"BEGIN BATCH INSERT INTO ks.a (k) VALUES (1); UPDATE ks.t SET tags = ['a'] WHERE k = 1; APPLY BATCH",
		"BEGIN BATCH INSERT INTO ks.a (k) VALUES (1) INSERT INTO ks.t (k, tags) VALUES (1, ['a']) APPLY BATCH",
	}
	allowed := []string{
		"UPDATE ks.t SET frozen = ? WHERE k = ?",
		"UPDATE ks.t SET s = {'a'}, m = {'a': 1}, v = ? WHERE k = ?",
		"INSERT INTO ks.t (k, frozen, s, m) VALUES (?, ?, ?, ?)",
		"UPDATE ks.t SET tags = null WHERE k = ?",
		"DELETE tags FROM ks.t WHERE k = ?",
	}
	f := &fakeSides{}
	s := newFakeSession(t, f, withColumnKinds(kinds))
	defer s.Close()
	for _, stmt := range refused {
		if err := s.Query(stmt, 1, []string{"a"}).Exec(); !errors.Is(err, ErrNotIdempotent) {
			t.Errorf("%q: %v, want ErrNotIdempotent", stmt, err)
		}
		b := s.NewBatch(gocql.LoggedBatch)
		b.Query("INSERT INTO ks.a (k) VALUES (?)", 1)
		b.Query(stmt, 1, []string{"a"})
		if err := s.ExecuteBatch(b); !errors.Is(err, ErrNotIdempotent) {
			t.Errorf("batch with %q: %v, want ErrNotIdempotent", stmt, err)
		}
	}
	f.mu.Lock()
	n := len(f.seen[primarySide]) + len(f.seen[secondarySide])
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d side writes of refused statements", n)
	}
	for _, stmt := range allowed {
		if err := s.Query(stmt, 1, 2, 3, 4).Exec(); err != nil {
			t.Errorf("%q: %v, want accepted", stmt, err)
		}
	}
	for _, ph := range []Phase{PrimaryOnly, SecondaryOnly} {
		if err := s.SetPhase(ph); err != nil {
			t.Fatal(err)
		}
		if err := s.Query(refused[0], []string{"a"}, 1).Exec(); err != nil {
			t.Errorf("%v: %q: %v, want accepted (one side: nothing is replayed)", ph, refused[0], err)
		}
	}
}

// TestSplitDMLBatchStatements: a textual batch is split at each top-level INSERT/UPDATE/DELETE
// keyword (';' is optional in Cassandra's grammar), never at one inside a literal, a quoted name,
// a comment or a $$ block; each statement's LWT and list operations are its own.
func TestSplitDMLBatchStatements(t *testing.T) {
	cases := []struct {
		stmt string
		want []string // first token of each statement and its last token
		lwt  bool
		ops  int
	}{
		{`INSERT INTO t (k) VALUES (1)`, []string{"insert..)"}, false, 0},
		{`BEGIN BATCH INSERT INTO a (k) VALUES (1) UPDATE b SET l = l + ['x'] WHERE k = 1 APPLY BATCH`,
			[]string{"insert..)", "update..1"}, false, 1},
		{`BEGIN BATCH INSERT INTO a (k, v) VALUES (1, 'UPDATE b SET l = l + [1]') DELETE l[0] FROM b WHERE k = 1; APPLY BATCH`,
			[]string{"insert..)", "delete..1"}, false, 1},
		{`BEGIN BATCH UPDATE a SET "update" = 1 WHERE k = 1 /* DELETE l[0] FROM b */ INSERT INTO b (k) VALUES ($$ DELETE $$) APPLY BATCH`,
			[]string{"update..1", "insert..)"}, false, 0},
		{`BEGIN BATCH INSERT INTO a (k) VALUES (1) -- UPDATE b SET l = l + [1]
			UPDATE b SET v = 1 WHERE k = 1 IF v = 2 APPLY BATCH`, []string{"insert..)", "update..2"}, true, 0},
		{`BEGIN UNLOGGED BATCH USING TIMESTAMP 5 INSERT INTO a (k) VALUES (1);;UPDATE b SET c = c + 1 WHERE k = 1;APPLY BATCH;`,
			[]string{"insert..)", "update..1"}, false, 0},
	}
	for _, c := range cases {
		toks := lexCQL(c.stmt)
		var got []string
		for _, r := range splitDML(toks) {
			got = append(got, toks[r[0]].text+".."+toks[r[1]-1].text)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s\n got %v\nwant %v", c.stmt, got, c.want)
		}
		st := parseStatement(c.stmt)
		if st.lwt != c.lwt || len(st.colOps) != c.ops {
			t.Errorf("%s: lwt %v, %d list ops; want %v, %d", c.stmt, st.lwt, len(st.colOps), c.lwt, c.ops)
		}
	}
}

// TestAsyncUnencodableRefusedBeforeSending: under Async a write whose values the replay log
// cannot keep is refused (ErrUnencodable) before either side is sent it; an encodable write's
// values are encoded once, and the entry kept for a failed follower carries the same values as
// one encoded at append time.
func TestAsyncUnencodableRefusedBeforeSending(t *testing.T) {
	f := &fakeSides{}
	var mu sync.Mutex
	var sent [][]any // the values of each request the secondary was sent (live copy, then replays)
	f.set(secondarySide, func(_ context.Context, op *writeOp) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, op.stmts[0].Values)
		return false, errors.New("timeout")
	})
	s := newFakeSession(t, f, WithPolicy(Async), withReplayBackoffMax(10*time.Millisecond))
	defer s.Close()
	b := s.NewBatch(gocql.LoggedBatch)
	b.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", 1, "ok")
	b.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", 2, selfMarshaled("x"))
	for name, exec := range map[string]func() error{
		"query": func() error { return s.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", 1, selfMarshaled("x")).Exec() },
		"batch": func() error { return s.ExecuteBatch(b) },
	} {
		if err := exec(); !errors.Is(err, ErrUnencodable) {
			t.Errorf("%s: %v, want ErrUnencodable", name, err)
		}
	}
	f.mu.Lock()
	n := len(f.seen[primarySide])
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("the leader was sent %d unencodable writes", n)
	}
	vals := []any{7, []string{"a", "b"}, map[string]int{"x": 1}, []byte("blob")}
	if err := s.Query("INSERT INTO ks.t (k, l, m, b) VALUES (?, ?, ?, ?)", vals...).Exec(); err != nil {
		t.Fatal(err)
	}
	want := Entry{Stmts: []Stmt{{Stmt: "x", Values: vals}}}
	raw, err := encodeEntry(&want)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := sent
		mu.Unlock()
		if len(got) >= 2 { // the live copy, then a replay of the kept entry
			if !reflect.DeepEqual(got[1], back.Stmts[0].Values) {
				t.Errorf("replayed values %#v, want %#v", got[1], back.Stmts[0].Values)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kept entry was never replayed (%d requests)", len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAcceptedTablesKeyedBySideAndQualifiedName: what a side accepted is known per side and per
// keyspace-qualified table as that side was sent it (after the keyspace map), the same whether the
// statement is an application's write (forSide) or a replay log entry (verbatim).
func TestAcceptedTablesKeyedBySideAndQualifiedName(t *testing.T) {
	s := newFakeSession(t, &fakeSides{}, WithKeyspaceMap(map[string]string{"app": "app_eu"}))
	defer s.Close()
	live := func(sd side) func(string) string { return func(st string) string { return s.forSide(sd, st) } }
	verbatim := func(st string) string { return st }
	s.accepted(secondarySide, &writeOp{stmts: []Stmt{{Stmt: "INSERT INTO app.users (id) VALUES (?)"}}}, live(secondarySide))
	s.accepted(primarySide, &writeOp{stmts: []Stmt{{Stmt: "BEGIN BATCH INSERT INTO app.a (k) VALUES (1) INSERT INTO app.b (k) VALUES (1) APPLY BATCH"}}}, live(primarySide))
	cases := []struct {
		sd   side
		stmt string
		form func(string) string
		want failClass
	}{
		{secondarySide, "INSERT INTO app.users (id) VALUES (?)", live(secondarySide), failTransient},
		{secondarySide, "INSERT INTO app_eu.users (id) VALUES (?)", verbatim, failTransient}, // its replay log entry
		{secondarySide, "UPDATE app.users SET v = 1 WHERE id = 1", live(secondarySide), failTransient},
		{secondarySide, "INSERT INTO audit.users (id) VALUES (?)", live(secondarySide), failPermanent},
		{secondarySide, "INSERT INTO users (id) VALUES (?)", live(secondarySide), failPermanent},
		{primarySide, "INSERT INTO app.users (id) VALUES (?)", live(primarySide), failPermanent},
		{primarySide, "INSERT INTO app.b (k) VALUES (?)", live(primarySide), failTransient}, // second table of a textual batch
		{primarySide, "INSERT INTO app_eu.b (k) VALUES (?)", live(primarySide), failPermanent},
	}
	for _, c := range cases {
		if got := s.classify(c.sd, []Stmt{{Stmt: c.stmt}}, c.form, unauthorizedErr{}); got != c.want {
			t.Errorf("%v: %q: class %d, want %d", c.sd, c.stmt, got, c.want)
		}
	}
}

// TestTrimTTLsForAQueuedCopy: a follower copy sent d after the leader took the write carries
// each TTL minus d (rounded up, at least 1), as a replay of its entry would; under a second, or
// without a TTL, the statements are sent as they are (the same slice, no copy).
func TestTrimTTLsForAQueuedCopy(t *testing.T) {
	taken := time.Unix(1_000_000, 0)
	stmts := []Stmt{
		{Stmt: "INSERT INTO ks.t (k) VALUES (?) USING TTL 10", Values: []any{1}},
		{Stmt: "UPDATE ks.t USING TTL ? SET v = ? WHERE k = ?", Values: []any{100, "v", 1}},
		{Stmt: "INSERT INTO ks.t (k) VALUES (?)", Values: []any{1}},
		{Stmt: "INSERT INTO ks.t (k) VALUES (?) USING TTL 2", Values: []any{1}},
	}
	if got := trimTTLs(stmts, taken, taken.Add(999*time.Millisecond)); &got[0] != &stmts[0] {
		t.Errorf("under a second: copied")
	}
	noTTL := stmts[2:3]
	if got := trimTTLs(noTTL, taken, taken.Add(time.Hour)); &got[0] != &noTTL[0] {
		t.Errorf("no TTL: copied")
	}
	got := trimTTLs(stmts, taken, taken.Add(3500*time.Millisecond))
	want := []string{"INSERT INTO ks.t (k) VALUES (?) USING TTL 7", "UPDATE ks.t USING TTL ? SET v = ? WHERE k = ?",
		"INSERT INTO ks.t (k) VALUES (?)", "INSERT INTO ks.t (k) VALUES (?) USING TTL 1"}
	for i := range want {
		if got[i].Stmt != want[i] || got[i].Expiry != 0 {
			t.Errorf("statement %d: %q (expiry %d), want %q", i, got[i].Stmt, got[i].Expiry, want[i])
		}
	}
	if got[1].Values[0] != 97 || stmts[1].Values[0] != 100 || stmts[0].Stmt != "INSERT INTO ks.t (k) VALUES (?) USING TTL 10" {
		t.Errorf("bound TTL sent %v (want 97), original %v (want 100, untouched)", got[1].Values[0], stmts[1].Values[0])
	}
}
