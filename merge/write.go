package merge

import "math"

// This file turns a decision (which version of each cell must end up in the destination) into the
// cells to write, under the timestamp rule every resolver shares:
//
//   - a cell the destination already holds exactly is left out, and so is one whose value it holds
//     at a version that already beats the decided one (rewriting it would only move its timestamp);
//   - a cell whose decided version is one of the inputs and already beats the destination's version
//     (per Reconcile) is written with its own writetime and TTL;
//   - any other decided value (a merge of both sides, or an input that loses to the destination's
//     version by Cassandra's rule, e.g. prefer-source over a newer destination cell) is written with
//     max(writetimes of the inputs) + 1 µs, so it lands against both originals while any later
//     application write, stamped by a real clock, still beats it;
//   - a cell that must disappear is a Deleted cell stamped the same way; a whole row that must
//     disappear is a Row with Deleted set and all its columns Deleted at one timestamp (max over the
//     row + 1 µs), which forklift writes as one row deletion (DELETE … USING TIMESTAMP), marker
//     included, at that timestamp or at the instant it read the destination if later (Row.Deleted:
//     the marker's own timestamp is not readable).
//
// Collections in a Write: Set and Map columns list the element cells to write (Deleted elements are
// element deletions); a List column holds the whole list to set, all elements with one WriteTime
// (forklift writes "l = ?" USING TIMESTAMP t, which also removes every older element); for any
// collection, Column.Cell.Deleted = true with no Elems means "delete the whole collection at
// Column.Cell.WriteTime".

// writer accumulates a Resolution's Write and Conflicts in a few preallocated slices, so resolving a
// partition costs O(1) allocations in its row count.
type writer struct {
	key       [][]byte
	rows      []Row
	cols      []Column
	elems     []Elem
	conflicts []Conflict
	rowStart  int  // index in cols where the current row's columns start
	static    bool // the current row is the partition's static row
}

func (w *writer) init(src, dst *Partition) {
	nrows, ncols, nelems := 0, 0, 0
	for _, p := range [2]*Partition{src, dst} {
		if p == nil {
			continue
		}
		nrows += len(p.Rows)
		for i := range p.Rows {
			ncols += len(p.Rows[i].Columns)
			for j := range p.Rows[i].Columns {
				nelems += len(p.Rows[i].Columns[j].Elems)
			}
		}
	}
	w.key = src.Key
	w.rows = make([]Row, 0, nrows)
	w.cols = make([]Column, 0, ncols)
	if nelems > 0 {
		w.elems = make([]Elem, 0, nelems)
	}
}

// beginRow starts a row; static says it is the partition's static row (Row.Static).
func (w *writer) beginRow(static bool) { w.rowStart, w.static = len(w.cols), static }

// endRow appends a row with the columns added since beginRow; with force it appends even an empty
// one (a key-only row to insert).
func (w *writer) endRow(clustering [][]byte, force bool) {
	if len(w.cols) == w.rowStart && !force {
		return
	}
	w.rows = append(w.rows, Row{Clustering: clustering, Columns: w.cols[w.rowStart:len(w.cols):len(w.cols)], Static: w.static})
}

func (w *writer) putCell(name string, c Cell) {
	w.cols = append(w.cols, Column{Name: name, Kind: Simple, Present: true, Cell: c})
}

// beginElems and endElems bracket the element cells of one collection column.
func (w *writer) beginElems() int { return len(w.elems) }

func (w *writer) endElems(name string, kind Kind, start int) {
	if len(w.elems) == start {
		return
	}
	w.cols = append(w.cols, Column{Name: name, Kind: kind, Present: true, Elems: w.elems[start:len(w.elems):len(w.elems)]})
}

func (w *writer) deleteCollection(name string, kind Kind, ts int64) {
	w.cols = append(w.cols, Column{Name: name, Kind: kind, Present: true, Cell: Cell{Deleted: true, WriteTime: ts}})
}

func (w *writer) conflict(clustering [][]byte, column string, s, d Cell, kept string) {
	w.conflicts = append(w.conflicts, Conflict{Clustering: clustering, Column: column, Source: s, Destination: d, Kept: kept})
}

