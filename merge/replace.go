package merge

// replaceRow makes the destination row d (nil: none) become exactly the winning source row s, the rule
// of the resolvers that take a whole row or partition from one side: every column of s is written
// (with its own timestamp where it already beats the destination's, else above both), every column
// only d holds is deleted, and what d already holds exactly is left out. Conflicts are recorded with
// Kept "source".
func replaceRow(w *writer, s, d *Row) { replaceRowWith(w, s, d, nil) }

// override replaces one simple column's value in a row being written (a value of neither version of
// that row, so written by the rule for merged values).
//
// Invariant: an override that is not an input version is stamped above every writetime of both row
// versions (floor, Decide's rowsMaxTime), not only above the column's own versions: where the column
// is absent on both sides (never written, or nulled by a tombstone a CQL read cannot show), the
// column alone gives no bound, and a stamp of 1 µs would lose to that tombstone forever.
type override struct {
	name  string
	cell  Cell
	floor int64 // the newest writetime of the row's versions (of the partitions' when they have none)
}

// replaceRowWith is replaceRow with the column ov.name (when ov is not nil) taking ov.cell's value.
//
// Invariant: a source row that exists by its marker alone (key-only), or is left so by a null
// override of its only live value (standsByMarker), still exists after the Write. Its row, when
// anything is written for it, carries Marker: the destination's version may hold
// cells and no marker (written by UPDATE only), and the Write deletes those cells, so without the
// marker the row would be gone; and a value written into it (an override) gives no lasting marker
// either (an INSERT's marker takes its cells' TTL). Where nothing is written over a destination
// row, that row is key-only too, so it holds a marker already.
//
// Invariant: a source row the destination lacks (d nil) is written whatever ov does. The row
// stands (the source's version of it), and an override may write nothing for it (a null override
// of a column absent on both sides is rightly no write: the destination holds that null); the row
// is then written with no column, a key-only row to insert (its marker), never left out.
func replaceRowWith(w *writer, s, d *Row, ov *override) {
	if d == nil && ov == nil {
		w.rows = append(w.rows, *s)
		return
	}
	w.beginRow(s.Static)
	eachColumn(s, d, func(name string, sc, dc *Column) {
		if ov != nil && name == ov.name {
			overrideCell(w, s, d, ov)
			return
		}
		replaceColumn(w, s.Clustering, name, sc, dc, "source")
	})
	n := len(w.rows)
	w.endRow(s.Clustering, d == nil && !s.Static)
	if len(w.rows) > n && !s.Static && standsByMarker(s, ov) {
		w.rows[n].Marker = true
	}
}

// standsByMarker reports whether the row that must stand after a Write of s (ov applied: nil for
// none) exists by its marker alone: s is key-only, or s exists (it holds a live cell) and no live
// cell of it is left once ov is applied (a null override of its only value, a scrub). Such a row,
// when anything is written for it, carries Row.Marker: the Write deletes the destination's cells,
// and the destination's row may have no marker (written by UPDATE only). A source row of
// tombstones only (cells that expired) does not exist, and gets none.
func standsByMarker(s *Row, ov *override) bool {
	if keyOnly(s) {
		return true
	}
	exists := false
	for i := range s.Columns {
		c := &s.Columns[i]
		if !liveColumn(c) {
			continue
		}
		exists = true
		if ov == nil || c.Name != ov.name {
			return false // a live cell stands
		}
	}
	if !exists {
		return false
	}
	return ov.cell.Deleted || ov.cell.Value == nil // the override nulls the only live column
}

// liveColumn reports whether c holds a live value: a live simple cell (not a tombstone, not a
// null), or a collection with a live element.
func liveColumn(c *Column) bool {
	if !present(c) {
		return false
	}
	if c.Kind == Simple {
		return !c.Cell.Deleted && c.Cell.Value != nil
	}
	for _, e := range c.Elems {
		if !e.Cell.Deleted {
			return true
		}
	}
	return false
}

// keyOnly reports whether r holds no value at all: a row that exists by its marker alone.
func keyOnly(r *Row) bool {
	for i := range r.Columns {
		if present(&r.Columns[i]) {
			return false
		}
	}
	return true
}

