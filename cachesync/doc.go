// Package cachesync keeps memcached in several regions warm and correct: each region's writes to
// its local cache reach the other regions through SQS, as full copies (replicate) or as
// invalidations, chosen per key prefix.
//
// The application writes through a Client (Get/GetMulti/Set/Add/CompareAndSwap/Delete/Touch/
// Increment/Decrement over gomemcache, with a context). After a local write the Client's Publisher
// sends a versioned Event to every other region's queue, in SendMessageBatch calls of up to 10
// entries. An SQS client reaches one region (the SDK sends to its own endpoint and signs for its
// own region, whatever host a queue URL names), so a Publisher reaches each destination region
// through that region's own client: NewPublisherTo takes one Destination (region, client, queue)
// per region. In each region an Agent (cmd/cachesync, or in process) long-polls its queue and
// applies the events to its local memcached.
//
// Both take the SQS interface (the calls cachesync makes; *sqs.Client implements it) and options
// in forklift's shape: a zero field takes its default (DefaultPublisherOptions,
// DefaultAgentOptions) and Validate names the first field out of range (ErrConfig).
//
// # Versions
//
// Every stored value carries its version: a hybrid-logical-clock time in µs (internal/hlc), then
// the origin region, then the writer (Version.Writer: each Client draws its own) as the
// tie-breaks. Invariant: no two writers stamp the same version. The instances of one region each
// have their own Client and clock and the same region name: two writing one key in the same µs
// stamped equal versions, the second Set took itself for the first one retried, returned nil
// without storing, and the regions kept whichever event came first, for good. The writer travels
// as "w" in events and inside the origin bytes of the stored header (after a 0 byte), so neither
// format changes: a reader before writers takes the origin bytes for one longer origin and orders
// versions as Less does; an agent before writers ignores "w" and orders two such writes of one µs
// by arrival, as before (upgrade agents first).
//
// Ties, the one rule (Supersedes, used by every write to a key: the Client's store, the agent's
// apply, events in any order, on the version and the kind): the later time (µs) wins; at one time
// a delete (an expired value, held or arriving, and a fill's floor count as one) wins over a value
// or an invalidation, whatever their origins and writers — Cassandra's rule, where a delete USING
// TIMESTAMP t shadows every value written at t; otherwise origin, then writer, the same way in
// every region; at the very same version a value wins over an invalidation (KindInvalidation: it
// voids what is older and fills, not the value its own write stored — the late second event of
// a replicated set, an invalidate-mode write's own event at its origin). Cassandra orders two
// values of one µs by their bytes, which a version cannot tell: the cache may then hold the other
// one of the two until the next write. It is a strict total order, so every region converges to
// the same entry whatever order the writes arrive in. So DeleteAt(k, v) over the value written at
// v deletes it, and a Set or Add at v after a delete at v is ErrNotApplied and is never sent as a
// set. A delete's second event is a delete again (SecondEvent).
//
// Client.Now gives one; the application writes the database
// at that time (USING TIMESTAMP v.Micros) and passes the same Version in Item.Version, so the cache
// and the database order the writes alike. The client's clock moves past every version it reads,
// so a write that follows another one it saw (in any region) is newer, whatever the clock skew;
// a version more than MaxDrift ahead is not followed (a clock stepped far ahead cannot drag the
// others). A write that replaces what it read (CompareAndSwap, Increment) is stamped after it even
// then. Set reports a write that lost to a strictly newer version (or to a tombstone of its time)
// with ErrNotApplied (wrapping memcache.ErrNotStored) and sends nothing; a Set or Add at the very
// version of the value held is that write retried (after ErrDropped, a timeout) and sends its
// event again. A Set or Add at a version older than TombstoneTTL by
// the client's clock is late, as an agent judges a set event: it is stored as a tombstone at its
// version and sent as an invalidation (never a value), counted in Client.Late and
// islands_cachesync_late_events_total, and returns nil. A version the agents would refuse (Micros
// ≤ 0, an origin over 255 bytes (250 with a writer), not valid UTF-8, or holding a 0 byte) is refused with ErrConfig before anything is
// stored or sent, as is Emit with an empty type or one that is not valid UTF-8 (JSON would carry
// it as U+FFFD, a type no handler matches), and a region name that is not valid UTF-8.
//
// Far-ahead versions, the one rule: the cache orders them as the database does. A region whose
// clock was stepped forward writes the database at a far-ahead timestamp, which wins there over
// every real write until real time passes it. An agent receiving an event stamped more than
// MaxDrift ahead of its clock applies it as a tombstone at the event's own version (counted in
// AgentStats.Ahead), held until that time has passed plus the tombstone lifetime: later real
// writes lose in the cache as in the database (ErrNotApplied, or stale), and reads miss and refill
// from the database, which returns the far-ahead write.
//
// A local write whose outcome memcached did not confirm (object too large, a timeout, a broken
// connection) still goes out — as an invalidation at its version, since the application wrote the
// database first — and the local key gets a tombstone at that version (or, failing that, a plain
// delete); the call returns the error. Keys memcached refuses (over 250 bytes, spaces, control
// bytes) are refused first, with memcache.ErrMalformedKey, and nothing is sent.
//
// # The rules (see store for the table)
//
// Events are applied with gets + add/cas: an older event never overwrites a newer value,
// duplicates change nothing, a delete or an invalidation leaves a versioned tombstone. A set event
// older than TombstoneTTL (default 5 min, by the receiving agent's clock) is applied as an
// invalidation, never as a value: the tombstone that would have stopped it may have expired or been
// evicted. So a tombstone lives until its version's time + TombstoneTTL + 2 s, and at least
// TombstoneTTL + 2 s from when it is written (rounded up to whole seconds), plus MaxDrift:
// memcached's clock ticks once a second (an item given N s lives N−1..N s); the version's time is
// what "late" is measured from, whatever the skew of the clock that wrote it; and a clock up to
// MaxDrift ahead that later steps back would otherwise have given it too short a life
// (itemExpiration, tombstoneSeconds; every lifetime given to memcached as a duration, the fill's
// lease too, is rounded up with that margin by one helper, lifetimeSeconds). Lateness and expiries are judged by a clock that never goes
// back (a backward step cannot make a late event look young); lifetimes are handed to memcached
// as seconds from now, since memcached turns absolute times into its own clock with the wall clock
// of its start.
//
// Expiries: a value's expiry (absolute unix seconds) is kept in its header. An expired value reads
// as a miss but holds back older writes as its version's tombstone would, for a tombstone lifetime
// (memcached keeps the item that long): a set whose expiry passed on arrival, or before an older
// set arrives, still stops it. Increment/Decrement keep the expiry, as memcached's incr does.
// Touch changes it here and, for the same version, in the other regions; a touch of a fill sends
// nothing (a fill has no version the other regions could match). A touch is never lost to
// reordering: a touch event arriving where its version is not held as a live value (the set it
// refers to has not arrived, or was evicted; an older value; a fill) is applied as the tombstone
// of its version, so the set it overtook (and its second event) is held back there and the key
// misses and refills from the database: no region serves a value past the expiry the
// application set. Touches of one version are ordered by their own stamp (Event.Touched, a
// version from the touching region's clock, kept in the value's header as Stored.Touched): the
// newest touch wins in every region, whatever order they arrive in. A touch is followed by itself
// again (its second event, as a replicated set is): where memcached evicted the touched value and
// a duplicate of its set (at least once: a redelivery, the spill, ResendWindow) stored it again
// without the touch, the second touch applies it. A touch memcached did not confirm (a timeout)
// still goes out, and the local value is replaced by a tombstone at its version, never deleted
// plainly (which would forget the version and let an older set in flight be stored). Counters (Increment/Decrement) replicate as
// invalidations.
//
// # Fills: leases, not versions
//
// A cache-aside fill reads the database after a miss and stores what it read. The read may come
// from a replica that lags a write whose invalidation already landed here; a fill stamped with
// its own version would then beat that invalidation (the classic race). So a fill is a lease:
//
//	tok, _ := c.BeginFill(ctx, key)        // after the miss, before the database read
//	v := readFromDatabase(key)
//	err := c.Fill(ctx, tok, &cachesync.Item{Key: key, Value: v}) // ErrNotApplied: voided
//
// BeginFill notes what the key holds (nothing, a tombstone, its CAS id); Fill stores only if the
// key is unchanged (add, or cas on that id). Every write and every invalidation that reaches the
// key rewrites it — an invalidation rewrites even a newer tombstone — so any of them landing
// between BeginFill and Fill voids the fill, whatever the versions and the clocks. A stored fill
// carries no version of its own (only the floor of the tombstone it replaced) and is replaced by
// the next write or invalidation of its key, older or newer. We chose leases over versions taken
// before the read because a version cannot tell whether a lagging replica had a write, while the
// CAS id tells exactly whether anything happened to the key; it costs no extra round trip (the
// miss's get is BeginFill's). The lease lives FillLeaseTTL: memcached is given it rounded up plus
// the margin every lifetime gets for its one-second tick (lifetimeSeconds), so a Fill within
// FillLeaseTTL finds it, and Fill voids one after FillLeaseTTL by the token's own clock.
//
// The delayed second invalidation (PublisherOptions.SecondInvalidation, SQS DelaySeconds) closes
// the window where a fill starts after the first invalidation but reads a replica that still
// lags: it replaces whatever fill it meets. A replicated set is followed by itself again, which
// does the same, and a touch by itself again (see Expiries). Second events go to every region, the origin's own queue included
// (PublisherOptions.OwnQueue), since memcached can evict there too. They keep the write's own
// version (see SecondEvent for why not a newer one).
//
// What this needs: a region's database replica has a write by the time its second event arrives
// (SecondInvalidation > the replica lag); and, for the guarantee to survive memcached evicting a
// tombstone, TombstoneTTL + 2 × clock skew ≤ SecondInvalidation. SQS delays whole seconds:
// SecondInvalidation is rounded UP (under a second: 1 s), never truncated, and the rule is judged
// on the rounded delay. Under those, after quiescence
// every region's cache holds the database's newest value of each key or nothing — the property
// the model test (model_test.go) checks on random interleavings of writes (with expiries, Add,
// CompareAndSwap, Touch, Increment), lagging fills, duplicated, reordered, spilled, resent and late
// events, missing second events, evictions, memcached timeouts and oversize values, and clocks
// skewed and stepped past MaxDrift, over a fake memcached with memcached's semantics; after every
// step it also checks that no cache holds a value older than one it held before (never older over
// newer), unless memcached evicted the key.
//
// # Stored value format
//
// A value written by cachesync has the memcached flags bit FlagVersioned (1<<31; the application
// keeps the other 31 bits) and starts with a header (integers big-endian):
//
//	format = 2 (1) | version µs (8) | origin length (1) | origin (≤ 255) | kind (1) |
//	[expires, unix s (8), when kind has bit 0x80] |
//	[touch stamp: µs (8) | origin length (1) | origin, when kind has bit 0x40] | value
//
// where each origin is the region's name, then, for a version with a writer, a 0 byte and the
// writer (4, big-endian).
//
// kind: 0 value, 1 tombstone (a delete), 2 fill, 3 invalidation (readers before pass 8 take it
// for an unversioned item: a miss any write replaces; upgrade agents first); bit 0x80 set when an expiry follows, bit 0x40 when a touch
// stamp follows (readers before it take a touched entry for a raw value: upgrade as below). Readers before issue 23
// take such an entry for a raw value, a miss that any write replaces: while old and new clients or
// agents share a memcached, an old one may put an older value over a newer expiring one (healed by
// the second event). Upgrade them together, agents first. A value without the flag or with another format byte was
// written by something else (a plain memcached client, an older cachesync): it reads as a miss,
// counted in islands_cachesync_unversioned_values_total, and any write replaces it, so adopting
// cachesync on a warm cache is safe. Plain memcached clients reading cachesync's keys see the
// header. Region names are checked at construction (at most MaxRegionBytes, 250, so the origin
// bytes hold the writer too; no 0 byte).
//
// Malformed messages and messages of an unknown format version are left undeleted with their
// visibility set to zero, so the queue's redrive policy moves them to its dead-letter queue after
// maxReceiveCount receives; they are counted and the agent goes on. A set event whose encoding
// would not fit one SQS message (MaxMessageBytes) is sent as an invalidation instead, whatever
// ClientOptions.MaxValueBytes says (the Publisher checks the encoded size), counted in
// Publisher.Degraded and islands_cachesync_degraded_to_invalidation_total; any other event that
// large is refused (ErrTooLarge). Event bodies hold only characters SQS takes (#x9 #xA #xD
// #x20–#xD7FF #xE000–#xFFFD #x10000–#x10FFFF): a key made of anything else (invalid UTF-8,
// U+FFFE, U+FFFF) goes as "key64" (base64), any other string carries such a character as a JSON
// escape, so keys travel losslessly and no event is refused for its characters (see Event). An
// entry SQS refuses for good all the same (InvalidMessageContents, too large: a sender fault) is
// never retried as it is: it is encoded again (a set as the invalidation of its version, a touch
// as the delete of its version: a touch that cannot be applied ends as a tombstone at its version
// everywhere, which wins over the touched value, where an invalidation at v would lose to the
// value at v) and sent at once, or, if nothing different can be sent, dropped; both are counted
// (islands_cachesync_refused_entries_total{outcome}, Publisher.Refused; drops also in
// Dropped) and logged, so it never holds a sender or the spill's drain. Every batch (the live
// batcher's, the spill's drain's, the ResendWindow resend's) is cut by one rule, BatchSize
// entries and MaxBatchBytes (256 KiB, SQS's limit on a SendMessageBatch's bodies) in all; a batch
// SQS refuses all the same as too long (BatchRequestTooLong) is split in halves, never retried
// whole.
// Only an unreachable memcached pauses an agent's receiving; a value memcached refuses (larger
// than its item size) is applied as an invalidation at its version, and a touch that makes the
// value it touches too large (its expiry and stamp join the header) as the delete of its version:
// the value is replaced, on its CAS id, by its version's tombstone (refusedItem), which wins over
// the value at that version, so no region serves it past the expiry the application set.
//
// Lag: a Publisher's batcher per destination forms batches and hands each to one of Senders calls
// in flight, so a round trip (the WAN) does not hold batching back; size the SQS client's idle
// connection pool to them (SQSHTTPClient), and a *memcache.Client's MaxIdleConns to the agent's
// Appliers (gomemcache keeps 2 idle: every concurrent apply beyond them dialled a connection).
// OnSent (PublisherOptions) and OnStages/OnDeleted (AgentOptions) give each event's times per
// stage; bench/cachesync prints the breakdown per percentile.
//
// Spill: one durable log per destination queue under SpillDir (spill.go), each drained and
// committed on its own, so a region that is down holds back and resends only its own events. A
// drain round makes progress as the live sender does: it notes each record SQS took, never sends
// one again, retries only those a call failed for, and commits the prefix SQS took wholly (an SQS
// that loses a share of its calls drains the spill all the same, and the events behind it go out);
// SpillMaxBytes is shared evenly among them. A spill written before (one log in SpillDir itself)
// is moved into them when a Publisher opens the directory; a destination's share is widened for
// that run by what the old spill holds for it, so the move always fits. A spill's pending count
// follows the log's own count (an append that lands after its caller stopped waiting is sent all
// the same). ResendWindow judges an event by when its send began (resendState): an outage
// resends what was accepted from sends begun within the window before its first failure, answers
// read later included, and only a call begun after that failure ends it. What an outage set aside
// to resend is spilled by Close; an event is resent at most once, however often SQS flaps. Close stops sending a reserve before
// its deadline (half the time left, at most 1 s) and spills what is left; spill appends may
// complete up to 500 ms past the deadline (durability of accepted events first, within a bound),
// then every spill append not yet durable is ended, and those events are counted as dropped and
// logged (an append the disk completes later is found by the next Publisher on the directory: a
// duplicate); a Publish waiting for room when Close begins stops waiting and spills its event;
// Close returns by its deadline plus at most that grace, with every goroutine of the Publisher
// stopped, not waiting for a spill writer stuck in a write or an fsync, nor a spill drainer stuck
// in a read or its cursor's fsync (its error says so). Publish returns within PublishTimeout in
// all (the wait for room and the spill's fsync share it), plus at most 1 s when it spilled, to
// hear the spill's answer, and no later than Close's end of the spill appends (its deadline plus
// the grace): nil only once the spill confirmed the event durable, ErrDropped when it refused it
// (a full spill, even after the caller's context ended; an append Close ended), ErrUnconfirmed
// when it had not answered (a stalled disk: the append goes on, sent if it lands). No lock is held
// while a Publish waits on the disk, so neither Close nor other Publish calls wait for it.
//
// Destinations: NewPublisherTo sends to each region's queue through that region's own SQS client
// (in AWS each region's SQS is its own endpoint and credential scope), queues given by name or
// URL as the agent takes them (QueueURL). NewClient refuses a Publisher whose SecondInvalidation
// breaks the rule above (CheckSecondInvalidation, ErrConfig), whether it reaches one region or
// several; a Sink of the application's own that wraps Publishers is checked only if it has a
// SecondInvalidation method (call CheckSecondInvalidation yourself otherwise).
//
// The same queues carry application events (Relay): Client.Emit sends a typed payload to the
// other regions and Agent.Handle registers the handler that runs there.
//
// Logs and member data: a cache key is member data ("member:<email>"). At info, warn and error
// cachesync logs a key only as key_hash (16 hex digits of HMAC-SHA-256 over its bytes under the
// process's key, ISLANDS_LOG_HASH_KEY or a random one: the same key, the same hash, and without
// the hash key no candidate can be tested); the key itself is logged at debug level only. The
// errors cachesync logs itself (contention: a key that kept changing) name a key by key_hash, and
// an error logged beside a key has that key replaced by its key_hash in the line. Errors returned
// to the caller (ErrNotApplied, ErrDropped, …) name the key the caller passed: log them as member data.
package cachesync
