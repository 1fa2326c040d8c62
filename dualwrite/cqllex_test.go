package dualwrite

import (
	"strings"
	"testing"
)

// TestStatementDecisions: every decision taken on a statement, on the shapes that fooled the
// regexes (quoted names, literals, $$ blocks, comments, case, textual batches).
func TestStatementDecisions(t *testing.T) {
	type want struct {
		read, lwt, incr bool
		nd, ks, table   string
		ops             string // colOps as kind:column,…
		ttl             string // the TTL's text, or "" when none
		ttlBind         int
	}
	cases := []struct {
		stmt string
		want want
	}{
		{`UPDATE ks.t SET v = ? WHERE k = ? IF "Owner" = ?`, want{lwt: true, ks: "ks", table: "t"}},
		{`update ks.t set v = ? where k = ? if/**/"x" = ?`, want{lwt: true, ks: "ks", table: "t"}},
		{`UPDATE ks.t SET v = 'IF x = 1' WHERE k = ?`, want{ks: "ks", table: "t"}},
		{`UPDATE ks.t SET v = ? WHERE k = ? -- IF v = 1`, want{ks: "ks", table: "t"}},
		{`UPDATE ks.t SET v = ? WHERE k = ? /* IF v = 1 */`, want{ks: "ks", table: "t"}},
		{`UPDATE ks.t SET v = $$ IF now() $$ WHERE k = ?`, want{ks: "ks", table: "t"}},
		{`UPDATE ks.t SET "if" = ? WHERE k = ?`, want{ks: "ks", table: "t"}},
		{`DELETE FROM ks.t WHERE k = ? IF EXISTS`, want{lwt: true, ks: "ks", table: "t"}},
		{`CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)`, want{}},
		{`INSERT INTO "Ks"."My""Table" (k) VALUES (?)`, want{ks: "Ks", table: `My"Table`}},
		{`INSERT INTO KS.T (k) VALUES (?)`, want{ks: "ks", table: "t"}},
		{`insert into t (k, v) values (?, 'it''s now()')`, want{table: "t"}},
		{`INSERT INTO t (k, v) VALUES (?, NOW())`, want{nd: "NOW()", table: "t"}},
		{`INSERT INTO t (k, v) VALUES (?, "now"(1))`, want{table: "t"}},
		{`INSERT INTO t (k, v) VALUES (?, now ( ))`, want{nd: "now()", table: "t"}},
		{`INSERT INTO t (k, v) VALUES (?, CURRENT_TIMESTAMP())`, want{nd: "CURRENT_TIMESTAMP()", table: "t"}},
		{`UPDATE t SET d = to_date(current_timeuuid()) WHERE k = ?`, want{nd: "current_timeuuid()", table: "t"}},
		{`UPDATE t SET d = system.current_date() WHERE k = ?`, want{nd: "current_date()", table: "t"}},
		{`UPDATE t SET d = max_timeuuid(?), "current_time" = ? WHERE k = ?`, want{table: "t"}},
		{`UPDATE c SET "Hits" = "Hits" + 1 WHERE k = ?`, want{incr: true, table: "c"}},
		{`UPDATE c SET hits = hits - ? WHERE k = ?`, want{incr: true, table: "c"}},
		{`UPDATE c SET hits = "Hits" + 1 WHERE k = ?`, want{table: "c"}},
		{`UPDATE t SET l = l + ? WHERE k = ?`, want{incr: true, table: "t", ops: "0:l"}},
		{`UPDATE t SET l = l + ['a, b'] , m = m + {'x': 1} WHERE k = ?`, want{incr: true, table: "t", ops: "0:l"}},
		{`UPDATE t SET l = ['x'] + l WHERE k = ?`, want{table: "t", ops: "1:l"}},
		// Cassandra's shorthand column operations (Parser.g shorthandColumnOperation), the UDT
		// field form, and a negative literal operand.
		{`UPDATE c SET hits += 1 WHERE k = ?`, want{incr: true, table: "c"}},
		{`UPDATE c SET "Hits"-=? WHERE k = ?`, want{incr: true, table: "c"}},
		{`UPDATE c SET hits = hits + -1 WHERE k = ?`, want{incr: true, table: "c"}},
		{`UPDATE t SET l += ? WHERE k = ?`, want{incr: true, table: "t", ops: "0:l"}},
		{`UPDATE t SET v = ?, l += ['a'] WHERE k = ?`, want{incr: true, table: "t", ops: "0:l"}},
		{`UPDATE t SET s += {'a'}, m -= {'b'}, l -= ? WHERE k = ?`, want{incr: true, table: "t"}},
		{`UPDATE t SET u.f = ?, v = 'l += 1' WHERE k = ?`, want{table: "t"}},
		{`UPDATE t SET l = ? + l WHERE k = ?`, want{table: "t", ops: "1:l"}},
		{`UPDATE t SET l[2] = ?, v = 'l[1] = 2' WHERE k = ?`, want{table: "t", ops: "2:l"}},
		{`DELETE l[1], m['from'] FROM ks.t WHERE k = ?`, want{ks: "ks", table: "t", ops: "3:l,3:m"}},
		{`UPDATE ks.t USING TTL ? SET v = ? WHERE k = ?`, want{ks: "ks", table: "t", ttl: "?", ttlBind: 0}},
		{`INSERT INTO t (k, v) VALUES ('?', ?) USING TIMESTAMP ? AND TTL ?`, want{table: "t", ttl: "?", ttlBind: 2}},
		{`INSERT INTO t (k, v) VALUES (?, 'USING TTL 5') USING ttl 7`, want{table: "t", ttl: "7", ttlBind: -1}},
		{`INSERT INTO t (k, "ttl") VALUES (?, ?)`, want{table: "t"}},
		{`BEGIN UNLOGGED BATCH USING TIMESTAMP 5 INSERT INTO ks.a (k) VALUES (1); UPDATE ks.b SET c = c + 1 WHERE k = 1 IF c = 2; APPLY BATCH`,
			want{ks: "ks", table: "a", lwt: true, incr: true}},
		{`SELECT * FROM t WHERE v = 'x'`, want{read: true}},
		{`  select now() FROM t`, want{read: true}},
		{``, want{}},
		{`UPDATE`, want{}},
		{`DELETE FROM`, want{}},
	}
	for _, c := range cases {
		st := parseStatement(c.stmt)
		var ops []string
		for _, o := range st.colOps {
			ops = append(ops, string(rune('0'+o.kind))+":"+o.column)
		}
		got := want{read: st.read, lwt: st.lwt, incr: st.increments, nd: st.nonDeterministic, ks: st.keyspace, table: st.table,
			ops: strings.Join(ops, ","), ttlBind: -1}
		if st.hasTTL {
			got.ttl, got.ttlBind = c.stmt[st.ttl.start:st.ttl.end], st.ttl.bind
		}
		w := c.want
		if w.ttl == "" {
			w.ttlBind = -1
		}
		if got != w {
			t.Errorf("%s\n got %+v\nwant %+v", c.stmt, got, w)
		}
	}
}

