package forklift

import (
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/codec"
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// writtenList replays the statements that write list column l as Cassandra applies them, in order:
// "l = ?" replaces, "l = l + ?" appends; each element keeps the statement's TTL.
func writtenList(t *testing.T, stmts []stmt) (vals []string, ttls []int) {
	t.Helper()
	for _, st := range stmts {
		set := strings.Contains(st.text, `SET "l" = ?`) || strings.Contains(st.text, `"l") VALUES`)
		add := strings.Contains(st.text, `"l" = "l" + ?`)
		if !set && !add {
			continue
		}
		var ttl int
		var val []byte
		for i, a := range st.args {
			if v, ok := a.(int); ok {
				ttl = v
			}
			if r, ok := a.(cql.Raw); ok && i >= 0 && len(r) > 4 && (val == nil) {
				if es, err := codec.SplitCollection(r); err == nil && len(es) > 0 && len(es[0]) == 1 {
					val = r
				}
			}
		}
		es, _ := codec.SplitCollection(val)
		if set {
			vals, ttls = nil, nil
		}
		for _, e := range es {
			vals = append(vals, string(e))
			ttls = append(ttls, ttl)
		}
	}
	return vals, ttls
}

// List elements keep their own TTLs: [a] permanent at ts 10, then + [b] with TTL 60 at ts 20 is
// copied as a permanent a followed by b expiring in 60 s, in that order (and the reverse).
func TestListElementsKeepTheirTTLs(t *testing.T) {
	tb := testTable(t, "lww", nil, cql.Column{Name: "l", Type: "list<text>", Kind: "regular", Shape: cql.MultiList})
	for _, tc := range []struct{ ttlA, ttlB int32 }{{0, 60}, {60, 0}, {30, 60}} {
		p := &merge.Partition{Key: [][]byte{{0, 0, 0, 1}}, Rows: []merge.Row{{Clustering: [][]byte{{0, 0, 0, 1}}, Columns: []merge.Column{
			{Name: "l", Kind: merge.List, Present: true, Elems: []merge.Elem{
				{Key: []byte{0}, Cell: merge.Cell{Value: []byte("a"), WriteTime: 10, TTL: tc.ttlA}},
				{Key: []byte{1}, Cell: merge.Cell{Value: []byte("b"), WriteTime: 20, TTL: tc.ttlB}},
			}}}}}}
		vals, ttls := writtenList(t, tb.statements(p, 1, 0))
		if strings.Join(vals, ",") != "a,b" || len(ttls) != 2 || ttls[0] != int(tc.ttlA) || ttls[1] != int(tc.ttlB) {
			t.Errorf("[a ttl %d, b ttl %d] written as %v with TTLs %v", tc.ttlA, tc.ttlB, vals, ttls)
		}
	}
}
