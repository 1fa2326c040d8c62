package merge

import "bytes"

// Cell is one value exactly as Cassandra stores it: the CQL-serialised bytes, the write timestamp in
// microseconds (writetime()), the time to live in seconds left when it was read (ttl(), 0 = none), and
// whether it is a tombstone. A nil Value on a live cell is a null.
type Cell struct {
	Value     []byte
	WriteTime int64
	TTL       int32
	Deleted   bool
}

// Kind says how a column is stored: one cell, or one cell per element of a multi-cell collection.
type Kind uint8

const (
	Simple Kind = iota // one cell
	Set                // one cell per element; Elem.Key is the element, Value is empty
	Map                // one cell per entry; Elem.Key is the map key
	List               // one cell per element; Elem.Key is the element's timeuuid path (or index)
)

// Elem is one cell of a multi-cell collection.
type Elem struct {
	Key  []byte
	Cell Cell
}

// Column is one column of a row: a single Cell for a Simple column, Elems for a collection.
// Present is false where the row has no value at all for the column (never written, or read as null
// without a writetime); resolvers treat an absent column as older than any present one.
type Column struct {
	Name    string
	Kind    Kind
	Present bool
	Cell    Cell
	Elems   []Elem
}

// Row is one CQL row: its clustering key components (CQL-serialised, empty for a table without
// clustering columns) and its regular columns, in the table's column order.
type Row struct {
	Clustering [][]byte
	Columns    []Column
}

// Partition is one partition key (CQL-serialised components) and its rows. Rows are in the order
// the source returned them; resolvers match rows of two sides by clustering key equality.
type Partition struct {
	Key  [][]byte
	Rows []Row
}

// SameKey reports whether two composite keys (partition or clustering) are byte-for-byte equal.
func SameKey(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
