// Package forklift copies a keyspace's tables from one Cassandra cluster (the source island) to
// another (the destination), merging where both sides hold data with each dataset's resolver from
// package merge, and then proves the result.
//
// Open is the way in: it validates a Config, connects to both clusters (or takes the caller's
// sessions, WithSessions) and loads every table's schemas once, and returns a Job:
//
//	job, err := forklift.Open(ctx, cfg, forklift.WithLogger(log))
//	if err != nil { … }
//	defer job.Close()
//	rep, err := job.Run(ctx, forklift.RunOptions{Resume: true})
//	ver, err := job.Verify(ctx, forklift.VerifyOptions{})
//
// The Job's methods, one file each: Plan (schemas compared before any data moves, token ranges,
// size, sampled conflicts), Run (paged reads of every cell with its
// writetime and TTL; blind writes for lww, read-resolve-write otherwise; checkpoints per range so a
// killed run resumes, sharded or not), Verify (both sides compared range by range under the resolver's invariant,
// hashing subranges first), Repair (re-copies what Verify found) and Status (checkpoints read back).
// Config says what to copy and how hard to push. LoadConfig and ParseConfig read it from YAML,
// expanding ${NAME} in each value after parsing (never re-read as YAML; any other $ stays); their
// errors never show a value, so a password in the file or a variable stays out of them. Validate refuses, before any connection, what
// the config alone shows wrong (an unknown resolver among it); Open binds each table's resolver to
// its schema (merge.Bind), refusing options that name a column or clustering component the table
// does not have as such, naming the option; an error about resolving a partition names it by
// key_hash, with every key of it taken out of the resolver's text (resolveError). Open refuses a local_dc the cluster
// does not have, and with CreateTables creates a missing destination table from the source's
// schema. The checkpoint keyspace forklift creates is NetworkTopologyStrategy in the local
// datacenter on a multi-DC destination (CheckpointReplication to choose).
//
// Invariants of the copy and the proof (each has a test that broke it once):
//
//  1. Statics are per partition: a partition's static columns are read into its static row
//     (merge.Row.Static) and written with the partition key alone, never per row and never in a
//     row's INSERT (whose row marker would take their TTL); a static-only partition is its static
//     row alone.
//  2. A list keeps each element's TTL: it is set, then appended to, in element order, one statement
//     per run of elements sharing a TTL, all at the list's newest writetime (whole-list
//     last-write-wins, merge.CompareLists). Because rewriting a list the destination already holds
//     duplicates its elements, a partition holding a list is resolved against the destination
//     even under blind lww, and a re-sent write (10) sends only the runs of a list the destination
//     does not hold yet (landedLists).
//  3. TTLs are aged at write time, on every attempt (a re-send too), from the second each partition's page was
//     requested (rows are dated by their page, not by when they were decoded, and a partition's
//     later pages are restated as of its first): a copy never outlives its source by a wait (rate
//     limit, destination read, backoff, rows waiting in the driver's page), and expires at most
//     about a second before it; cells that expired meanwhile are not written.
//  4. Checkpoints are per range and checked per shard: a resumed shard with no checkpoint of its
//     own starts its ranges; a checkpoint that is not a range of this run's split is refused
//     (ErrRangesChanged). N shards start, die and resume in any order.
//  5. Verify never says clean when the destination differs: the subrange hash is an injective,
//     framed encoding of everything compared (expiry in merge.ExpiryTolerance buckets), summed by
//     HMAC-SHA-256 truncated to 128 bits under a key drawn from crypto/rand for each verify run
//     (never stored): no one can plant two differing subranges that hash alike in advance, and a
//     chance collision is below 2^-128 per subrange; each cell is judged by merge.Reconcile, the
//     one tie rule (lists by merge.CompareLists). A key-only row (its marker's writetime is
//     unreadable) is never recorded as shadowed, so a missing one is always reported; nor is
//     anything the destination holds too much (a row, cell or element a resolver would delete:
//     Difference.excess): only a source cell hidden by a newer deletion can be shadowed, and a
//     record names the source version it excuses. Equal subrange hashes end a subrange only
//     under a resolver that declares two identical sides resolve to no write
//     (merge.EqualSides: lww, union, prefer-*, newest-by); under any other (a history's cap,
//     a custom Decide override) every partition is compared by resolving.
//  6. Expiries within merge.ExpiryTolerance (3 s) are the same: TTLs read a second or two apart
//     never cause a rewrite, a bumped writetime, or a reported difference. Verify compares expiry
//     instants, never raw remaining TTLs of two reads: each side's TTLs are dated by its own read
//     (the hash: now + TTL; the compare: the earlier read aged to the later, alignReads), so the
//     lag between the two sides' reads is never a difference, nor hides one.
//  7. Partitions are in Cassandra's order, one rule (comparePartitions): token, then the unsigned
//     bytes of the key as Cassandra stores it (a composite key in CompositeType's encoding: per
//     component a 2-byte length, the bytes, a 0), which is how verify walks the two sides. A copy's
//     page (and so its checkpoint) ends only between two tokens, never between partitions that
//     share one (a Murmur3 collision): a checkpoint at T means every partition of token ≤ T is
//     written, and a resume or a retried read from "token > T" skips none.
//  8. A row a resolver deletes whole (merge.Row.Deleted: prefer-source's destination-only rows, a
//     custom resolver's Drop) goes in one pass, row marker included: the deletion is stamped at the
//     newest of the row's cells + 1 µs and the microsecond the destination was read at (rowDeleteTS),
//     because a marker may be newer than every readable cell and CQL cannot read its timestamp, but
//     a marker the read saw was stamped, by a real clock, before the read. Only a marker stamped
//     ahead of this host's clock survives; verify reports its row (never as shadowed) and a repair
//     once this host's clock has passed the marker deletes it.
//  9. A source row that exists by its marker alone stays a row: where its Write deletes the
//     destination's cells (merge.Row.Marker), the marker is written too, at markerTS as for every
//     key-only row, since the destination's row may have no marker (written by UPDATE only).
//  10. A partition's write is decided once (destination read, resolution) and every retry re-sends
//     the statements of that decision, same timestamps (idempotent), never resolving again against
//     what the failed attempt may have landed (prefer-destination would take its own half-write
//     for the destination's partition; newest-by a half-written row for a tie). A failed decision
//     (its destination read) is decided again: nothing was written.
//  11. A partition sent in more than one batch (max_batch_bytes) is not atomic: it is recorded in
//     flight (InFlightStore) before its first batch and cleared after its last. A resumed run, or
//     the same run redoing the page, repairs a partition so left by union (no cell of either side
//     is lost; the killed run's own decision for lww, union and prefer-destination) and names it
//     (TableReport.InFlightRepaired); while a record is left, Verify is not clean and names it
//     (TableVerification.InFlight). One batch (one partition, unlogged) is atomic in Cassandra.
//
// A copy is only complete if every instance of the application already writes both sides when it
// starts: a row an instance writes to the source alone after forklift passed its token range is
// found by verify only. Config.Migration names the migration (package migration) whose fleet must
// dual-write: Run then refuses to start (ErrFleetNotDualWriting, naming the instances that do not)
// unless every live instance has applied dual or dual-flipped at a recent enough epoch
// (migration.ForkliftGate: no step back to one-side writing since), or RunOptions.Force is set (logged),
// and records its start and end on the migration's row (each shard its own; the row shows the last).
//
// What a CQL read cannot see, forklift cannot copy: tombstones (deletes) are invisible, so a delete
// made in the source after a key was copied must reach the destination by dual writes, and a source
// cell shadowed by a newer deletion in the destination reads as missing until a repair proves it
// shadowed (ShadowStore), after which verify reports it as superseded while that exact cell (a
// set's element, a map's key and value, a list's contents, with its writetime) is unchanged (a
// key-only row, whose version nothing readable names, is never recorded); a present null in a
// resolver's Write (a live cell with a nil Value) is written as a deletion at its writetime, as
// CQL's INSERT of a null is; the TTL
// written is the remaining TTL ttl() reports, aged as in 3; counter tables are refused.
package forklift