// FuzzLexCQL: the lexer's invariants (cqllex.go) on any input, and the analyses never panic.
func FuzzLexCQL(f *testing.F) {
	for _, s := range []string{`UPDATE ks.t SET v = ? WHERE k = ? IF "Owner" = ?`, `'unterminated`, `"x""y"`, `$$a$$`, `/* open`,
		`-- c`, `x // y`, `1.5e-3 0xcafe ?:name`, `BEGIN BATCH INSERT INTO a.b (k) VALUES (1); APPLY BATCH`, "\xff\x00é",
		`BEGIN BATCH INSERT INTO a (k) VALUES (1) UPDATE b SET l = l + ['x'] WHERE k = 1 DELETE l[0] FROM c WHERE k = 1 APPLY BATCH`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := lexCQL(s)
		prev := 0
		for _, tk := range toks {
			if tk.start < prev || tk.end <= tk.start || tk.end > len(s) {
				t.Fatalf("%q: token %+v out of order or out of bounds (previous end %d)", s, tk, prev)
			}
			gap := s[prev:tk.start]
			if g := strings.TrimSpace(stripComments(gap)); g != "" {
				t.Fatalf("%q: text %q between tokens is not space or comment", s, gap)
			}
			prev = tk.end
		}
		// splitDML: statements in order, within the tokens, each starting at a DML keyword.
		end := 0
		for _, r := range splitDML(toks) {
			if r[0] < end || r[1] <= r[0] || r[1] > len(toks) {
				t.Fatalf("%q: statement range %v out of order or bounds (previous end %d)", s, r, end)
			}
			if k := toks[r[0]]; !k.is("insert") && !k.is("update") && !k.is("delete") {
				t.Fatalf("%q: statement starts at %q", s, k.text)
			}
			end = r[1]
		}
		_ = parseStatement(s)
		_ = mapKeyspaces(s, map[string]string{"ks": "other"})
		if got := mapKeyspaces(s, map[string]string{"zz_never": "x"}); got != s {
			t.Fatalf("mapKeyspaces with an unused map changed %q into %q", s, got)
		}
	})
}

// stripComments removes what lexCQL skips as comments from a gap between tokens.
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "--") || strings.HasPrefix(s[i:], "//"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			i += 2 + j + 2
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}
