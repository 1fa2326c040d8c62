package dualwrite

import "github.com/gocql/gocql"

// Iter iterates over a read's rows, with the methods of *gocql.Iter applications use. An Iter
// returned for a write carries only that write's error (Close returns it).
type Iter struct {
	it  *gocql.Iter
	err error
}

// Scan reads the next row into dest; false at the end or on error (see Close).
func (i *Iter) Scan(dest ...any) bool { return i.it != nil && i.it.Scan(dest...) }

// MapScan reads the next row into m.
func (i *Iter) MapScan(m map[string]any) bool { return i.it != nil && i.it.MapScan(m) }

// SliceMap reads every remaining row.
func (i *Iter) SliceMap() ([]map[string]any, error) {
	if i.it == nil {
		return nil, i.err
	}
	return i.it.SliceMap()
}

// Scanner returns gocql's row scanner.
func (i *Iter) Scanner() gocql.Scanner {
	if i.it == nil {
		return nil
	}
	return i.it.Scanner()
}

// PageState returns the state to resume the read from, with Query.PageState.
func (i *Iter) PageState() []byte {
	if i.it == nil {
		return nil
	}
	return i.it.PageState()
}

// NumRows returns the rows in the current page.
func (i *Iter) NumRows() int {
	if i.it == nil {
		return 0
	}
	return i.it.NumRows()
}

// Columns describes the result's columns.
func (i *Iter) Columns() []gocql.ColumnInfo {
	if i.it == nil {
		return nil
	}
	return i.it.Columns()
}

// Close ends the iteration and returns its error.
func (i *Iter) Close() error {
	if i.it == nil {
		return i.err
	}
	return i.it.Close()
}
