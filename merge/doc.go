// Package merge is the row model of a Cassandra table and the resolvers that combine two islands'
// copies of one partition into the partition to write. It does no I/O and knows nothing of gocql:
// values are the CQL-serialised bytes, so any column type works.
//
// A Resolver is chosen by name, with options from forklift's YAML, through New; Register adds a
// custom Go resolver, which decides per row which version stands (MatchRows pairs the rows) and
// lets Decide write that decision under the timestamp rule below; examples/viewinghistory
// is the example. Built in:
//
//   - lww: cell by cell, Cassandra 5.0's own reconciliation (Reconcile); no destination read needed.
//   - union: every row of both sides; rows on both sides merge like lww.
//   - prefer-source, prefer-destination: the whole partition from one side where both hold it.
//   - newest-by (column, type): per row, the version with the larger application column wins,
//     ordered as its CQL type orders (ValueOrder: timeuuid by time, then its low 8 bytes as
//     signed bytes exactly as Cassandra's TimeUUIDType; bigint signed; text as bytes; …), never
//     guessed from a value's length. The type is option type or, in forklift, the
//     table's schema: WithColumnTypes binds a Typed resolver (newest-by, a quarantine around it)
//     to a table's column types, refusing a column the table lacks or a type with no order; Bind
//     binds to the table's Schema (types and key columns), and a Shaped resolver checks there that
//     its options name a regular column (newest-by's column is never a key column).
//   - quarantine (resolver, options, columns or max-conflicts): wraps another resolver and sets
//     aside, unwritten, the partitions whose sides disagree beyond the rule.
//
// EqualSides: a resolver declares (EqualSidesWriteNothing) that two identical sides resolve to no
// write and no quarantine; every built-in does (a quarantine when its inner resolver does). A
// resolver that changes identical inputs (a history's cap, a Decide override) must not: forklift's
// verify trusts equal subrange hashes only for one that declares it (WritesNothingOnEqualSides).
//
// Collections inside lww and union: sets are unioned, maps merged key by key by writetime, lists
// taken whole from the side written last (list element paths are timeuuids local to one cluster):
// CompareLists is that rule, the same list being the same values with each element expiring alike.
//
// Statics: a partition's static columns are its static row (Row.Static, empty clustering key),
// matched with the other side's like any row; newest-by merges it by lww.
//
// Markers: a source row that exists by its row marker alone (no value), taken over a destination
// row (prefer-source, Decide's KeepSource), is written with Row.Marker
// whenever anything is written for it: the Write deletes the destination's cells, whose row may
// have no marker (written by UPDATE only), so the writer must write the marker too. A kept source
// row the destination lacks is always written, as a key-only row where an override leaves it no
// cell to write.
//
// Expiry: Cells carry remaining TTLs, which two reads of the same expiry see a second or two apart.
// SameVersion treats expiries within ExpiryTolerance (3 s) as the same, and every "already held"
// decision uses it: no resolver rewrites a cell, or bumps its writetime, for a TTL difference inside
// it. Reconcile itself stays exact (the later expiry wins), so it stays associative.
//
// Timestamps: a written cell keeps its own writetime when it is an input that already beats the
// destination's version; any other value (a merge, or an input that must override a newer cell) is
// written at max(input writetimes) + 1 µs (a RowDecision's override of a column: over every
// writetime of both row versions, even where the column is absent on both), so it lands against both
// originals while a later application write still wins. What the destination already holds exactly
// is left out; what must disappear is a Deleted cell stamped the same way. A RowDecision whose
// override Value is a null (a Deleted cell, or a live one with a nil Value) deletes the column: a
// tombstone stamped as any override (CQL's "DELETE c USING TIMESTAMP t"), nothing where the
// destination already reads no value. QuarantineJSONLine
// encodes a Quarantine for a JSON lines file (forklift's quarantine file and table hold this form)
// and ParseQuarantineJSONLine reads one back.
//
// Errors: a resolver's error names a row by side and place ("source row 3"), never by its key or
// the partition's: keys are member data (a member id, an email), and forklift returns the error to
// its caller. A custom resolver follows the same rule (forklift also takes keys out of its text).
//
// Everything here is a pure function of its inputs: resolvers never modify src or dst (a Write may
// share memory with src and is read-only), hold no state, and are safe for concurrent use.
package merge
