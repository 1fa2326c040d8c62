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
// Config says what to copy and how hard to push. LoadConfig and ParseConfig read it from YAML,
// expanding ${NAME} in each value after parsing (never re-read as YAML; any other $ stays); their
// errors never show a value, so a password in the file or a variable stays out of them. Validate refuses, before any connection, what
// the config alone shows wrong (an unknown resolver among it); Open refuses a local_dc the cluster
// does not have, and with CreateTables creates a missing destination table from the source's
// schema. The checkpoint keyspace forklift creates is NetworkTopologyStrategy in the local
// datacenter on a multi-DC destination (CheckpointReplication to choose).
//
// What a CQL read cannot see, forklift cannot copy: tombstones (deletes) are invisible, so a delete
// made in the source after a key was copied must reach the destination by dual writes; the TTL
// written is the remaining TTL ttl() reports at read time, less the time the page waited before
// its write; counter tables are refused.
package forklift
