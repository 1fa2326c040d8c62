// Package dualwrite is one application session that writes every mutation to two Cassandra keyspaces
// (in one cluster or two) while a migration moves data between them, and reads from the side the
// migration phase names.
//
// Adopting it changes one line:
//
//	session, err := dualwrite.Open(ctx, islandCluster, globalCluster, dualwrite.WithReplayDir("/var/lib/app/dualwrite"))
//	...
//	err = session.Query(`UPDATE profiles SET plan = ? WHERE member_id = ?`, plan, id).WithContext(ctx).Exec()
//
// Open owns its gocql sessions and rebuilds a side whose pool has emptied ("no hosts available in
// the pool", which gocql does not recover from by itself with a single host or with the initial
// host lookup disabled) as soon as a fresh connection to it succeeds. New takes sessions the
// caller owns: recovery is then the caller's.
//
// Every write (or batch) gets one client timestamp in microseconds, sent to both sides, so the two
// copies reconcile to the same cells whatever order the writes land in, and a write replayed later
// with its original timestamp can never overwrite a newer one. Statements that call non-deterministic
// functions (now(), uuid(), currentTimestamp() …) would store different values on each side and are
// refused unless the caller opts in.
//
// The phases of a migration, switched at run time with SetPhase:
//
//	primary-only    write primary;          read primary
//	dual            write both;             read primary   (secondary failures: the policy)
//	dual-flipped    write both;             read secondary (primary failures: the policy)
//	secondary-only  write secondary;        read secondary
//
// A fleet of instances takes its phase from a migration's control keyspace instead
// (WithMigration, package migration): Open registers the instance and reads the phase before the
// first write (ErrMigrationUnknown when it cannot and no earlier phase is known); a watcher
// applies each new epoch through SetPhaseWait and only then acknowledges it in the instance's
// heartbeat, so every write that begins after `islands migration set --wait` returned runs in the
// new phase. Cut off from the control keyspace, a session keeps its phase and says so
// (Migration, metrics, logs). See docs/migration.md.
//
// SetPhase is a barrier: it returns once every write of the old phase has finished or been kept
// in the replay log, and it refuses (ErrAuthorityBacklog; SetPhaseWait waits instead) to make a
// side authoritative while the replay log still holds writes.
//
// In the dual phases one side is authoritative (primary in dual, secondary in dual-flipped) and the
// other is the follower. The failure policy says what a follower failure does:
//
//   - PrimaryAuthoritative (default): the caller's write succeeds when the authoritative side
//     accepts it; a follower failure, or a follower that has not answered within the follower
//     budget (WithFollowerBudget, default 200 ms, bounded by the caller's deadline), is appended to
//     the durable replay log (fsync before the caller returns, the wait bounded by the caller's
//     context) and a replayer applies it again, with the original timestamp, until it lands.
//   - Strict: both sides must accept; a follower failure is returned to the caller (the
//     authoritative side may already hold the write, exactly as after a Cassandra timeout).
//   - Async: the follower write goes to a bounded in-memory queue served in the background; a
//     failure or a full queue goes to the replay log. A crash loses the queued tail (not what was
//     already logged): choose PrimaryAuthoritative when that matters.
//
// The replay log is append-only segment files with a CRC per record, fsynced in groups (one fsync
// covers every write that failed meanwhile), bounded in bytes. A file beside the application rather
// than a Cassandra table because the moment it is needed is the moment a cluster is unreachable; a
// new session on the same directory finds and drains what an earlier process left. When the log is
// full the write fails with ErrReplayLogFull: losing a write silently is never an option.
//
// Lightweight transactions: the authoritative side decides; the follower runs the same statement
// and a different outcome is counted and logged (it is never replayed: its condition may no longer
// hold). Counter updates cannot carry a timestamp and are not idempotent: they go to both sides,
// and a failed follower update is recorded as uncertain (Uncertain, metric) and never replayed.
// List appends, prepends and index operations are not idempotent either: in the dual phases they
// are refused (ErrNotIdempotent) before reaching either side. When the authoritative side fails a
// write the follower may have applied it: unless the leader refused it outright it is kept for
// the leader too, so both sides converge (the caller still gets the leader's error).
//
// Reads go to the read side only; with WithShadowReads a sampled fraction also runs on the other side
// in the background and mismatching results are counted and logged with the statement and values.
package dualwrite
