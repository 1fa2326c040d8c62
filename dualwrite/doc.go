// Package dualwrite is one application session that writes every mutation to two Cassandra keyspaces
// (in one cluster or two) while a migration moves data between them, and reads from the side the
// migration phase names.
//
// Adopting it changes where the session is built and the session's type, not the queries: the
// application calls dualwrite.Open with its two cluster configs where it called
// cluster.CreateSession(), and the code holding the session takes a *dualwrite.Session (or an
// interface of the methods it uses) instead of a *gocql.Session; the query code —
// Query(…).WithContext(ctx).Exec(), Iter().Scan(), MapScan, batches — stays as it is:
//
//	session, err := dualwrite.Open(ctx, islandCluster, globalCluster, dualwrite.WithReplayDir("/var/lib/app/dualwrite"))
//	...
//	err = session.Query(`UPDATE profiles SET plan = ? WHERE member_id = ?`, plan, id).WithContext(ctx).Exec()
//
// A session starts in primary-only unless WithPhase says otherwise: deploying the wrapper changes
// nothing the application stores until someone decides to dual-write (SetPhase(Dual) at run time,
// or WithPhase(Dual) at the next deploy).
//
// Open owns its gocql sessions and rebuilds a side whose pool has emptied ("no hosts available in
// the pool", which gocql does not recover from by itself with a single host or with the initial
// host lookup disabled) as soon as a fresh connection to it succeeds. New takes sessions the
// caller owns: recovery is then the caller's, and while such a side has no connections the
// session logs a warning naming it (every 10 s) and sets islands_dualwrite_side_cannot_heal.
//
// Every write (or batch) gets one client timestamp in microseconds, sent to both sides, so the two
// copies reconcile to the same cells whatever order the writes land in, and a write replayed later
// with its original timestamp can never overwrite a newer one. Statements that call non-deterministic
// functions (now(), uuid(), currentTimestamp() and the rest of Cassandra's impure functions,
// under their Cassandra 5 snake-case names too: current_timestamp(), current_date(),
// current_time(), current_timeuuid()) would store different values on each side and are refused
// (ErrNonDeterministic) unless the caller opts in. In the dual phases a statement that is not a
// row mutation — TRUNCATE, USE, a schema or access change — is refused (ErrNotReplayable): it has
// no timestamp, so a copy kept for a side that missed it would, replayed later, undo the writes
// acknowledged after it (a TRUNCATE erases them). Run it on each side with your own gocql session
// (a TRUNCATE with the writers stopped and the backlog drained); in primary-only and
// secondary-only it goes to that one side and is never kept. One kept by an earlier version is
// dead-lettered by the replayer, never applied.
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
// first write (ErrMigrationUnknown when it cannot and no earlier phase is known), and returns only
// once the instance's heartbeat row has lived without a lapse from the read it applied until the
// heartbeat after it landed (bounded by the shortest TTL of any heartbeat sent, answered or not,
// from the sending of the last that landed; otherwise it reads again); a watcher
// applies each new epoch through SetPhaseWait and only then acknowledges it in the instance's
// heartbeat, so every write that begins after `islands migration set --wait` returned runs in the
// new phase. Such a session refuses SetPhase and SetPhaseWait (ErrPhaseControlled) and ignores
// WithPhase; a phase from MigrationStateFile goes through the same owed-writes check, and Open
// never applies an epoch older than the state file's; the file names its migration, and Open
// refuses another migration's (ErrMigrationStateFile). Cut off from the control keyspace, a
// session keeps its phase and says so (Migration, metrics, logs). Close deletes the instance's
// heartbeat only when it owes nothing — replay backlog, dead letters and uncertain writes, counted
// as the authority checks count them — or the hand-off confirmed all of it stored; otherwise the
// row is left to expire after its TTL. A Strict session (no replay log) may run WithMigration.
// See docs/migration.md.
//
// SetPhase is a barrier: it returns once every write of the old phase has finished or been kept
// in the replay log (appends still under way included), and it refuses (ErrAuthorityBacklog;
// SetPhaseWait waits instead) to make a side authoritative while the replay log still holds
// writes, or while that side has dead letters (acknowledged writes it lacks until an operator
// retries or drops them with `islands replay`) or uncertain writes (a counter update or a
// conditional write whose outcome on it is unknown, never replayed: until an operator reconciles
// them and drops them with `islands replay drop --uncertain`); the error names each count and the
// command. Opening a session (New, Open) is the same switch, from a phase nobody knows (an
// earlier process may have run with the other side authoritative), whichever side the phase
// makes authoritative. Straight into dual-flipped or secondary-only over a replay directory that
// holds writes for the secondary (backlog, dead letters or uncertain writes): refused at once;
// open in dual, whose replayer drains the backlog, then SetPhaseWait. Into primary-only or dual
// over acknowledged writes kept for the primary (kept while the secondary was authoritative): the
// session's replayer runs and New and Open wait for them at most WithOpenWait (default 5 s; Open
// also no longer than its context), then refuse the same way; open in dual-flipped, then
// SetPhaseWait(Dual); the primary's acknowledged dead letters and uncertain writes (left while
// the secondary was authoritative) refuse at once. Writes kept because their leader failed (the
// caller was told so), whether replay entries, dead letters or uncertain records, are marked
// Unacked and are not counted at open; a record without the mark (written by an earlier version)
// counts. An entry kept for the follower before the leader answered (the follower-down path, the
// ¾-budget early entry) is kept unmarked; when the leader then fails, it is replaced by an Unacked
// copy and withdrawn (durably, before the caller is told), so only a crash before the caller
// was told leaves it counted (the safe side: the next open waits for it or refuses, never loses
// it). Writes kept for the other side do not count. A session WithMigration is checked the same way in the phase it first applies (from the control keyspace or
// the state file): into primary-only or dual, each attempt waits at most WithOpenWait, and Open
// refuses (ErrAuthorityBacklog) once its open deadline (MigrationOpenTimeout) has passed. A write
// waits for a pending SetPhase only as long as its context allows: one that cannot start by its
// deadline fails with the context's error and is sent nowhere; so does a write whose context is
// already done when it starts (neither side, nor the replay log).
//
// In the dual phases one side is authoritative (primary in dual, secondary in dual-flipped) and the
// other is the follower. The failure policy says what a follower failure does:
//
//   - PrimaryAuthoritative (default): the caller's write succeeds when the authoritative side
//     accepts it; a follower failure, or a follower that has not answered within the follower
//     budget (WithFollowerBudget, default 200 ms, bounded by the caller's deadline), is appended to
//     the durable replay log (fsync before the caller returns, the wait bounded by the caller's
//     context) and a replayer applies it again, with the original timestamp, until it lands. A
//     follower that refuses the write (an unknown column or table while a schema change
//     propagates, a grant on its way) is kept the same way: the caller's write was accepted by the
//     side that decides, and the replayer's classification and dead-letter floor (below) decide
//     its fate; until then it counts as backlog, then as a dead letter, against that side's
//     authority.
//   - Strict: both sides must accept; a follower failure is returned to the caller as ErrFollower
//     (the authoritative side may already hold the write, exactly as after a Cassandra timeout).
//     This holds for counter updates (a failed follower update is also recorded as uncertain) and
//     for conditional writes: a follower that failed returns ErrFollower, while a follower that
//     answered with a different outcome did decide and is only counted and logged (below).
//   - Async: the follower write goes to a bounded in-memory queue served in the background; a
//     failure or a full queue goes to the replay log. SetPhase and Close give the queue the
//     follower budget to drain, then cancel the copies still queued or running and keep them in
//     the replay log: a hung follower never holds a switch or Close. A crash loses the queued tail
//     (not what was already logged): choose PrimaryAuthoritative when that matters. A failed
//     copy the replay log cannot keep (full, or the disk full) is held in memory and appended
//     again once the log has room (on a full disk with the replay directory's reserve); while
//     held it counts against its side's authority as an in-memory uncertain write does (SetPhase
//     refuses, naming it; WaitReplayed does not wait for it), and it is counted
//     (Stats.AsyncUnkept, islands_dualwrite_async_unkept_total, _async_unkept_entries) and logged
//     at error. At most the queue's size is held: past it, a copy is kept while the caller waits,
//     and a full log fails the write with ErrReplayLogFull. Close gives held copies the follower
//     budget (at least 1 s); one still held then is lost for its side: logged at error one by
//     one with what to do, and counted (Stats.AsyncLost, islands_dualwrite_async_lost_total).
//     A write whose values no replay log could ever keep (ErrUnencodable) is refused before either
//     side is sent it, since the caller is answered before the follower: its values are encoded
//     once, before sending, and the bytes reused by any entry kept for it.
//
// The replay log is append-only segment files with a CRC per record, fsynced in groups (one fsync
// covers every write that failed meanwhile), bounded in bytes. A file beside the application rather
// than a Cassandra table because the moment it is needed is the moment a cluster is unreachable; a
// new session on the same directory finds and drains what an earlier process left. When the log is
// full the write fails with ErrReplayLogFull, and on a full disk with the file system's error
// (ENOSPC): losing a write silently is never an option. A full disk is survivable: the replay
// cursor is written in place in space reserved for it, so the backlog drains and frees its
// segments once the side is back. A withdrawal and an uncertain record do not depend on the free
// space either: FileLog keeps DIR/reserve (zeros, freed in halves for them when the disk is
// full), an entry is kept ahead of its leader's answer only with its withdrawal's space promised,
// a withdrawal that still cannot be written is retried until durable (the caller waits as its
// context allows), and an uncertain record that cannot be kept fails the caller's write
// (ErrFollower) rather than live in memory only.
//
// WithHandoff makes the backlog survive the loss of the instance and its disk (a rescheduled
// pod): entries logged more than HandoffCopyAfter ago (2 s) are copied in the background to a
// shared store in Cassandra (the migration's control keyspace, or HandoffKeyspace in the cluster
// that accepted the write), held by the instance's liveness lease; Close drains for at most
// HandoffDrain, then hands what is left to the store and empties the local log, and hands its
// dead letters and uncertain writes off too (adopters keep them aside, never replay them, and never
// take one owed to the side their own phase reads: it stays in the store); any live instance
// of the same migration adopts what an instance left, one claimer per batch under an LWT lease
// that expires if the claimer dies (each claim bounded by its lease; a claimer that failed on a
// batch leaves it to the others for one lease, so the lease moves), by appending the entries
// (original timestamps and TTL expiries) to its own replay log — except the entries owed to the
// side the adopter's phase reads, which it replays there before the batch leaves the store. A side's shared backlog counts against its authority (Open's
// check included; a listing that failed or is stale counts as one). The
// window a crash that also loses the disk can lose is the last HandoffCopyAfter + a tick + a copy's
// time: the copy runs in a loop of its own, which adoption never holds back (Handoff().UnsharedAge
// and islands_dualwrite_handoff_unshared_age_seconds measure it when read). With HandoffKeyspace
// each side's store stands alone: a copy renews the liveness lease only in the store it writes to,
// and one store that fails or hangs (its cluster down) never stops the other side's copies,
// renewals, adoption or listing. See handoff.go's invariants.
//
// The replayer applies each side's entries with that side's own workers and holds each side's
// entries in its own bounded window; a side's backlog beyond its memory cap is parked (two log
// positions) and read again once it has room, so a side that is down, however long its backlog,
// never holds up the other. An entry is set aside in the dead-letter log only for a reason of its
// own: at once for a syntax error or a value that cannot be encoded; after at least 5 attempts
// and 10 s for any other refusal (an unauthorized answer is not a refusal when the authorizer
// could not read system_auth, or when the side accepted a write on the same table before: the
// same keyspace-qualified table as that side is sent it, after the keyspace map); and a
// transient failure only when, after 20 attempts, at least 20 entries of the same side landed
// meanwhile. The TTL of a replayed USING TTL write is what remains of it counted from when the
// leader answered the write (when it was sent, for an entry kept before that), never from when
// the entry was kept: time in the async queue or the follower budget does not lengthen the
// follower's copy (Cassandra counts a TTL from the write's arrival, whatever its timestamp). The
// same rule (the same code) trims an Async follower copy that waited a second or more in the
// queue: it is sent with the TTL remaining since the leader answered. A
// bound TTL is read as gocql marshals it (Go integers, a string of digits, a gocql.Marshaler); one
// gocql cannot marshal fails the write with gocql's MarshalError, on neither side, kept nowhere.
//
// Statements are read by a small CQL lexer (quoted names, string and $$ literals, comments, any
// case), never by patterns over the raw text. Lightweight transactions (any IF clause, on quoted
// columns too): the authoritative side decides; the follower runs the same statement and a
// different outcome is counted and logged (it is never replayed: its condition may no longer
// hold); a follower that failed (its outcome unknown) is recorded as uncertain, as counters are. Counter updates cannot carry a timestamp and are not idempotent: they go to both sides,
// and a failed follower update is recorded as uncertain (Uncertain, metric) and never replayed;
// when the leader fails too, each side whose outcome is unknown is recorded.
// An increment c = c ± x, or its shorthand c += x, c -= x, is a counter update when x is an
// integer or, whatever the Go type of x or the batch type, when the leader's schema says c is a
// counter column. Every column operation of Cassandra's grammar is classified: c = x, c = x + c,
// c = c ± x, c += x, c -= x, c[k] = x, c.field = x.
// List appends (l = l + x, l += x), prepends (l = x + l), index operations, and whole-list writes
// (l = x, INSERT naming l) of a non-frozen list (each element is a fresh cell per application) are
// not idempotent either: in the dual phases they are refused (ErrNotIdempotent) before reaching
// either side; a frozen<list>, a set or a map is the idempotent form. When the authoritative side fails a
// write the follower may have applied it: unless the leader refused it outright it is kept for
// the leader too, so both sides converge (the caller still gets the leader's error). A write the
// leader refused outright is kept for nobody: an entry appended for the follower before the
// leader answered (a follower that is down, or silent ¾ into its budget) is held until then, and
// withdrawn, never replayed, when the leader refuses. The withdrawal is durable (FileLog:
// DIR/withdrawn) before the caller is told, so no later session on the directory replays it
// either; a process that ends before then had not answered its caller, and the entry replays.
//
// Values are detached from the caller's memory before the follower is sent the write: the values
// slice, []byte contents and every slice or map value (one level deep) are copied, so a caller
// reusing a buffer once Exec returns (legal with gocql) never changes what the follower or the
// replay log receives. Pointers are not followed.
//
// A follower outage is never silent: with WithLogger, a watcher logs (rate-limited, WithHealthLog)
// when a side starts failing or missing its budget, when the replay backlog starts growing, and
// when each is over, with the episode's counts in one line.
//
// Reads go to the read side only; with WithShadowReads a sampled fraction also runs on the other side
// in the background and mismatching results are counted and logged with the statement and a hash
// of the values (member data; the values themselves at debug level only).
//
// Logs and member data: a statement's values, bound or written as literals in its text, are member
// data. At info, warn and error every line (shadow mismatches, dead letters, withdrawn and uncertain
// writes, a lost async write) carries the statement with its string, number, blob and UUID literals
// masked as *** and key_hash, a keyed hash of its bound values (HMAC-SHA-256 under the process's
// key, ISLANDS_LOG_HASH_KEY or a random one: the same values give the same hash, and without the
// hash key no candidate can be tested); the values and the statement as written are logged at
// debug level only. The errors the package builds (ErrNonDeterministic, ErrNotReplayable,
// ErrNotIdempotent, ErrUnencodable) quote the statement masked the same way: the caller logs a
// refused write's error. A Cassandra error (err) is logged as the driver gives it: a server's
// syntax error may quote part of the statement.
package dualwrite
