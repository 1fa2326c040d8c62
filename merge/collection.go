package merge

import (
	"bytes"

	"github.com/globalcloud/islands/internal/codec"
)

// Collections, the default inside lww and union:
//
//   - Set: union of the elements of both sides; an element on both sides is reconciled by Reconcile.
//   - Map: merged key by key, each key's value by writetime (Reconcile); keys of either side survive.
//   - List: the whole column by last-write-wins: the side whose newest element is newer wins entire.
//     A list element's cell path is a timeuuid minted by the coordinator that appended it, so the two
//     clusters' paths for "the same" element never match: an element-wise merge would concatenate the
//     lists, and CQL cannot write an element at a given path anyway, only the whole list.
//
// A merged set or map that equals the source column, where every source element is newer than every
// destination element, is written with the source's own timestamps. Any other merged column is a new
// value: the elements the destination lacks are written at max(newest element of either side) + 1 µs,
// which also carries them over any collection-level deletion the destination may hold and a CQL read
// cannot show (an overwrite "s = {…}" leaves a tombstone at its timestamp − 1).

// mergeElems merges a Set or Map column per element (absent is older than present) into w.
// union=true keeps a live element over a tombstone whatever their timestamps.
func mergeElems(w *writer, ck [][]byte, name string, kind Kind, s, d *Column, union bool) {
	sp, dp := present(s), present(d)
	if !sp && !dp {
		return
	}
	if !dp {
		start := w.beginElems()
		w.elems = append(w.elems, s.Elems...)
		w.endElems(name, kind, start)
		return
	}
	if !sp {
		return // the destination holds the only version
	}
	// Decide each key: which side's element wins, and whether the result equals either side.
	srcAll, dstAll := true, true // merged == source column / == destination column
	for i := range s.Elems {
		se := &s.Elems[i].Cell
		j := findElem(d.Elems, s.Elems[i].Key, i)
		if j < 0 {
			dstAll = false
			continue
		}
		de := &d.Elems[j].Cell
		if elemWins(*se, *de, union) {
			if !cellEqual(*se, *de) {
				dstAll = false
			}
		} else if !cellEqual(*se, *de) {
			srcAll = false
		}
	}
	if srcAll {
		for i := range d.Elems {
			if findElem(s.Elems, d.Elems[i].Key, i) < 0 {
				srcAll = false
				break
			}
		}
	}
	if dstAll {
		return // every decided element is already in the destination
	}
	sMax, _ := columnMaxTime(s)
	dMax, _ := columnMaxTime(d)
	own := srcAll && columnMinTime(s) > dMax
	ts := max(sMax, dMax) + 1
	start := w.beginElems()
	for i := range s.Elems {
		se := s.Elems[i].Cell
		j := findElem(d.Elems, s.Elems[i].Key, i)
		if j >= 0 {
			de := d.Elems[j].Cell
			if !elemWins(se, de, union) || cellEqual(se, de) {
				continue // the destination's element stands
			}
		}
		if !own {
			se.WriteTime = ts
		}
		w.elems = append(w.elems, Elem{Key: s.Elems[i].Key, Cell: se})
	}
	w.endElems(name, kind, start)
	kept := "merged"
	if srcAll {
		kept = "source"
	}
	if conflicting(s, d) {
		w.conflict(ck, name, summary(s), summary(d), kept)
	}
}

// elemWins: the source element wins over the destination's (Reconcile; union keeps live over dead).
func elemWins(s, d Cell, union bool) bool {
	if union && s.Deleted != d.Deleted {
		return !s.Deleted
	}
	return wins(s, d)
}

