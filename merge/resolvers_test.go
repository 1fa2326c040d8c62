package merge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func c(v string, ts int64) Cell { return Cell{Value: []byte(v), WriteTime: ts} }

func row(ck string, cols ...Column) Row {
	return Row{Clustering: [][]byte{[]byte(ck)}, Columns: cols}
}

func simple(name string, cell Cell) Column {
	return Column{Name: name, Kind: Simple, Present: true, Cell: cell}
}

func absent(name string) Column { return Column{Name: name, Kind: Simple} }

func coll(name string, kind Kind, elems ...Elem) Column {
	return Column{Name: name, Kind: kind, Present: len(elems) > 0, Elems: elems}
}

func el(k, v string, ts int64) Elem { return Elem{Key: []byte(k), Cell: c(v, ts)} }

func part(rows ...Row) *Partition { return &Partition{Key: [][]byte{[]byte("pk")}, Rows: rows} }

func TestReconcileTable(t *testing.T) {
	tomb := func(ts int64) Cell { return Cell{WriteTime: ts, Deleted: true} }
	exp := func(v string, ts int64, ttl int32) Cell { return Cell{Value: []byte(v), WriteTime: ts, TTL: ttl} }
	for _, tc := range []struct {
		name string
		a, b Cell
		want Cell
	}{
		{"newer wins", c("a", 2), c("b", 1), c("a", 2)},
		{"newer wins whatever the value", c("a", 1), c("b", 2), c("b", 2)},
		{"tie: greater value", c("a", 1), c("b", 1), c("b", 1)},
		{"tie: unsigned bytes", c("\x01", 1), c("\xff", 1), c("\xff", 1)},
		{"tie: longer prefix wins", c("ab", 1), c("a", 1), c("ab", 1)},
		{"tie: tombstone beats live", c("z", 1), tomb(1), tomb(1)},
		{"tie: expiring beats live", c("z", 1), exp("a", 1, 10), exp("a", 1, 10)},
		{"tie: tombstone beats expiring", exp("z", 1, 10), tomb(1), tomb(1)},
		{"tie: later expiry wins", exp("z", 1, 10), exp("a", 1, 20), exp("a", 1, 20)},
		{"tie: same expiry, greater value", exp("a", 1, 10), exp("b", 1, 10), exp("b", 1, 10)},
		{"newer live beats older tombstone", c("a", 2), tomb(1), c("a", 2)},
		{"nil and empty are the same", Cell{WriteTime: 1}, c("", 1), Cell{WriteTime: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reconcile(tc.a, tc.b); !cassandraSame(got, tc.want) {
				t.Errorf("Reconcile(a, b) = %+v, want %+v", got, tc.want)
			}
			if got := Reconcile(tc.b, tc.a); !cassandraSame(got, tc.want) {
				t.Errorf("Reconcile(b, a) = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    map[string]any
		want    error
		mention string
	}{
		{"nope", nil, ErrUnknownResolver, `"nope"`},
		{"lww", map[string]any{"colum": "x"}, ErrBadOption, `lww: option "colum"`},
		{"newest-by", nil, ErrBadOption, `newest-by: option "column" is required`},
		{"newest-by", map[string]any{"column": 3}, ErrBadOption, `option "column" must be`},
		{"quarantine", map[string]any{"resolver": "lww"}, ErrBadOption, "a rule is required"},
		{"quarantine", map[string]any{"resolver": "nope", "max-conflicts": 1}, ErrUnknownResolver, `option "resolver"`},
		{"quarantine", map[string]any{"resolver": "lww", "max-conflicts": -1}, ErrBadOption, `"max-conflicts"`},
		{"quarantine", map[string]any{"resolver": "newest-by", "options": map[string]any{}, "columns": []any{"a"}}, ErrBadOption, `newest-by: option "column"`},
		{"viewing-history", map[string]any{"position": "p", "time": "t", "cap": 5}, ErrBadOption, "exactly one of"},
		{"viewing-history", map[string]any{"title": "x", "position": "p", "time": "t", "cap": 0}, ErrBadOption, `"cap"`},
		{"viewing-history", map[string]any{"title": "x", "position": "p", "time": "t", "cap": 2.5}, ErrBadOption, `"cap"`},
	} {
		_, err := New(tc.name, tc.opts)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("New(%q, %v) = %v, want %v mentioning %s", tc.name, tc.opts, err, tc.want, tc.mention)
		}
	}
	if _, err := New("viewing-history", map[string]any{"title-key": 0, "position": "p", "time": "t", "cap": float64(3)}); err != nil {
		t.Errorf("float64 cap from a JSON decoder: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering lww twice did not panic")
			}
		}()
		Register("lww", newLWW)
	}()
}

// resolveCase is one table test: a resolver, two sides, and the exact Write and conflict columns.
type resolveCase struct {
	name      string
	resolver  string
	opts      map[string]any
	src, dst  *Partition
	write     *Partition
	conflicts []string // column names, in order
	err       error
}

func runCases(t *testing.T, cases []resolveCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.resolver+"/"+tc.name, func(t *testing.T) {
			r := mustNew(t, tc.resolver, tc.opts)
			res, err := r.Resolve(tc.src, tc.dst)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !deepEqualPartition(res.Write, tc.write) {
				t.Errorf("write:\n got %s\nwant %s", dump(res.Write), dump(tc.write))
			}
			var cols []string
			for _, c := range res.Conflicts {
				cols = append(cols, c.Column+":"+c.Kept)
			}
			if strings.Join(cols, ",") != strings.Join(tc.conflicts, ",") {
				t.Errorf("conflicts = %v, want %v", cols, tc.conflicts)
			}
		})
	}
}

