package merge

// A tiny reference model for the tests: Cassandra's cell rules written out again from the Java
// source independently of reconcile.go, a store that applies a Write the way Cassandra would, and a
// read that shows what a CQL SELECT with writetime() and ttl() would.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// refReconcile transliterates Cells.resolveRegular (cassandra-5.0): returns true when left is kept.
func refReconcile(left, right Cell) bool {
	const noDeletionTime = math.MaxInt64
	ldt := func(c Cell) int64 {
		switch {
		case c.Deleted:
			return int64(c.TTL) // our stand-in for a tombstone's local deletion time
		case c.TTL > 0:
			return int64(c.TTL)
		}
		return noDeletionTime
	}
	if left.WriteTime != right.WriteTime {
		return left.WriteTime > right.WriteTime
	}
	l, r := ldt(left), ldt(right)
	lx, rx := l != noDeletionTime, r != noDeletionTime
	if lx || rx {
		if lx != rx {
			return lx
		}
		lt, rt := !(left.TTL > 0 && !left.Deleted), !(right.TTL > 0 && !right.Deleted) // !isExpiring
		if lt != rt {
			return lt
		}
		if l != r {
			return l > r
		}
	}
	return bytes.Compare(left.Value, right.Value) >= 0
}

// cassandraSame: the fields Cassandra compares are equal (it could not tell the two apart).
func cassandraSame(a, b Cell) bool {
	return a.WriteTime == b.WriteTime && a.Deleted == b.Deleted && bytes.Equal(a.Value, b.Value) &&
		(!hasDeletionTime(a) || a.TTL == b.TTL)
}

type colDef struct {
	name string
	kind Kind
}

var schema = []colDef{{"a", Simple}, {"b", Simple}, {"s", Set}, {"m", Map}, {"l", List}, {"pos", Simple}, {"at", Simple}}

// store is a destination table as Cassandra holds it: every cell version that survived
// reconciliation, tombstones included.
type store struct {
	key  [][]byte
	rows map[string]*storeRow
}

type storeRow struct {
	ck   [][]byte
	cols map[string]*storeCol
}

type storeCol struct {
	kind  Kind
	cell  *Cell
	elems []Elem
}

func ckString(ck [][]byte) string {
	var sb strings.Builder
	for _, c := range ck {
		fmt.Fprintf(&sb, "%d:%x,", len(c), c)
	}
	return sb.String()
}

func newStore(p *Partition, key [][]byte) *store {
	st := &store{key: key, rows: map[string]*storeRow{}}
	if p != nil {
		st.apply(p)
	}
	return st
}

func (st *store) row(ck [][]byte) *storeRow {
	k := ckString(ck)
	r := st.rows[k]
	if r == nil {
		r = &storeRow{ck: ck, cols: map[string]*storeCol{}}
		st.rows[k] = r
	}
	return r
}

// apply writes p's cells the way Cassandra would (Cells.reconcile per cell; a list write "l = ?"
// at t is a collection tombstone at t-1 and the new elements; a collection deletion at t removes
// every element written at or before t).
func (st *store) apply(p *Partition) {
	if p == nil {
		return
	}
	for _, r := range p.Rows {
		sr := st.row(r.Clustering)
		for _, c := range r.Columns {
			if !c.Present {
				continue
			}
			sc := sr.cols[c.Name]
			if sc == nil {
				sc = &storeCol{kind: c.Kind}
				sr.cols[c.Name] = sc
			}
			if c.Kind == Simple {
				if sc.cell == nil || !refReconcile(*sc.cell, c.Cell) {
					cc := c.Cell
					sc.cell = &cc
				}
				continue
			}
			if len(c.Elems) == 0 && c.Cell.Deleted {
				sc.dropUpTo(c.Cell.WriteTime)
				continue
			}
			if c.Kind == List && len(c.Elems) > 0 {
				sc.dropUpTo(c.Elems[0].Cell.WriteTime - 1)
				for _, e := range c.Elems {
					sc.elems = append(sc.elems, Elem{Key: append([]byte("w"), e.Key...), Cell: e.Cell})
				}
				continue
			}
			for _, e := range c.Elems {
				found := false
				for i := range sc.elems {
					if bytes.Equal(sc.elems[i].Key, e.Key) {
						found = true
						if !refReconcile(sc.elems[i].Cell, e.Cell) {
							sc.elems[i].Cell = e.Cell
						}
					}
				}
				if !found {
					sc.elems = append(sc.elems, e)
				}
			}
		}
	}
}