// mergeList applies whole-column last-write-wins to a List column: the side whose newest element is
// newer wins; equal newest writetimes fall back to comparing the serialised lists (greater wins), as
// Reconcile does for a simple cell. The destination holds the source's list when it has the same
// values with each element expiring alike (paths and writetimes are local to each cluster); the
// same values expiring differently are another version, ordered by the same rule.
func mergeList(w *writer, ck [][]byte, name string, s, d *Column) {
	sp, dp := present(s), present(d)
	if !sp {
		return
	}
	if !dp {
		writeList(w, name, s, 0)
		return
	}
	sMax, _ := columnMaxTime(s)
	dMax, _ := columnMaxTime(d)
	sameValues := !listValuesDiffer(s.Elems, d.Elems)
	v := CompareLists(s.Elems, d.Elems)
	if v == 0 {
		return // the same list; paths and timestamps are local to each cluster
	}
	srcWins := v > 0
	if srcWins {
		ts := sMax
		if sMax <= dMax {
			ts = dMax + 1
		}
		writeList(w, name, s, ts)
	}
	if sameValues {
		return // the same values expiring differently: no conflict for a person to see
	}
	kept := "destination"
	if srcWins {
		kept = "source"
	}
	w.conflict(ck, name, summary(s), summary(d), kept)
}

// CompareLists is the whole-list rule for a non-frozen list, the one rule of merge and of forklift's
// verify: 0 when a and b are the same list (the same values, each element expiring alike within
// ExpiryTolerance: element paths and writetimes are local to each cluster); otherwise +1 when a wins
// and −1 when b does: the list whose newest element is newer, then the greater serialised list
// (CQL's bytes, as Reconcile compares values), then, for the same values, the first element whose
// expiry differs decides as Reconcile would (an expiring element beats a permanent one, the later
// expiry beats the earlier).
func CompareLists(a, b []Elem) int {
	if !listValuesDiffer(a, b) && listExpiriesSame(a, b) {
		return 0
	}
	ac, bc := &Column{Kind: List, Present: true, Elems: a}, &Column{Kind: List, Present: true, Elems: b}
	aMax, _ := columnMaxTime(ac)
	bMax, _ := columnMaxTime(bc)
	switch {
	case aMax > bMax:
		return 1
	case aMax < bMax:
		return -1
	}
	if c := bytes.Compare(serialise(ac), serialise(bc)); c != 0 {
		return c
	}
	for i := range a {
		if x, y := a[i].Cell, b[i].Cell; !SameExpiry(x, y) {
			if (x.TTL > 0) != (y.TTL > 0) {
				if x.TTL > 0 {
					return 1
				}
				return -1
			}
			if x.TTL > y.TTL {
				return 1
			}
			return -1
		}
	}
	return 0
}

// listExpiriesSame reports whether two lists of equal length expire alike element by element
// (SameExpiry: within ExpiryTolerance).
func listExpiriesSame(a, b []Elem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !SameExpiry(a[i].Cell, b[i].Cell) {
			return false
		}
	}
	return true
}

// writeList writes the whole list s at ts (0: at its own newest writetime).
func writeList(w *writer, name string, s *Column, ts int64) {
	if ts == 0 {
		ts, _ = columnMaxTime(s)
	}
	start := w.beginElems()
	for _, e := range s.Elems {
		e.Cell.WriteTime = ts
		w.elems = append(w.elems, e)
	}
	w.endElems(name, List, start)
}

func listValuesDiffer(a, b []Elem) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if !sameValue(a[i].Cell, b[i].Cell) {
			return true
		}
	}
	return false
}

// conflicting: both sides hold the collection and a reader would see different contents.
func conflicting(s, d *Column) bool {
	if len(s.Elems) != len(d.Elems) {
		return true
	}
	for i := range s.Elems {
		j := findElem(d.Elems, s.Elems[i].Key, i)
		if j < 0 || !sameValue(s.Elems[i].Cell, d.Elems[j].Cell) {
			return true
		}
	}
	return false
}

// summary is one Cell standing for a whole collection in a Conflict: the collection serialised as a
// CQL read returns it (int32 count, then [int32 length][bytes] per set element, list value, or map
// key and value), stamped with the newest element's writetime. Tombstoned elements are skipped.
func summary(c *Column) Cell {
	ts, _ := columnMaxTime(c)
	return Cell{Value: serialise(c), WriteTime: ts}
}

func serialise(c *Column) []byte {
	var keys, vals [][]byte
	for _, e := range c.Elems {
		if e.Cell.Deleted {
			continue
		}
		keys = append(keys, e.Key)
		vals = append(vals, e.Cell.Value)
	}
	switch c.Kind {
	case Set:
		return codec.JoinCollection(keys)
	case List:
		return codec.JoinCollection(vals)
	}
	return codec.JoinMap(keys, vals)
}
