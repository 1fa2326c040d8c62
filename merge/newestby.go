package merge

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

const nameNewestBy = "newest-by"

// newestBy keeps, for each row on both sides, the whole row whose application column (option
// "column", e.g. updated_at) holds the larger value; rows on one side only are kept. Values compare
// with compareValues (bigint and timestamp as signed integers, anything else as bytes). A row
// without a value in the column is older than one with; equal values fall back to lww for that row.
// A row of either side that does not have the column at all is an error wrapping ErrMissingColumn:
// the rule cannot be applied, and guessing would lose data. The static row (Row.Static) merges by lww.
type newestBy struct{ col string }

func newNewestBy(opts map[string]any) (Resolver, error) {
	o := options{nameNewestBy, opts}
	if err := o.known("column"); err != nil {
		return nil, err
	}
	col, err := o.string("column", true)
	if err != nil {
		return nil, err
	}
	return newestBy{col: col}, nil
}

// Name implements Resolver.
func (newestBy) Name() string { return nameNewestBy }

// NeedsDestination implements Resolver.
func (newestBy) NeedsDestination() bool { return true }

// Resolve implements Resolver.
func (n newestBy) Resolve(src, dst *Partition) (Resolution, error) {
	if dst == nil || len(dst.Rows) == 0 {
		return copyAll(src), nil
	}
	var w writer
	w.init(src, dst)
	srcTo, _ := matchRows(src.Rows, dst.Rows)
	for i := range src.Rows {
		s := &src.Rows[i]
		if srcTo[i] < 0 {
			w.rows = append(w.rows, *s)
			continue
		}
		d := &dst.Rows[srcTo[i]]
		if s.Static || d.Static {
			// The static row has no application column: its cells merge by lww.
			w.beginRow(true)
			eachColumn(s, d, func(name string, a, b *Column) {
				mergeColumn(&w, s.Clustering, name, a, b, false)
			})
			w.endRow(s.Clustering, false)
			continue
		}
		sc, dc := column(s, n.col, -1), column(d, n.col, -1)
		if sc == nil || dc == nil || sc.Kind != Simple || dc.Kind != Simple {
			return Resolution{}, fmt.Errorf("merge: newest-by: partition %x row %x: column %q: %w", src.Key, s.Clustering, n.col, ErrMissingColumn)
		}
		switch c := compareApp(sc, dc); {
		case c > 0:
			replaceRow(&w, s, d)
		case c < 0:
			recordConflicts(&w, s, d)
		default:
			w.beginRow(false)
			eachColumn(s, d, func(name string, a, b *Column) {
				mergeColumn(&w, s.Clustering, name, a, b, false)
			})
			w.endRow(s.Clustering, false)
		}
	}
	return w.resolution(), nil
}

// compareApp compares two application values (absent < present), see compareValues.
func compareApp(a, b *Column) int {
	ap, bp := present(a) && !a.Cell.Deleted, present(b) && !b.Cell.Deleted
	switch {
	case !ap && !bp:
		return 0
	case !ap:
		return -1
	case !bp:
		return 1
	}
	return compareValues(a.Cell.Value, b.Cell.Value)
}

// compareValues orders two CQL-serialised values of one column the way newest-by does: as signed big-endian integers when both are 8 bytes (bigint, timestamp), otherwise as bytes
// (unsigned, lexicographic), which orders text, timeuuid-free blobs, date (an unsigned day count) and
// non-negative int values correctly but not negative int, smallint or varint values: use a bigint or
// timestamp column for the rule. It returns -1, 0 or +1.
func compareValues(a, b []byte) int {
	switch {
	case len(a) == 8 && len(b) == 8:
		x, y := int64(binary.BigEndian.Uint64(a)), int64(binary.BigEndian.Uint64(b))
		return cmpInt(x, y)
	}
	return bytes.Compare(a, b)
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
