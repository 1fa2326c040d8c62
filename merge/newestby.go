package merge

import (
	"fmt"
	"strings"
)

const nameNewestBy = "newest-by"

// newestBy keeps, for each row on both sides, the whole row whose application column (option
// "column", e.g. updated_at) holds the larger value; rows on one side only are kept. Values compare
// in the order of the column's CQL type (ValueOrder), given by option "type" or by the table's
// schema (WithColumnTypes, which forklift calls with the source's schema): never guessed from a
// value's length. Without a type, Resolve fails (ErrBadOption) rather than guess. A row without a
// value in the column is older than one with; equal values fall back to lww for that row. A row of
// either side that does not have the column at all is an error wrapping ErrMissingColumn: the rule
// cannot be applied, and guessing would lose data. The static row (Row.Static) merges by lww.
type newestBy struct {
	col   string
	typ   string                // the column's CQL type; "" until given
	order func(a, b []byte) int // ValueOrder(typ)
}

func newNewestBy(opts map[string]any) (Resolver, error) {
	o := options{nameNewestBy, opts}
	if err := o.known("column", "type"); err != nil {
		return nil, err
	}
	col, err := o.string("column", true)
	if err != nil {
		return nil, err
	}
	typ, err := o.string("type", false)
	if err != nil {
		return nil, err
	}
	n := newestBy{col: col}
	if typ != "" {
		if n, err = n.typed(typ); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n newestBy) typed(typ string) (newestBy, error) {
	order, err := ValueOrder(typ)
	if err != nil {
		return n, fmt.Errorf("merge: newest-by: column %q: values of type %q have no order a rule can decide by: %w",
			n.col, typ, ErrBadOption)
	}
	n.typ, n.order = typ, order
	return n, nil
}

// WithColumnTypes implements Typed: the column's type from the table's schema. A column the table
// does not have is an error wrapping ErrMissingColumn; a type option that disagrees with the
// schema, or a type with no order, one wrapping ErrBadOption.
func (n newestBy) WithColumnTypes(types map[string]string) (Resolver, error) {
	typ, ok := types[n.col]
	if !ok {
		return nil, fmt.Errorf("merge: newest-by: column %q is not a column of the table: %w", n.col, ErrMissingColumn)
	}
	if n.typ != "" && !strings.EqualFold(strings.TrimSpace(n.typ), strings.TrimSpace(typ)) {
		return nil, fmt.Errorf("merge: newest-by: option type %q, but column %q is %s: %w", n.typ, n.col, typ, ErrBadOption)
	}
	return n.typed(typ)
}

// WithSchema implements Shaped: option column must be a regular column of the table (a key
// column is never in a row's columns: every row would fail), then WithColumnTypes.
func (n newestBy) WithSchema(s Schema) (Resolver, error) {
	if s.IsKey(n.col) {
		return nil, fmt.Errorf("merge: newest-by: option %q: %q is a key column of the table; name a regular column "+
			"(e.g. updated_at): %w", "column", n.col, ErrBadOption)
	}
	return n.WithColumnTypes(s.Types)
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
		if n.order == nil {
			return Resolution{}, fmt.Errorf("merge: newest-by: the CQL type of column %q is unknown: give option type "+
				"(bigint, timestamp, timeuuid, text, …) or bind the table's schema (WithColumnTypes): %w", n.col, ErrBadOption)
		}
		sc, dc := column(s, n.col, -1), column(d, n.col, -1)
		if sc == nil || dc == nil || sc.Kind != Simple || dc.Kind != Simple {
			// Rows are named by their place, never by their key (member data).
			return Resolution{}, fmt.Errorf("merge: newest-by: source row %d (destination row %d): column %q: %w", i, srcTo[i], n.col, ErrMissingColumn)
		}
		switch c := compareApp(sc, dc, n.order); {
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

// compareApp compares two application values (absent < present) in the column type's order.
func compareApp(a, b *Column, order func(a, b []byte) int) int {
	ap, bp := present(a) && !a.Cell.Deleted, present(b) && !b.Cell.Deleted
	switch {
	case !ap && !bp:
		return 0
	case !ap:
		return -1
	case !bp:
		return 1
	}
	return order(a.Cell.Value, b.Cell.Value)
}