// overrideCell writes ov.cell's value and TTL into column ov.name of the row (s and d its versions);
// a null override (Deleted, or a nil Value) is a tombstone above both versions.
func overrideCell(w *writer, s, d *Row, ov *override) {
	var sc, dc *Cell
	if c := column(s, ov.name, -1); present(c) && c.Kind == Simple {
		sc = &c.Cell
	}
	if c := column(d, ov.name, -1); present(c) && c.Kind == Simple {
		dc = &c.Cell
	}
	if ov.cell.Deleted || ov.cell.Value == nil {
		// A null (a Deleted cell, or a live one with a nil Value) is written as a deletion, as
		// CQL's own "DELETE v USING TIMESTAMP t" or an INSERT of a null: a tombstone stamped like
		// any other override, above both versions. A live null would be no write at all (a writer
		// has nothing to put), leaving the destination's old value for good. Where the destination
		// already reads no value (absent, or a tombstone) it holds the null: nothing is written.
		if dc == nil || dc.Deleted {
			return
		}
		w.putCell(ov.name, Cell{Deleted: true, WriteTime: max(bump(sc, dc), ov.floor+1)})
		return
	}
	want := Cell{Value: ov.cell.Value, TTL: ov.cell.TTL}
	isInput := false
	if sc != nil && cellEqual(*sc, ov.cell) || dc != nil && cellEqual(*dc, ov.cell) {
		want, isInput = ov.cell, true
	}
	if c, ok := planAbove(want, isInput, sc, dc, ov.floor); ok {
		w.putCell(ov.name, c)
	}
}

// recordConflicts records the columns where a losing source row s differs from the destination row d
// that stands (Kept "destination"); nothing is written.
func recordConflicts(w *writer, s, d *Row) {
	eachColumn(s, d, func(name string, sc, dc *Column) {
		if !present(sc) || !present(dc) {
			return
		}
		if sc.Kind == Simple {
			if !sameValue(sc.Cell, dc.Cell) {
				w.conflict(s.Clustering, name, sc.Cell, dc.Cell, "destination")
			}
			return
		}
		if differs(sc, dc) {
			w.conflict(s.Clustering, name, summary(sc), summary(dc), "destination")
		}
	})
}

func differs(s, d *Column) bool {
	if s.Kind == List {
		return listValuesDiffer(s.Elems, d.Elems)
	}
	return conflicting(s, d)
}

// replaceColumn makes column d become s (nil or absent: no value).
func replaceColumn(w *writer, ck [][]byte, name string, s, d *Column, kept string) {
	sp, dp := present(s), present(d)
	if !sp && !dp {
		return
	}
	kind := Simple
	if s != nil {
		kind = s.Kind
	} else {
		kind = d.Kind
	}
	if sp && dp {
		if kind == Simple {
			if !sameValue(s.Cell, d.Cell) {
				w.conflict(ck, name, s.Cell, d.Cell, kept)
			}
		} else if differs(s, d) {
			w.conflict(ck, name, summary(s), summary(d), kept)
		}
	}
	if kind == Simple {
		var sc, dc *Cell
		if sp {
			sc = &s.Cell
		}
		if dp {
			dc = &d.Cell
		}
		want := Cell{Deleted: true}
		if sp {
			want = s.Cell
		}
		if c, ok := plan(want, sp, sc, dc); ok {
			w.putCell(name, c)
		}
		return
	}
	if !sp {
		ts, _ := columnMaxTime(d)
		w.deleteCollection(name, kind, ts+1)
		return
	}
	if kind == List {
		if !dp {
			writeList(w, name, s, 0)
			return
		}
		if !listValuesDiffer(s.Elems, d.Elems) && listExpiriesSame(s.Elems, d.Elems) {
			return
		}
		sMax, _ := columnMaxTime(s)
		dMax, _ := columnMaxTime(d)
		ts := sMax
		if sMax <= dMax {
			ts = max(sMax, dMax) + 1
		}
		writeList(w, name, s, ts)
		return
	}
	// Set or Map: element by element, the source's version of every key, and no other key.
	start := w.beginElems()
	for i := range s.Elems {
		se := &s.Elems[i].Cell
		var de *Cell
		if dp {
			if j := findElem(d.Elems, s.Elems[i].Key, i); j >= 0 {
				de = &d.Elems[j].Cell
			}
		}
		if c, ok := plan(*se, true, se, de); ok {
			w.elems = append(w.elems, Elem{Key: s.Elems[i].Key, Cell: c})
		}
	}
	if dp {
		for j := range d.Elems {
			if findElem(s.Elems, d.Elems[j].Key, j) >= 0 {
				continue
			}
			de := &d.Elems[j].Cell
			if de.Deleted {
				continue
			}
			w.elems = append(w.elems, Elem{Key: d.Elems[j].Key, Cell: Cell{Deleted: true, WriteTime: de.WriteTime + 1}})
		}
	}
	w.endElems(name, kind, start)
}