func TestLWWAndUnion(t *testing.T) {
	tomb := Cell{WriteTime: 5, Deleted: true}
	runCases(t, []resolveCase{
		{name: "blind copy", resolver: "lww", src: part(row("1", simple("a", c("x", 1)))), dst: nil,
			write: part(row("1", simple("a", c("x", 1))))},
		{name: "newer source cell keeps its timestamp, older one is left out", resolver: "lww",
			src:       part(row("1", simple("a", c("new", 5)), simple("b", c("old", 1)))),
			dst:       part(row("1", simple("a", c("was", 4)), simple("b", c("kept", 2)))),
			write:     part(row("1", simple("a", c("new", 5)))),
			conflicts: []string{"a:source", "b:destination"}},
		{name: "held exactly is left out", resolver: "lww",
			src: part(row("1", simple("a", c("x", 3)))), dst: part(row("1", simple("a", c("x", 3)))), write: nil},
		{name: "absent column is older", resolver: "lww",
			src: part(row("1", simple("a", c("x", 1)), absent("b"))), dst: part(row("1", absent("a"), simple("b", c("y", 9)))),
			write: part(row("1", simple("a", c("x", 1))))},
		{name: "set union of different members is written above both", resolver: "lww",
			src:       part(row("1", coll("s", Set, el("a", "", 3), el("b", "", 3)))),
			dst:       part(row("1", coll("s", Set, el("a", "", 4), el("c", "", 7)))),
			write:     part(row("1", coll("s", Set, el("b", "", 8)))),
			conflicts: []string{"s:merged"}},
		{name: "set superset newer than destination keeps timestamps", resolver: "lww",
			src:       part(row("1", coll("s", Set, el("a", "", 5), el("b", "", 6)))),
			dst:       part(row("1", coll("s", Set, el("a", "", 4)))),
			write:     part(row("1", coll("s", Set, el("a", "", 5), el("b", "", 6)))),
			conflicts: []string{"s:source"}},
		{name: "map per key by writetime", resolver: "lww",
			src:       part(row("1", coll("m", Map, el("k1", "s1", 5), el("k2", "s2", 1)))),
			dst:       part(row("1", coll("m", Map, el("k1", "d1", 4), el("k2", "d2", 2)))),
			write:     part(row("1", coll("m", Map, el("k1", "s1", 6)))),
			conflicts: []string{"m:merged"}},
		{name: "list whole by newest element", resolver: "lww",
			src:       part(row("1", coll("l", List, el("t1", "a", 3), el("t2", "b", 5)))),
			dst:       part(row("1", coll("l", List, el("u1", "c", 4)))),
			write:     part(row("1", coll("l", List, el("t1", "a", 5), el("t2", "b", 5)))),
			conflicts: []string{"l:source"}},
		{name: "list tie: greater serialised list, above both", resolver: "lww",
			src:       part(row("1", coll("l", List, el("t1", "b", 4)))),
			dst:       part(row("1", coll("l", List, el("u1", "a", 4)))),
			write:     part(row("1", coll("l", List, el("t1", "b", 5)))),
			conflicts: []string{"l:source"}},
		{name: "same list values on other paths are left out", resolver: "lww",
			src: part(row("1", coll("l", List, el("t1", "a", 9)))), dst: part(row("1", coll("l", List, el("u1", "a", 4)))), write: nil},
		{name: "lww lets a newer tombstone win", resolver: "lww",
			src: part(row("1", simple("a", tomb))), dst: part(row("1", simple("a", c("x", 4)))),
			write: part(row("1", simple("a", tomb))), conflicts: []string{"a:source"}},
		{name: "union keeps the live cell over a newer tombstone, above it", resolver: "union",
			src: part(row("1", simple("a", c("x", 4)))), dst: part(row("1", simple("a", tomb))),
			write: part(row("1", simple("a", c("x", 6)))), conflicts: []string{"a:source"}},
		{name: "union keeps rows of both sides", resolver: "union",
			src:   part(row("2", simple("a", c("x", 1))), row("1", simple("a", c("y", 1)))),
			dst:   part(row("1", simple("a", c("y", 1))), row("3", simple("a", c("z", 1)))),
			write: part(row("2", simple("a", c("x", 1))))},
	})
}

