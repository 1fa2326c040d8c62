package forklift

import (
	"encoding/binary"
	"fmt"

	"github.com/globalcloud/islands/internal/codec"
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// scanBuf holds one row's raw values as selectRange lays them out.
type scanBuf struct {
	vals []cql.Raw
	ptrs []any
}

func (t *table) newScanBuf() *scanBuf {
	n := 1 + t.nkey + t.nck + 3*len(t.cols)
	b := &scanBuf{vals: make([]cql.Raw, n), ptrs: make([]any, n)}
	for i := range b.vals {
		b.ptrs[i] = &b.vals[i]
	}
	return b
}

// decodeRow turns one scanned row into its token, partition key and merge.Row. Multi-cell
// collections become one element per cell, each with its own writetime and TTL, which Cassandra 5.0
// reports as lists; a null cell (or an empty collection) is an absent column.
func (t *table) decodeRow(b *scanBuf) (token int64, pk [][]byte, row merge.Row, err error) {
	v := b.vals
	token = codec.Int64(v[0])
	pk = make([][]byte, t.nkey)
	for i := range pk {
		pk[i] = v[1+i]
	}
	row.Clustering = make([][]byte, t.nck)
	for i := range row.Clustering {
		row.Clustering[i] = v[1+t.nkey+i]
	}
	base := 1 + t.nkey + t.nck
	row.Columns = make([]merge.Column, len(t.cols))
	for i, c := range t.cols {
		val, wt, ttl := v[base+3*i], v[base+3*i+1], v[base+3*i+2]
		col := &row.Columns[i]
		col.Name = c.Name
		col.Kind = kindOf(c.Shape)
		if val == nil {
			continue
		}
		col.Present = true
		if col.Kind == merge.Simple {
			col.Cell = merge.Cell{Value: val, WriteTime: codec.Int64(wt), TTL: codec.Int32(ttl)}
			continue
		}
		if col.Elems, err = decodeElems(col.Kind, val, wt, ttl); err != nil {
			return 0, nil, row, fmt.Errorf("column %s: %w", c.Name, err)
		}
		if len(col.Elems) == 0 {
			col.Present = false
		}
	}
	return token, pk, row, nil
}

func kindOf(s cql.Shape) merge.Kind {
	switch s {
	case cql.MultiSet:
		return merge.Set
	case cql.MultiMap:
		return merge.Map
	case cql.MultiList:
		return merge.List
	}
	return merge.Simple
}

func decodeElems(kind merge.Kind, val, wtb, ttlb []byte) ([]merge.Elem, error) {
	wts, err := codec.Int64s(wtb)
	if err != nil {
		return nil, err
	}
	ttls, err := codec.Int32s(ttlb)
	if err != nil {
		return nil, err
	}
	var keys, values [][]byte
	switch kind {
	case merge.Map:
		keys, values, err = codec.SplitMap(val)
	case merge.Set:
		keys, err = codec.SplitCollection(val)
	case merge.List:
		values, err = codec.SplitCollection(val)
		keys = make([][]byte, len(values))
		for i := range keys {
			keys[i] = binary.BigEndian.AppendUint32(nil, uint32(i))
		}
	}
	if err != nil {
		return nil, err
	}
	if len(wts) != len(keys) || len(ttls) != len(keys) {
		return nil, fmt.Errorf("%d elements but %d writetimes and %d ttls", len(keys), len(wts), len(ttls))
	}
	out := make([]merge.Elem, len(keys))
	for i := range keys {
		out[i] = merge.Elem{Key: keys[i], Cell: merge.Cell{WriteTime: wts[i], TTL: ttls[i]}}
		if kind == merge.Set {
			out[i].Cell.Value = []byte{}
		} else {
			out[i].Cell.Value = values[i]
		}
	}
	return out, nil
}

// partitionReader groups a token-ordered row stream into partitions. In a table with static
// columns every CQL row carries the partition's statics: the reader takes them, once, from the
// partition's first row into its static row (merge.Row.Static, first in Rows) and keeps only the
// regular columns in the other rows; a static-only partition (read as one row with a null
// clustering key) is its static row alone.
type partitionReader struct {
	cur    *merge.Partition
	token  int64
	curAt  int64 // Unix second cur's first row was decoded
	doneAt int64 // the same for the partition add or flush last returned
}

// add takes one decoded row, read at the Unix second at; it returns the previous partition when
// this row starts a new one. A partition's TTLs are all as of its first row's second (curAt): a
// later row read later has its remaining TTLs restated as of then (plus the seconds between).
func (p *partitionReader) add(t *table, token int64, pk [][]byte, row merge.Row, at int64) (done *merge.Partition, doneToken int64) {
	st, hasStatic, row, hasRow := t.splitStatic(row)
	if p.cur != nil && p.token == token && merge.SameKey(p.cur.Key, pk) {
		if hasRow {
			if at > p.curAt {
				restateTTLs(&row, int32(min(at-p.curAt, 1<<30)))
			}
			p.cur.Rows = append(p.cur.Rows, row)
		}
		return nil, 0
	}
	done, doneToken = p.cur, p.token
	p.doneAt, p.curAt = p.curAt, at
	p.cur = &merge.Partition{Key: pk, Rows: make([]merge.Row, 0, 2)}
	if hasStatic {
		p.cur.Rows = append(p.cur.Rows, st)
	}
	if hasRow {
		p.cur.Rows = append(p.cur.Rows, row)
	}
	p.token = token
	return done, doneToken
}

// restateTTLs adds by seconds to every expiring cell of r: a TTL read by seconds later, stated as
// of the earlier read.
func restateTTLs(r *merge.Row, by int32) {
	for i := range r.Columns {
		c := &r.Columns[i]
		if c.Cell.TTL > 0 {
			c.Cell.TTL += by
		}
		for j := range c.Elems {
			if c.Elems[j].Cell.TTL > 0 {
				c.Elems[j].Cell.TTL += by
			}
		}
	}
}

// splitStatic separates a scanned row's static columns (a static row: hasStatic when one of them
// holds a value) from its regular ones (hasRow unless the clustering key is null: the row of a
// static-only partition). A table without static columns returns row as it is.
func (t *table) splitStatic(row merge.Row) (st merge.Row, hasStatic bool, reg merge.Row, hasRow bool) {
	if t.nstatic == 0 {
		return st, false, row, true
	}
	st = merge.Row{Clustering: [][]byte{}, Static: true, Columns: make([]merge.Column, 0, t.nstatic)}
	reg = merge.Row{Clustering: row.Clustering, Columns: make([]merge.Column, 0, len(row.Columns)-t.nstatic)}
	for i, c := range row.Columns {
		if t.static[i] {
			st.Columns = append(st.Columns, c)
			hasStatic = hasStatic || c.Present
		} else {
			reg.Columns = append(reg.Columns, c)
		}
	}
	hasRow = len(row.Clustering) == 0 || row.Clustering[0] != nil
	return st, hasStatic, reg, hasRow
}

// flush returns the partition being built, if any.
func (p *partitionReader) flush() (*merge.Partition, int64) {
	d, tok := p.cur, p.token
	p.doneAt = p.curAt
	p.cur = nil
	return d, tok
}
