// Package chaos is islands' fault campaign: for a seed it draws a schedule of faults (a nemesis),
// runs a workload of writes and cache operations from every region against the real local
// services while the faults happen, records every operation with its outcome as JSON lines (the
// history), heals, brings the datacenters together (hints, nodetool repair), quiesces, and checks
// the history against the final state of every datacenter (the checker).
//
// The topology is the seeds' (topology.go): the global keyspace replicated in every datacenter
// (us-east-1, eu-west-1, us-west-2; NetworkTopologyStrategy), written by each region's writer at
// LOCAL_QUORUM through its own region's node; the EU writers (two instances, writer-eu and
// writer-eub) dual-write the EU island beside it (dualwrite: the island the primary, the global
// keyspace the secondary) as instances of a migration (dualwrite.WithMigration), whose phase the
// nemesis flips between dual and dual-flipped through the control plane (migration.Change, then
// migration.Wait, as `islands migration set NAME PHASE --wait` does), pausing or killing an
// instance mid-flip on every other flip; every region's fills read the global keyspace in its own
// datacenter.
//
// Pieces, one file each: topology.go (regions, sides, writers), schedule.go (the seed's faults),
// nemesis.go (the Fault interface, the service faults of scripts/regions, the WAN's faults through
// Partitioner), process.go (child processes — writers, agents, forklift — and the faults on them,
// clock skew), migrate.go (phase flips through the control plane), workload.go (the writer
// process), agent.go (a region's cachesync agent on the region's skewed clock), history.go (the
// JSON-lines history), checker.go and staleness.go (the verdict), campaign.go (one seed end to
// end).
//
// Faults reach what the workload uses, and a fault that cannot is not offered: the global
// keyspace's replication and the cache events to other regions (each region's SQS server through
// the WAN) cross the WAN, so partitions, isolations of one region, latency spikes (100-800 ms one
// way, across dualwrite's 200 ms follower budget) and one-way SQS cuts (sqs-cut, every directed
// pair) delay or hold them; each Cassandra node, memcached, ElasticMQ, writer and agent is paused
// and killed; an EU writer is also killed with its replay directory deleted (kill-disk: it restarts
// on a fresh one, and what it owed travels only through dualwrite's hand-off, which the EU writers
// run with); a skew of a region shifts the clock of its writers (every write's timestamp, every
// cachesync version) and of its cachesync agent (islands-lab chaos-agent: cmd/cachesync takes no
// clock). Forklift is not skewed: its lww copy takes every timestamp from the source, and its clock
// only ages TTLs, which the campaign's table has none of. Overlapping skews of a region compose
// (ControlFault sums them); the writers' SecondInvalidation is set from the schedule's largest
// composed skew within cachesync's contract, and a history breaching the contract is a Finding of
// the campaign, not a Violation. The report counts per fault kind the faults injected and those
// that affected traffic (affectedTraffic); a failed injection counts for neither and opens no
// window.
//
// Invariants the checker enforces after healing and quiescing (each break is a Violation naming
// the operations involved):
//
//  1. lost-write / timestamp / invented: on each side (each datacenter of the global keyspace,
//     read there alone at LOCAL_ONE after heal, hints and repair, and the island, which holds the
//     EU writers' writes only) every cell of kv is the write of some issued operation with that
//     operation's client timestamp as its writetime — value provenance is per cell: the mutation of
//     that key wrote that value with that timestamp (another key's value is invented, a definitely
//     failed write's value is failed-write, a write of a region the side does not receive — a US
//     write on the island — is invented) — and no acknowledged write is missing unless a write
//     that may have applied (not a definite failure) beat it under Cassandra's reconciliation: a
//     higher timestamp, or at an equal timestamp a tombstone over a live cell, then the greater
//     value.
//     Every phase the schedule uses (dual, dual-flipped) writes both sides, so every acknowledged
//     write of an EU writer must be on both, and every acknowledged write of any region in every
//     datacenter: acknowledged in one region and not visible in another is a lost write (but a write missing
//     only on its follower whose writer's incarnation lost its disk — kill-disk — within
//     dualwrite's documented loss window after its acknowledgement, HandoffCopyAfter + a tick + a
//     copy's time plus the time the control keyspace's node or the writer was faulted, is
//     explained: lostDiskWindow; so is such a write still unanswered when the disk was lost
//     within that window after its invoke, which may be on the authoritative side only). A write that returned an error may or may not have applied
//     (Cassandra's rule): either is accepted, but applied or not consistently. A write is seen
//     applied when some side's state at some key only it can account for (evidence.go: its v cell
//     with its writetime; v absent where it is the only delete that may have removed an
//     acknowledged value; a set element only it may have added; an element only it may have
//     removed), and must then be there whole on every side that receives it: torn-batch when
//     another of its keys shows it on the same side, diverged when another side shows it (the
//     island and the global keyspace disagreeing on an EU write of unknown outcome). With several
//     writes of unknown outcome sharing keys, some choice of which applied — each wholly, on every
//     side that receives it, or nowhere — must explain the final state (explainOutcomes: no group
//     is skipped; only the writes that can change a cell are its variables, independent
//     components are searched apart, depth-first, newest write first, each cell checked forward
//     after each choice; a
//     component out of searchBudget is a Finding naming its writes, never clean by omission; a
//     cell no choice explains, a lost acknowledged write, is set aside and reported on its own):
//     none is diverged, or torn-batch when no choice explains one side alone.
//  2. diverged: the global keyspace's datacenters hold the same cells with the same writetimes
//     (and forklift verify, island -> global with lww, finds nothing missing but island cells a
//     newer delete from another region removed, which it cannot see). stale-cache: every live cache entry of a row is
//     the database's value of that row, and every cache-only entry is superseded by no set or
//     delete of its key that reached its region (each acknowledged one, and each whose error says
//     its event went out, is weighed on its own; a memcached kill after one excuses only while an
//     event carrying the entry's own value could still arrive), never in another region the value
//     of a set whose only event was an invalidation (failedWrite), with the version its own set returned (version), never a
//     failed set's value nor another key's, and — for a set of unknown outcome — with the version
//     the history records for it (Set returns it with its error), or, when none is recorded, a
//     version no later than the set's completion plus the history's largest composed skew and a
//     second (a hybrid clock follows only versions other clocks made); a stale entry is explained only by
//     the newest write superseding it that took effect, or may have, in the datacenter the
//     region's fills read (not acknowledged; or its process died before its invalidation
//     completed; or its invalidation returned the local memcached's error without the event
//     going out — when it went out, its second event reached the writer's own region too,
//     through its own queue; or ElasticMQ, in
//     memory, was killed after it: in another region, holding either event; in the writer's own
//     region, holding the second, which matters only when its fills read a lagging follower) —
//     and never when an acknowledged write superseding the entry had its invalidation reach the
//     region (every fill after it read that write or newer). A kill of ElasticMQ or memcached
//     excuses an event only when it began within SecondInvalidation + agentWindow (10 s: the
//     agent's poll, visibility timeout and retry) of healthy time after the event, only the fault
//     windows on the event's own path adding their length (its writer, the region's SQS server,
//     agent and memcached, the WAN from its origin: killLoses); a kill minutes later, or after
//     faults elsewhere, found the event applied; nor a kill its publisher's ResendWindow covers
//     (CheckOptions.ResendWindow, CampaignResendWindow: the publisher sent during the kill, at
//     most the window after the event, and outlived the kill — it resent the event:
//     resentAfterOutage). The entry is a Finding of the campaign
//     (SecondInvalidation shorter than the replica lag its faults caused is outside cachesync's
//     contract), not a Violation, only when every acknowledged write superseding it whose
//     invalidation reached the region got to the region's replica later than its second
//     invalidation (replicaArrival: the write's own replay log first, when its writer's follower
//     is the global keyspace's node in its datacenter — every datacenter gets it after that; then
//     the region's node paused, killed or cut off, and hints, a coordinator's pending hints
//     counting as the region's only while they outnumber the other datacenters' nodes cut since
//     the write and still cut). invented / failed-write of reads: every value a cache read
//     returned or a fill read is one a write of that key wrote and had invoked by the time the
//     read returned it, never another key's, nobody's or a definitely failed write's, nor that of
//     a write of unknown outcome the final state shows applied on no side that receives it (each
//     holds a cell it would have beaten; not judged for a write overlapping a Cassandra node
//     kill's window, commitlog sync period before to hints' delivery after); an empty
//     value on a hit is judged like any other (the workload never writes one). stale-read
//     of cache-only keys: no read in a region returns a value (of a set acknowledged or of
//     unknown outcome, at its recorded version) older (by version) than the
//     region's own acknowledged set or delete completed before it (both stored in its memcached
//     before they return), unless its memcached was killed in between. stale-read: no cache read in a region returns a value older
//     than a write whose invalidation (each cache-del names its causing write: Cause) by its own
//     writer in that region completed before the read (a phase flip in between excuses only the
//     reads of the region whose instances flipped), while the global keyspace was that
//     write's authoritative side (always for us-east-1's and us-west-2's writers; dual-flipped
//     for the EU writers) (every fill reading it after the write sees the write, so the stale
//     value came from a fill that read before the write and was stored after the invalidation).
//  3. panic / drain / goroutines / dead-letter / spill / history: no child process panicked (its
//     whole log is searched), every writer's replay
//     log drained once the faults were healed, no goroutine of dualwrite or cachesync outlived the
//     writer's Close of its session and publisher in any incarnation, every writer the final
//     state names (its publisher spill, Final.SpillDrained/Spill) recorded operations, no dead-letter file or cachesync dead-lettered
//     event exists (the workload issues nothing a side or an agent could refuse), no cachesync
//     spill holds events after the writers exited and the campaign's end-of-run publisher (opened
//     on each writer's spill as a restarted writer would, spilldrain.go) had up to
//     SpillDrainTimeout to send it, every history line parses but a torn last one (and a killed
//     incarnation's torn line with another incarnation's line glued to it, never one followed by
//     its own process's next line), each
//     operation completes at most once, and the history holds at least one operation (a
//     campaign whose writers never started checked nothing). caller-wait: no write
//     (acknowledged, failed or timed out; one without completion up to its process's death, the
//     wait it had before the kill) waited longer than CallerWait while its authoritative side and
//     its writer were healthy: a fault on either excuses the part of the wait it covered (and a
//     second after it), the rest is judged; a flip of its own instance still in progress as it
//     began (from the set, a second before its record, until the writer recorded the epoch
//     applied or `set --wait` returned: flipBarriers) excuses the barrier's bound (flipBarrier: the migration heartbeat bounding the switch, plus one
//     CallerWait for the old phase's writes it waits for) and faults on either phase's
//     authoritative side, not the whole wait. A fault window closes on its "end" step whatever Arg the
//     event carries ("end mid-flip"); a fault whose injection failed opens no window and is not
//     counted.
//  4. epoch: every write of an instance of the migration that began after a flip's `set --wait`
//     returned ran under that flip's epoch or a later one (migration invariant 3; each write
//     records the epoch its session had applied, read after the write's invoke time was taken),
//     in that epoch's phase (or a later epoch's set before it began: the session reads the
//     phase after the epoch); a migration instance's write carrying no epoch after such a wait
//     breaks it too. A wait that timed out promises nothing.
//  5. Staleness of cache reads during faults and calm is reported as a distribution, not judged.
//
// The final-state checks are not linearizability questions (no operation reads what another
// wrote, except the cache reads, which promise only eventual consistency), so no linearizability
// checker is used: the model is last-write-wins by client timestamp, the rule both keyspaces and
// forklift's lww follow.
//
// A seed fixes the schedule and each writer's operations: every choice of a worker is derived from
// (seed, writer, incarnation, worker, op index) alone (Plan), never from a service's answer or
// another worker's progress, and ids come from the same coordinates; every input that shapes the
// run (the fault kinds the world offered, rate, keys, longest fault, tombstone TTL …) is in the
// printed replay command, and a replay asking for a kind its world cannot offer stops
// (ErrKindNotOffered). The interleaving with real services is not deterministic, so a seed
// replays the same faults at the same times and the same operations, and usually, not always,
// the same bug.
package chaos
