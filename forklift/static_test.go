package forklift

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/codec"
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

func staticTable(t testing.TB, resolver string) *table {
	return testTable(t, resolver, nil,
		cql.Column{Name: "s", Type: "text", Kind: "static"},
		cql.Column{Name: "ss", Type: "set<text>", Kind: "static", Shape: cql.MultiSet},
		cql.Column{Name: "v", Type: "text", Kind: "regular"})
}

func i64b(v int64) cql.Raw { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
func i32b(v int32) cql.Raw { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

// scanned is one row as selectRange returns it: token, pk, ck, then (value, writetime, ttl) per
// column of the table (s, ss, v); a nil value is a null.
func scanned(t *table, pk, ck []byte, s, ss, v []byte, wt int64, vttl int32) *scanBuf {
	b := t.newScanBuf()
	set := func(i int, r cql.Raw) { b.vals[i] = r }
	set(0, i64b(1))
	set(1, pk)
	set(2, ck)
	if s != nil {
		set(3, s)
		set(4, i64b(wt))
		set(5, nil)
	}
	if ss != nil {
		set(6, codec.JoinCollection([][]byte{ss}))
		set(7, codec.JoinCollection([][]byte{i64b(wt)}))
		set(8, codec.JoinCollection([][]byte{i32b(0)}))
	}
	if v != nil {
		set(9, v)
		set(10, i64b(wt+2))
		set(11, i32b(vttl))
	}
	return b
}

func readParts(t *testing.T, tb *table, bufs ...*scanBuf) []*merge.Partition {
	t.Helper()
	var pr partitionReader
	var out []*merge.Partition
	for _, b := range bufs {
		tok, pk, row, err := tb.decodeRow(b)
		if err != nil {
			t.Fatal(err)
		}
		if done, _ := pr.add(tb, tok, pk, row, 0); done != nil {
			out = append(out, done)
		}
	}
	if p, _ := pr.flush(); p != nil {
		out = append(out, p)
	}
	return out
}

// Statics are written per partition, never per row: a static-only partition (read with a null
// clustering key) and a static set are written with the partition key alone, and a permanent static
// never shares an INSERT (and so a row marker) with a row's expiring cells.
func TestStaticsAreWrittenPerPartition(t *testing.T) {
	tb := staticTable(t, "lww")
	pk, ck := []byte{0, 0, 0, 1}, []byte{0, 0, 0, 2}
	parts := readParts(t, tb,
		scanned(tb, pk, nil, []byte("x"), []byte("a"), nil, 5, 0),                 // static-only partition
		scanned(tb, []byte{0, 0, 0, 3}, ck, []byte("y"), nil, []byte("z"), 5, 60), // static + row
	)
	if len(parts) != 2 {
		t.Fatalf("%d partitions, want 2", len(parts))
	}
	for _, p := range parts {
		for _, st := range tb.statements(p, 1, 0) {
			for _, a := range st.args {
				if r, ok := a.(cql.Raw); ok && r == nil {
					t.Errorf("%s: a null key value in %v", st.text, st.args)
				}
			}
			hasS := strings.Contains(st.text, `"s"`) || strings.Contains(st.text, `"ss"`)
			hasCK := strings.Contains(st.text, `"ck"`)
			if hasS && hasCK {
				t.Errorf("a static written per row: %s", st.text)
			}
			if hasS && strings.Contains(st.text, `"v"`) {
				t.Errorf("a static shares a statement with a row's cells: %s", st.text)
			}
		}
	}
}
