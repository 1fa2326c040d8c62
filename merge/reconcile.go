package merge

import "bytes"

// Reconcile returns the cell Cassandra 5.0 keeps when it reconciles a and b, two versions of the same
// cell (same row, column and, for collections, element). It is the rule of the lww resolver and is
// commutative, associative and idempotent.
//
// The rules are those of Cells.resolveRegular in apache/cassandra, branch cassandra-5.0
// (src/java/org/apache/cassandra/db/rows/Cells.java, reached from Cells.reconcile), in order:
//
//  1. the higher writetime wins;
//  2. on equal writetimes, a cell with a local deletion time (a tombstone, or a live cell with a TTL,
//     which becomes a tombstone when it expires — CASSANDRA-14592) beats a plain live cell;
//  3. between two such cells, a tombstone beats an expiring cell;
//  4. then the later local deletion time wins;
//  5. then the greater value wins, comparing the serialised bytes unsigned and lexicographically
//     (ValueAccessor.compare, which ends in ByteBufferUtil.compareUnsigned; a shorter prefix is
//     smaller), which is what bytes.Compare does.
//
// Mapping of localDeletionTime: CQL does not expose it. For an expiring cell Cassandra sets it to the
// write's local time plus the TTL, i.e. the instant it expires; our Cell carries the TTL remaining when
// it was read, and forklift reads both sides of a partition within moments of each other, so the
// larger remaining TTL is the later expiry. The two can disagree with Cassandra only when the two
// expiry instants are closer than the skew between the two reads plus the one-second truncation of
// ttl(), and both cells are then tombstones within that second anyway. A tombstone's local deletion
// time is the deletion's local time; reads never return tombstones, so for a Deleted cell the TTL
// field stands in for it (0 for every tombstone a resolver writes), which keeps the order total.
//
// Cells tied by all five rules are equal in every field Cassandra compares; Reconcile then breaks the
// tie on the remaining fields (TTL, then Deleted) so that the result does not depend on argument order.
// A nil and an empty Value are the same bytes, as in Cassandra. Counter cells are not covered: counter
// tables need their own mode (CASSANDRA-7346 rules), which forklift does not offer.
func Reconcile(a, b Cell) Cell {
	if wins(a, b) {
		return a
	}
	return b
}

// wins reports whether a is the cell Reconcile(a, b) keeps. It holds for a == b.
func wins(a, b Cell) bool {
	if a.WriteTime != b.WriteTime {
		return a.WriteTime > b.WriteTime
	}
	aLDT, bLDT := hasDeletionTime(a), hasDeletionTime(b)
	if aLDT || bLDT {
		if aLDT != bLDT {
			return aLDT
		}
		if a.Deleted != b.Deleted {
			return a.Deleted
		}
		if a.TTL != b.TTL {
			return a.TTL > b.TTL
		}
	}
	if c := bytes.Compare(a.Value, b.Value); c != 0 {
		return c > 0
	}
	// Indistinguishable to Cassandra; order the fields it ignores so the choice is symmetric.
	if a.TTL != b.TTL {
		return a.TTL > b.TTL
	}
	return a.Deleted || !b.Deleted
}

// hasDeletionTime is Cassandra's localDeletionTime != NO_DELETION_TIME: tombstones and expiring cells.
func hasDeletionTime(c Cell) bool { return c.Deleted || c.TTL > 0 }

// cellEqual reports whether two cells are the same version (SameVersion: same bytes, nil = empty,
// writetime and deletion flag, expiries within ExpiryTolerance). A cell the destination holds equal
// to the one to write is left out: a TTL read a second apart is not a new version.
func cellEqual(a, b Cell) bool { return SameVersion(a, b) }

// sameValue reports whether two cells say the same thing to a reader (both tombstones, or both live
// with equal bytes), whatever their timestamps. Cells with different values are a conflict.
func sameValue(a, b Cell) bool {
	if a.Deleted || b.Deleted {
		return a.Deleted == b.Deleted
	}
	return bytes.Equal(a.Value, b.Value)
}