func (sc *storeCol) dropUpTo(t int64) {
	kept := sc.elems[:0:0]
	for _, e := range sc.elems {
		if e.Cell.WriteTime > t {
			kept = append(kept, e)
		}
	}
	sc.elems = kept
}

// read is what a SELECT returns: live cells and elements only, rows with at least one live column,
// in clustering-key order, columns in schema order (absent ones with Present false).
func (st *store) read() *Partition {
	keys := make([]string, 0, len(st.rows))
	for k := range st.rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := &Partition{Key: st.key}
	for _, k := range keys {
		sr := st.rows[k]
		row := Row{Clustering: sr.ck}
		live := false
		for _, def := range schema {
			col := Column{Name: def.name, Kind: def.kind}
			if sc := sr.cols[def.name]; sc != nil {
				if def.kind == Simple {
					if sc.cell != nil && !sc.cell.Deleted {
						col.Present, col.Cell = true, *sc.cell
					}
				} else {
					for _, e := range sc.elems {
						if !e.Cell.Deleted {
							col.Elems = append(col.Elems, e)
						}
					}
					col.Present = len(col.Elems) > 0
				}
			}
			live = live || col.Present
			row.Columns = append(row.Columns, col)
		}
		if live {
			p.Rows = append(p.Rows, row)
		}
	}
	return p
}

// view is a partition as a reader sees it: "row/column[/element]" -> value and TTL, timestamps
// left out. A list shows as its values in order.
func view(p *Partition) map[string]string {
	out := map[string]string{}
	if p == nil {
		return out
	}
	for _, r := range p.Rows {
		ck := ckString(r.Clustering)
		for _, c := range r.Columns {
			if !c.Present {
				continue
			}
			switch c.Kind {
			case Simple:
				if !c.Cell.Deleted {
					out[ck+"/"+c.Name] = fmt.Sprintf("%x ttl=%d", c.Cell.Value, c.Cell.TTL)
				}
			case List:
				var vs []string
				for _, e := range c.Elems {
					if !e.Cell.Deleted {
						vs = append(vs, hex.EncodeToString(e.Cell.Value))
					}
				}
				if len(vs) > 0 {
					out[ck+"/"+c.Name] = strings.Join(vs, ",")
				}
			default:
				for _, e := range c.Elems {
					if !e.Cell.Deleted {
						out[ck+"/"+c.Name+"/"+hex.EncodeToString(e.Key)] = fmt.Sprintf("%x ttl=%d", e.Cell.Value, e.Cell.TTL)
					}
				}
			}
		}
	}
	return out
}

func diffViews(got, want map[string]string) string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, fmt.Sprintf("%s: got %q want %q", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: got %q, want nothing", k, v))
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// ---- generators ----

// intner is what the generators draw from: *rand.Rand in property tests, the fuzzer's bytes in
// fuzz targets.
type intner interface{ Intn(n int) int }

// byteSource draws from fuzz input; once exhausted it returns zeros.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	if s.i >= len(s.b) {
		return 0
	}
	v := int(s.b[s.i])
	s.i++
	return v % n
}

type genOpts struct {
	tombstones bool // cells may be Deleted (reads never return them)
	lists      bool
	simpleOnly bool // no collection columns
	maxRows    int
}

