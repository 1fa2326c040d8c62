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
// killed run resumes), Verify (both sides compared range by range under the resolver's invariant,
// hashing subranges first), Repair (re-copies what Verify found) and Status (checkpoints read back).
// Config says what to copy and how hard to push.
//
// A copy is only complete if every instance of the application already writes both sides when it
// starts: a row an instance writes to the source alone after forklift passed its token range is
// found by verify only. Config.Migration names the migration (package migration) whose fleet must
// dual-write: Run then refuses to start (ErrFleetNotDualWriting, naming the instances that do not)
// unless every live instance has applied dual or dual-flipped, or RunOptions.Force is set (logged),
// and records its start and end on the migration's row (each shard its own; the row shows the last).
//
// What a CQL read cannot see, forklift cannot copy: tombstones (deletes) are invisible, so a delete
// made in the source after a key was copied must reach the destination by dual writes; the TTL
// written is the remaining TTL ttl() reports at read time, less the time the page waited before
// its write; counter tables are refused.
package forklift
