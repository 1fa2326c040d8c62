package merge

import (
	"bytes"
	"time"
)

// Cell is one value exactly as Cassandra stores it: the CQL-serialised bytes, the write timestamp in
// microseconds (writetime()), the time to live in seconds left when it was read (ttl(), 0 = none), and
// whether it is a tombstone. A nil Value on a live cell is a null.
type Cell struct {
	Value     []byte
	WriteTime int64
	TTL       int32
	Deleted   bool
}

// ExpiryTolerance is how close two expiry instants must be to count as the same expiry. A Cell
// carries the TTL remaining when it was read, truncated to the second, and the two sides of a
// partition are read moments apart (a page may wait for the rate limiter or a retry), so the same
// expiry routinely reads as TTLs one or two seconds apart. Two expiring cells whose TTLs differ by
// less than ExpiryTolerance are the same version to every comparison of "equal" here (SameVersion):
// no resolver rewrites a cell, and no verify reports a difference, for a TTL difference inside it.
// Reconcile itself stays exact (the later expiry wins): it must be associative.
const ExpiryTolerance = 3 * time.Second

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
//
// Static marks a partition's static row: the partition's static columns, which Cassandra stores
// once per partition, never per row. A partition holds at most one static row; its Clustering is
// empty and its Columns are the static columns only (the other rows then hold no static column).
// Resolvers match it with the other side's static row like any row (its key is the empty key), and
// a row-level rule that needs an application column (newest-by) merges it by lww instead.
//
// Deleted, in a Resolution's Write only, says the whole row must disappear: its present columns are
// Deleted cells at one timestamp, and the writer deletes the row itself (row marker included) at that
// timestamp or later. Later is needed: a row's marker may be newer than every cell a read shows (an
// INSERT of the key alone over an older row), and no CQL read shows its timestamp, so only the
// writer, which knows when it read the row, can stamp a deletion above it (forklift deletes at the
// instant it read the destination, when that is later).
//
// Marker, in a Resolution's Write only, says the row written must exist by its row marker: the
// version that stands is a key-only row (it exists by its marker alone, or is left with no live
// cell by an override that nulls its only value), while the destination's
// row holds cells the Write deletes and may have no marker at all (a row written by UPDATE only).
// The writer writes the marker (an INSERT of the key alone) along with whatever the row's columns
// write; without it the cell deletions would leave no row. A Write row with no column at all is a
// key-only row to insert and needs no flag. Never set with Deleted or Static (a static row has no
// marker).
type Row struct {
	Clustering [][]byte
	Columns    []Column
	Static     bool
	Deleted    bool
	Marker     bool
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

// SameExpiry reports whether a and b expire alike: neither expires, or both do at instants less
// than ExpiryTolerance apart (their TTLs being read at about the same time).
func SameExpiry(a, b Cell) bool {
	if (a.TTL > 0) != (b.TTL > 0) {
		return false
	}
	d := int64(a.TTL) - int64(b.TTL)
	return d < int64(ExpiryTolerance/time.Second) && -d < int64(ExpiryTolerance/time.Second)
}

// SameVersion reports whether a and b are the same version of a cell: same bytes (nil = empty),
// writetime and deletion flag, and the same expiry within ExpiryTolerance.
func SameVersion(a, b Cell) bool {
	return a.WriteTime == b.WriteTime && a.Deleted == b.Deleted && bytes.Equal(a.Value, b.Value) && SameExpiry(a, b)
}
