// Package chaos is islands' fault campaign: for a seed it draws a schedule of faults (a nemesis),
// runs a workload of dual writes and cache operations from both regions against the real local
// services while the faults happen, records every operation with its outcome as JSON lines (the
// history), heals, quiesces, and checks the history against the final state (the checker).
//
// Pieces, one file each: schedule.go (the seed's faults), nemesis.go (the Fault interface and the
// service faults of scripts/regions; a world with a WAN plugs in through Partitioner),
// process.go (child processes — writers, cachesync agents, forklift — and the faults on them, the
// phase flips and clock skew), workload.go (the writer process), history.go (the JSON-lines
// history), checker.go and staleness.go (the verdict), campaign.go (one seed end to end).
//
// Faults reach what the workload uses: cache events to the other region go to that region's SQS
// server through the WAN, so partitions, latency spikes (100-800 ms one way, across dualwrite's
// 200 ms follower budget) and one-way SQS cuts (sqs-cut) delay or hold them; overlapping skews
// of a region compose (ControlFault sums them); the writers' SecondInvalidation is set from the
// schedule's largest composed skew within cachesync's contract, and a history breaching the
// contract is a Finding of the campaign, not a Violation. The report counts per fault kind the
// faults injected and those that affected traffic (affectedTraffic); a failed injection counts
// for neither and opens no window.
//
// Invariants the checker enforces after healing and quiescing (each break is a Violation naming
// the operations involved):
//
//  1. lost-write / timestamp / invented: on each side (the primary keyspace in us-east-1, the
//     secondary in eu-west-1) every cell of kv is the write of some issued operation with that
//     operation's client timestamp as its writetime — value provenance is per cell: the mutation of
//     that key wrote that value with that timestamp (another key's value is invented, a definitely
//     failed write's value is failed-write) — and no acknowledged write is missing unless a write
//     with a higher timestamp (one that may have applied: not a definite failure) replaced it.
//     Every phase the schedule uses (dual, dual-flipped) writes both sides, so every acknowledged
//     write must be on both. A write that returned an error may or may not have applied
//     (Cassandra's rule): either is accepted, but a write seen applied (one of its cells, value and
//     writetime, on either side) must be there whole (torn-batch for a logged batch).
//  2. diverged: both keyspaces hold the same cells with the same writetimes (and forklift verify,
//     primary -> secondary with lww, is clean). stale-cache: every live cache entry of a row is
//     the database's value of that row, and every cache-only entry is the newest acknowledged set
//     or delete of its key, or newer, with the version its own set returned (version), never a
//     failed set's value nor another key's; a stale entry is explained only by the newest write
//     superseding it (not acknowledged, or its invalidation did not complete, or ElasticMQ, in
//     memory, was killed after it). stale-read: no cache read in a region returns a value older
//     than a write whose invalidation (each cache-del names its causing write: Cause) by its own
//     writer in that region completed before the read, while that region's keyspace was
//     the authoritative one (every fill reading it after the write sees the write, so the stale
//     value came from a fill that read before the write and was stored after the invalidation).
//  3. panic / drain / goroutines / dead-letter / spill / history: no child process panicked (its
//     whole log is searched), every writer's replay
//     log drained once the faults were healed, no goroutine of dualwrite or cachesync outlived the
//     writer's Close of its session and publisher, no dead-letter file or cachesync dead-lettered
//     event exists (the workload issues nothing a side or an agent could refuse), no cachesync
//     spill holds events after the writers exited, and every history line parses but a torn last
//     one. caller-wait: no write (acknowledged, failed or timed out) took longer than CallerWait
//     while its authoritative side was healthy; a fault whose injection failed opens no window and
//     is not counted.
//  4. Staleness of cache reads during faults and calm is reported as a distribution, not judged.
//
// The final-state checks are not linearizability questions (no operation reads what another
// wrote, except the cache reads, which promise only eventual consistency), so no linearizability
// checker is used: the model is last-write-wins by client timestamp, the rule both keyspaces and
// forklift's lww follow.
//
// A seed fixes the schedule and each writer's operations: every choice of a worker is derived from
// (seed, region, incarnation, worker, op index) alone (Plan), never from a service's answer or
// another worker's progress, and ids come from the same coordinates; every input that shapes the
// run (the fault kinds the world offered, rate, keys, longest fault, tombstone TTL …) is in the
// printed replay command, and a replay asking for a kind its world cannot offer stops
// (ErrKindNotOffered). The interleaving with real services is not deterministic, so a seed
// replays the same faults at the same times and the same operations, and usually, not always,
// the same bug.
package chaos
