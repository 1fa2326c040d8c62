// Package migration is the control plane of a migration that runs across a fleet of instances:
// the phase every dualwrite session of a service must be in, kept in a Cassandra control keyspace,
// and each instance's acknowledgement of it.
//
// The control keyspace (default islands_control, NetworkTopologyStrategy in every datacenter of the
// global cluster) holds two tables:
//
//	migrations (name PRIMARY KEY): phase, epoch, changed_by, changed_at, previous_phase,
//	                               forklift_state, forklift_by, forklift_started, forklift_ended
//	instances  ((migration), instance): region, epoch, phase, backlog, backlog_age_ms,
//	                               dead_letters, last_error, control_read_age_ms, flips,
//	                               updated_at — written USING TTL (the heartbeat)
//	handoff_batches, handoff_entries, handoff_leases: dualwrite's handed-off replay backlog
//	                               (internal/handoff); Status counts it per side (Fleet.HandedOff)
//	                               and Wait does not return while the authority of the phase it
//	                               waits for is owed any of it (whatever the phase before)
//
// Invariants:
//
//  1. A migration's epoch only grows, by exactly one per change, and the phase changes only with
//     it: every change is a lightweight transaction `IF epoch = <the epoch read>` (creation: `IF
//     NOT EXISTS`) at SERIAL, so of two operators racing from the same epoch exactly one wins; the
//     other gets ErrConflict with the state that won.
//  2. A change moves one step along primary-only → dual → dual-flipped → secondary-only (forward or
//     back); a skipped step is refused with ErrSkippedStep unless forced, and a forced change is
//     recorded as such in changed_by.
//  3. An instance registers (heartbeat at epoch -1, alive for its whole Open, its age counted from
//     when it was sent) before it reads the phase at SERIAL, and acknowledges an epoch (heartbeat
//     with that epoch) only after its session switched to the epoch's phase through the dualwrite
//     barrier and its state file holds the epoch; Open returns only once the epoch it applied is
//     acknowledged. Hence when Wait sees every live instance at epoch >= E, every write that begins
//     afterwards, on any of them, runs in the phase of E or later: an instance that read the
//     control keyspace before the change has a heartbeat below E, one that registers later reads
//     E or later (SERIAL: not a lagging replica's older epoch), and none restarts below E.
//     WriteHeartbeat rounds the TTL up to whole seconds: a row never expires before the TTL asked.
//  4. Wait and ForkliftGate read the heartbeats at EACH_QUORUM (heartbeats are written at
//     LOCAL_QUORUM), never less: a region the operator cannot read is an error, never an empty
//     region, since a heartbeat row that expired in a partitioned replica would otherwise look like
//     an instance that left. Status may fall back to LOCAL_ONE and then says so (Partial).
//  5. A live instance is one whose heartbeat row has not expired (TTL); a stale one is live but has
//     not heartbeated within StaleAfter. Stale instances still block Wait and ForkliftGate: a paused
//     process may resume and write in its old phase.
//  6. ForkliftGate judges an instance by the epoch it applied, not only by its phase: one that
//     acknowledged epoch e may be switching to any epoch up to the current E, so it counts as
//     writing both sides only if its phase and every phase of (e, E] do. The row knows the phases
//     of E and E-1 (previous_phase), so an instance more than two epochs behind blocks the copy
//     (dual, then back to primary-only, then dual again: a heartbeat still saying "dual" from the
//     first proves nothing). The row is read at SERIAL after the heartbeats, so no heartbeat shows
//     an epoch newer than it.
//  7. An instance applies only epochs it read from the row, and the row's epoch only grows; a
//     heartbeat newer than the row therefore shows a row that went back (a control keyspace
//     restored from a backup), and that instance refuses the row's epochs as older than its own.
//     It counts as not having applied the row's epoch, in Wait (Behind: an epoch other than the
//     one waited for) as in ForkliftGate (aheadOfRow), and is named with its last error.
//  8. Wait and ForkliftGate read the migration's row at SERIAL, the consistency its changes commit
//     at, after the heartbeats (never at LOCAL_QUORUM, which may miss the LWT and show the epoch
//     before it, whose phases hide a change of authority and the backlog owed to it). Status, the
//     operator's display, reads it at LOCAL_QUORUM (LOCAL_ONE when partial).
//
// What the control plane does not do: it cannot stop an instance that was cut off (or paused) for
// longer than the heartbeat TTL from writing in its last phase when it comes back: its row has
// expired and it no longer counts. Choose the TTL longer than any pause an instance survives, or
// restart such instances.
package migration