func i64(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

// ttlStep spaces generated TTLs ExpiryTolerance apart: two drawn TTLs are equal or different
// versions, so the exact model holds (expiry_test.go covers TTLs inside the tolerance).
const ttlStep = int32(ExpiryTolerance / time.Second)

func genCell(r intner, o genOpts) Cell {
	c := Cell{WriteTime: int64(1 + r.Intn(4))}
	switch r.Intn(6) {
	case 0:
		c.TTL = int32(1+r.Intn(3)) * ttlStep
	}
	if o.tombstones && r.Intn(6) == 0 {
		c.Deleted, c.Value = true, nil
		if r.Intn(3) == 0 {
			c.TTL = int32(r.Intn(3)) * ttlStep
		} else {
			c.TTL = 0
		}
		return c
	}
	vals := []string{"", "a", "b", "ab", "\xff"}
	c.Value = []byte(vals[r.Intn(len(vals))])
	return c
}

// genPartition draws a partition of the test schema. side names list paths ("S"/"D"), which like
// timeuuids never match between clusters.
func genPartition(r intner, o genOpts, side string) *Partition {
	p := &Partition{Key: [][]byte{[]byte("k")}}
	n := r.Intn(o.maxRows + 1)
	used := map[int]bool{}
	for i := 0; i < n; i++ {
		ckv := r.Intn(5)
		if used[ckv] {
			continue
		}
		used[ckv] = true
		row := Row{Clustering: [][]byte{{byte(ckv)}}}
		for _, def := range schema {
			col := Column{Name: def.name, Kind: def.kind}
			if r.Intn(4) == 0 || (o.simpleOnly && def.kind != Simple) {
				row.Columns = append(row.Columns, col)
				continue
			}
			switch def.kind {
			case Simple:
				col.Present = true
				col.Cell = genCell(r, o)
				if def.name == "pos" || def.name == "at" {
					if !col.Cell.Deleted {
						col.Cell.Value = i64(int64(r.Intn(4)) - 1)
					}
				}
			case Set, Map:
				for _, k := range []string{"x", "y", "z"} {
					if r.Intn(2) == 0 {
						c := genCell(r, o)
						if def.kind == Set && !c.Deleted {
							c.Value = nil
						}
						col.Elems = append(col.Elems, Elem{Key: []byte(k), Cell: c})
					}
				}
				col.Present = len(col.Elems) > 0
			case List:
				if !o.lists {
					break
				}
				m := r.Intn(3)
				ts := int64(1 + r.Intn(4))
				for j := 0; j < m; j++ {
					col.Elems = append(col.Elems, Elem{Key: []byte(fmt.Sprintf("%s%d", side, j)), Cell: Cell{Value: []byte{byte('p' + r.Intn(2))}, WriteTime: ts + int64(r.Intn(2))}})
				}
				col.Present = len(col.Elems) > 0
			}
			row.Columns = append(row.Columns, col)
		}
		live := false
		for _, c := range row.Columns {
			live = live || c.Present
		}
		if live || o.tombstones {
			p.Rows = append(p.Rows, row) // a read returns no row without a live column
		}
	}
	return p
}

// realistic: what a CQL read can return (no tombstones); dst nil when it drew no rows.
func genPair(r intner, lists bool) (src, dst *Partition) {
	o := genOpts{lists: lists, maxRows: 4}
	src = genPartition(r, o, "S")
	dst = genPartition(r, o, "D")
	if len(dst.Rows) == 0 {
		dst = nil
	}
	return src, dst
}

func clonePartition(p *Partition) *Partition {
	if p == nil {
		return nil
	}
	q := &Partition{Key: p.Key, Rows: make([]Row, len(p.Rows))}
	for i, r := range p.Rows {
		nr := Row{Clustering: r.Clustering, Columns: make([]Column, len(r.Columns))}
		for j, c := range r.Columns {
			nc := c
			nc.Cell.Value = append([]byte(nil), c.Cell.Value...)
			nc.Elems = append([]Elem(nil), c.Elems...)
			nr.Columns[j] = nc
		}
		q.Rows[i] = nr
	}
	return q
}

// deepEqualPartition compares two partitions field by field (nil and empty bytes alike).
func deepEqualPartition(a, b *Partition) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	if !SameKey(a.Key, b.Key) || len(a.Rows) != len(b.Rows) {
		return false
	}
	for i := range a.Rows {
		ra, rb := a.Rows[i], b.Rows[i]
		if !SameKey(ra.Clustering, rb.Clustering) || len(ra.Columns) != len(rb.Columns) {
			return false
		}
		for j := range ra.Columns {
			ca, cb := ra.Columns[j], rb.Columns[j]
			if ca.Name != cb.Name || ca.Kind != cb.Kind || ca.Present != cb.Present || !cellEqual(ca.Cell, cb.Cell) || len(ca.Elems) != len(cb.Elems) {
				return false
			}
			for k := range ca.Elems {
				if !bytes.Equal(ca.Elems[k].Key, cb.Elems[k].Key) || !cellEqual(ca.Elems[k].Cell, cb.Elems[k].Cell) {
					return false
				}
			}
		}
	}
	return true
}
