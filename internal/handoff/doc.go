// Package handoff is the shared, durable store that a dualwrite session hands its replay backlog
// to, so that no acknowledged write depends on one instance's disk: a pod rescheduled with an
// empty directory, or never coming back, leaves its backlog here for any live instance of the
// same migration (the same scope) to adopt.
//
// The store holds batches of encoded replay entries (the bytes of dualwrite's entry codec: each
// keeps its original client timestamp and its absolute TTL expiry) and leases. The Cassandra
// implementation (CQLStore) keeps them in three tables of one keyspace (Schema):
//
//	handoff_batches  (scope, id)        side, entry_count, origin, holder, created: one row per batch
//	handoff_entries  ((scope, id), seq) entry blob: the batch's entries
//	handoff_leases   (scope, lease)     owner, with a TTL: who holds a batch or an origin's liveness
//
// Invariants (cited by dualwrite/handoff.go):
//
//  1. A batch is visible (its row in handoff_batches) only after all its entries are written: Put
//     writes the entries first, the batch row last. An adopter that reads fewer entries than the
//     row says (a replica behind) adopts nothing and tries again later.
//  2. A batch is deleted only after its entries are durable elsewhere: landed, or appended to a
//     live instance's local replay log (whose own hand-off then covers them again).
//  3. One claimer at a time: a batch is adopted only under a lease taken by a lightweight
//     transaction (INSERT … IF NOT EXISTS USING TTL); the lease expires by itself when its
//     claimer dies or pauses past the TTL, and the batch is then claimed by another. Two claimers
//     can only overlap after such an expiry, and then an entry is applied twice: harmless, it
//     carries its original timestamp (same cells, same writetime).
//  4. A batch whose holder is set (a background copy of entries still in a live instance's local
//     log) is not adopted while the holder's lease lives: the origin renews it while it runs and
//     deletes the batch once its own replayer passed every entry in it. When the origin dies
//     the lease expires and the batch is adopted like any other.
//  5. Counting the backlog (Backlog) sums the batch rows per side: a superset of what is owed
//     (a background copy also sits in its origin's local log), which is the safe side for an
//     authority check.
//  6. A batch has a kind (Batch.Kind, a suffix of its ID): replay entries, dead letters or
//     uncertain writes. All count against their side (5); an adopter keeps each where the origin
//     kept it (its replay log, its dead-letter log, its uncertain store), durably, before the
//     batch is deleted (2): a dead letter or an uncertain write is never replayed by adoption.
//  7. A claim is bounded by its lease: its context (holder check, lease, read, sink, delete) ends
//     TTL after the claim began, taken before the lease (whose TTL starts when the transaction
//     commits, rounded up to whole seconds), so a claimer stops no later than its lease ends,
//     whatever its pass did before, and a hung store call never stops the caller's loop.
//  8. The lease moves: a claimer whose claim failed (ran out of its lease, a pause, a slow disk
//     or replica, a short read) releases the lease and leaves that batch to the others for one
//     TTL. Without it, its own next pass, which lists the same batches oldest first and comes
//     at once, took the batch back before any other instance's pass came, claim after claim.
//     Alone in its fleet, it tries the batch again after the TTL. A pass lists again after each
//     batch it adopted (the oldest claimable first), so a batch freed while it adopted others is
//     taken in that pass; a lease a plain read shows held costs no transaction (a scope's leases
//     share one partition, where concurrent transactions contend), and an adopted batch's lease
//     is left to expire (it guards nothing any more).
package handoff