func TestPreferAndNewestBy(t *testing.T) {
	ts := func(n int64, wt int64) Cell { return Cell{Value: i64(n), WriteTime: wt} }
	runCases(t, []resolveCase{
		{name: "source over a newer destination cell: above both", resolver: "prefer-source",
			src:       part(row("1", simple("a", c("s", 1)), simple("b", c("same", 1)))),
			dst:       part(row("1", simple("a", c("d", 7)), simple("b", c("same", 1)))),
			write:     part(row("1", simple("a", c("s", 8)))),
			conflicts: []string{"a:source"}},
		{name: "destination-only cells, elements and rows are deleted", resolver: "prefer-source",
			src: part(row("1", simple("a", c("s", 5)), absent("b"), coll("m", Map, el("k", "v", 2)))),
			dst: part(row("1", simple("a", c("s", 5)), simple("b", c("d", 3)), coll("m", Map, el("k", "v", 2), el("j", "w", 4))),
				row("2", simple("a", c("x", 9)), simple("b", c("y", 2)))),
			write: part(row("1", simple("b", Cell{Deleted: true, WriteTime: 4}), coll("m", Map, Elem{Key: []byte("j"), Cell: Cell{Deleted: true, WriteTime: 5}})),
				row("2", simple("a", Cell{Deleted: true, WriteTime: 10}), simple("b", Cell{Deleted: true, WriteTime: 10}))),
			conflicts: []string{"m:source"}},
		{name: "destination kept as it is", resolver: "prefer-destination",
			src: part(row("1", simple("a", c("s", 9))), row("2", simple("a", c("t", 9)))), dst: part(row("1", simple("a", c("d", 1)))),
			write: nil, conflicts: []string{"a:destination"}},
		{name: "partition the destination lacks is copied", resolver: "prefer-destination",
			src: part(row("1", simple("a", c("s", 9)))), dst: nil, write: part(row("1", simple("a", c("s", 9))))},
		{name: "larger updated_at wins the whole row", resolver: "newest-by", opts: map[string]any{"column": "updated_at", "type": "timestamp"},
			src:       part(row("1", simple("updated_at", ts(200, 3)), simple("a", c("s", 3)), absent("b"))),
			dst:       part(row("1", simple("updated_at", ts(100, 9)), simple("a", c("d", 9)), simple("b", c("d", 9)))),
			write:     part(row("1", simple("updated_at", ts(200, 10)), simple("a", c("s", 10)), simple("b", Cell{Deleted: true, WriteTime: 10}))),
			conflicts: []string{"updated_at:source", "a:source"}},
		{name: "signed compare: negative is smaller", resolver: "newest-by", opts: map[string]any{"column": "updated_at", "type": "timestamp"},
			src:       part(row("1", simple("updated_at", ts(-1, 9)), simple("a", c("s", 9)))),
			dst:       part(row("1", simple("updated_at", ts(1, 1)), simple("a", c("d", 1)))),
			write:     nil,
			conflicts: []string{"updated_at:destination", "a:destination"}},
		{name: "equal application values fall back to lww", resolver: "newest-by", opts: map[string]any{"column": "updated_at", "type": "timestamp"},
			src:       part(row("1", simple("updated_at", ts(5, 1)), simple("a", c("s", 9)))),
			dst:       part(row("1", simple("updated_at", ts(5, 1)), simple("a", c("d", 2)))),
			write:     part(row("1", simple("a", c("s", 9)))),
			conflicts: []string{"a:source"}},
		{name: "missing column is an error", resolver: "newest-by", opts: map[string]any{"column": "updated_at", "type": "timestamp"},
			src: part(row("1", simple("a", c("s", 9)))), dst: part(row("1", simple("a", c("d", 1)))), err: ErrMissingColumn},
	})
}