func (w *writer) resolution() Resolution {
	var res Resolution
	if len(w.rows) > 0 {
		res.Write = &Partition{Key: w.key, Rows: w.rows}
	}
	if len(w.conflicts) > 0 {
		res.Conflicts = w.conflicts
	}
	return res
}

// plan decides how to write the decided version want of one cell, given the source and destination
// versions s and x (nil where absent). isInput says want is s or x itself rather than a new value.
// It reports false when nothing is to be written.
func plan(want Cell, isInput bool, s, x *Cell) (Cell, bool) {
	return planAbove(want, isInput, s, x, math.MinInt64)
}

// planAbove is plan where a value written above both versions is also stamped above floor (at
// least floor + 1 µs): the bound of a whole row's or partition's inputs, for a value whose own
// column versions do not bound it (see override).
func planAbove(want Cell, isInput bool, s, x *Cell, floor int64) (Cell, bool) {
	if x != nil && held(want, *x) {
		return Cell{}, false
	}
	if isInput && (x == nil || !wins(*x, want)) {
		return want, true
	}
	want.WriteTime = max(bump(s, x), floor+1)
	return want, true
}

// held reports whether the destination's version x already gives what want asks for: the same cell,
// or the same value and expiry (within ExpiryTolerance) at a version that would beat want anyway, where
// writing want above it would only move its timestamp (this keeps a second run from rewriting).
func held(want, x Cell) bool {
	if cellEqual(want, x) {
		return true
	}
	return sameValue(want, x) && SameExpiry(want, x) && wins(x, want)
}

// bump is max(writetimes of the present inputs) + 1 µs: the stamp of a value that must beat both.
func bump(s, x *Cell) int64 {
	var t int64
	switch {
	case s != nil && x != nil:
		t = max(s.WriteTime, x.WriteTime)
	case s != nil:
		t = s.WriteTime
	case x != nil:
		t = x.WriteTime
	}
	return t + 1
}

// deleteRow writes tombstones for every present column of the destination row d, all at the row's
// largest writetime (over d and, when given, the source row s) + 1 µs.
func (w *writer) deleteRow(d, s *Row) {
	ts := rowMaxTime(d)
	if s != nil {
		ts = max(ts, rowMaxTime(s))
	}
	ts++
	w.beginRow(d.Static)
	for i := range d.Columns {
		c := &d.Columns[i]
		if !c.Present {
			continue
		}
		if c.Kind == Simple {
			w.putCell(c.Name, Cell{Deleted: true, WriteTime: ts})
		} else if len(c.Elems) > 0 {
			w.deleteCollection(c.Name, c.Kind, ts)
		}
	}
	// The row itself goes too (Row.Deleted): deleting its columns alone would leave its row marker,
	// a row of nulls to every reader. The static row has no marker: its columns are all there is.
	w.endRow(d.Clustering, !d.Static)
	if !d.Static {
		w.rows[len(w.rows)-1].Deleted = true
	}
}

func rowMaxTime(r *Row) int64 {
	var t int64
	first := true
	for i := range r.Columns {
		c := &r.Columns[i]
		if !c.Present {
			continue
		}
		ct, ok := columnMaxTime(c)
		if ok && (first || ct > t) {
			t, first = ct, false
		}
	}
	return t
}

// columnMaxTime is the newest writetime in a column (its cell, or its newest element).
func columnMaxTime(c *Column) (int64, bool) {
	if c == nil || !c.Present {
		return 0, false
	}
	if c.Kind == Simple {
		return c.Cell.WriteTime, true
	}
	if len(c.Elems) == 0 {
		return 0, false
	}
	t := c.Elems[0].Cell.WriteTime
	for _, e := range c.Elems[1:] {
		t = max(t, e.Cell.WriteTime)
	}
	return t, true
}

func columnMinTime(c *Column) int64 {
	t := c.Elems[0].Cell.WriteTime
	for _, e := range c.Elems[1:] {
		t = min(t, e.Cell.WriteTime)
	}
	return t
}

// present reports whether a column holds a value: a present simple cell or at least one element.
func present(c *Column) bool {
	if c == nil || !c.Present {
		return false
	}
	return c.Kind == Simple || len(c.Elems) > 0
}