func TestViewingHistory(t *testing.T) {
	opts := map[string]any{"title-key": 0, "position": "pos", "time": "at", "cap": 2}
	entry := func(title string, pos, at, wt int64) Row {
		return row(title, simple("pos", Cell{Value: i64(pos), WriteTime: wt}), simple("at", Cell{Value: i64(at), WriteTime: wt}))
	}
	del := func(title string, wt int64) Row {
		return row(title, simple("pos", Cell{Deleted: true, WriteTime: wt}), simple("at", Cell{Deleted: true, WriteTime: wt}))
	}
	runCases(t, []resolveCase{
		{name: "cap applies to the source alone", resolver: "viewing-history", opts: opts,
			src:   part(entry("a", 10, 100, 1), entry("b", 10, 300, 1), entry("c", 10, 200, 1)),
			write: part(entry("b", 10, 300, 1), entry("c", 10, 200, 1))},
		{name: "largest position per title, latest time carried, cap deletes the oldest", resolver: "viewing-history", opts: opts,
			src: part(entry("a", 50, 100, 5), entry("b", 10, 400, 5)),
			dst: part(entry("a", 20, 300, 7), entry("c", 5, 200, 7)),
			// b (400) and a (300, the destination's later time) are the two newest, c goes; for a the
			// source's position 50 wins, written above both (8), and the destination already
			// holds the time 300, so that cell is left out.
			write:     part(entry("b", 10, 400, 5), row("a", simple("pos", Cell{Value: i64(50), WriteTime: 8})), del("c", 8)),
			conflicts: []string{"pos:source"}},
	})
	col := map[string]any{"title": "title", "position": "pos", "time": "at", "cap": 5}
	logRow := func(ck, title string, pos, at, wt int64) Row {
		return row(ck, simple("title", c(title, wt)), simple("pos", Cell{Value: i64(pos), WriteTime: wt}), simple("at", Cell{Value: i64(at), WriteTime: wt}))
	}
	runCases(t, []resolveCase{
		{name: "title column: rows of one title collapse to the largest position", resolver: "viewing-history", opts: col,
			src: part(logRow("t1", "x", 10, 100, 1), logRow("t3", "x", 30, 300, 1)),
			dst: part(logRow("t2", "x", 20, 200, 2)),
			write: part(logRow("t3", "x", 30, 300, 1),
				row("t2", simple("title", Cell{Deleted: true, WriteTime: 3}), simple("pos", Cell{Deleted: true, WriteTime: 3}), simple("at", Cell{Deleted: true, WriteTime: 3})))},
		{name: "missing position column", resolver: "viewing-history", opts: col,
			src: part(row("t1", simple("title", c("x", 1)))), err: ErrMissingColumn},
	})
}

func TestQuarantine(t *testing.T) {
	src := part(row("1", simple("plan", c("gold", 5)), simple("a", c("x", 5))))
	dst := part(row("1", simple("plan", c("basic", 3)), simple("a", c("y", 3))))
	q := mustNew(t, "quarantine", map[string]any{"resolver": "lww", "columns": []any{"plan"}})
	res, err := q.Resolve(src, dst)
	if err != nil || res.Write != nil || res.Quarantine == nil || len(res.Conflicts) != 2 {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	if !strings.Contains(res.Quarantine.Reason, `column "plan" differs`) {
		t.Errorf("reason = %q", res.Quarantine.Reason)
	}
	line, err := QuarantineJSONLine("ks.members", res.Quarantine)
	if err != nil || !strings.HasSuffix(string(line), "}\n") || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("line %q, %v", line, err)
	}
	var rec quarantineRecord
	if err := json.Unmarshal(line, &rec); err != nil || rec.Table != "ks.members" || rec.Key[0] != "706b" || rec.Source.Rows[0].Columns[0].Cell.Value != "676f6c64" {
		t.Fatalf("record %+v, %v", rec, err)
	}
	mc := mustNew(t, "quarantine", map[string]any{"resolver": "lww", "max-conflicts": 1})
	if res, _ := mc.Resolve(src, dst); res.Quarantine == nil || !strings.Contains(res.Quarantine.Reason, "2 conflicting cells > max-conflicts 1") {
		t.Errorf("max-conflicts: %+v", res)
	}
	ok := mustNew(t, "quarantine", map[string]any{"resolver": "lww", "max-conflicts": 2})
	if res, _ := ok.Resolve(src, dst); res.Quarantine != nil || res.Write == nil {
		t.Errorf("within max-conflicts: %+v", res)
	}
	if res, _ := q.Resolve(src, nil); res.Quarantine != nil || res.Write != src {
		t.Errorf("no destination: %+v", res)
	}
}
