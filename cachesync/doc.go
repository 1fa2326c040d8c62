// Package cachesync keeps memcached in several regions warm and correct: each region's writes to
// its local cache reach the other regions through SQS, as full copies (replicate) or as
// invalidations, chosen per key prefix.
//
// The application writes through a Client (Get/GetMulti/Set/Add/CompareAndSwap/Delete/Touch/
// Increment/Decrement over gomemcache, with a context). After a local write the Client's Publisher
// sends a versioned Event to every other region's queue, in SendMessageBatch calls of up to 10
// entries. One Publisher holds one SQS client, which reaches one region (the SDK sends to its own
// endpoint and signs for its own region, whatever host a queue URL names): with more than one
// other region, the Client's Sink is a Fanout of one Publisher per destination region, each with
// that region's client and queue. In each region an Agent (cmd/cachesync, or in process) long-polls its queue and applies
// the events to its local memcached.
//
// # Versions
//
// Every stored value carries its version: a hybrid-logical-clock time in µs (internal/hlc), then
// the origin region as the tie-break. Client.Now gives one; the application writes the database
// at that time (USING TIMESTAMP v.Micros) and passes the same Version in Item.Version, so the cache
// and the database order the writes alike. The client's clock moves past every version it reads,
// so a write that follows another one it saw (in any region) is newer, whatever the clock skew;
// a version more than MaxDrift ahead is not followed (a clock stepped far ahead cannot drag the
// others). Set reports a write that lost to a newer version with ErrNotApplied (wrapping
// memcache.ErrNotStored) and sends nothing.
//
// # The rules (see store for the table)
//
// Events are applied with gets + add/cas: an older event never overwrites a newer value,
// duplicates change nothing, a delete or an invalidation leaves a versioned tombstone for
// TombstoneTTL (default 5 min). A set event older than TombstoneTTL (by the receiving agent's
// clock) is applied as an invalidation, never as a value: the tombstone that would have stopped it
// may have expired or been evicted. Counters (Increment/Decrement) replicate as invalidations.
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
// miss's get is BeginFill's).
//
// The delayed second invalidation (PublisherOptions.SecondInvalidation, SQS DelaySeconds) closes
// the window where a fill starts after the first invalidation but reads a replica that still
// lags: it replaces whatever fill it meets. A replicated set is followed by itself again, which
// does the same. Second events go to every region, the origin's own queue included
// (PublisherOptions.OwnQueue), since memcached can evict there too. They keep the write's own
// version (see SecondEvent for why not a newer one).
//
// What this needs: a region's database replica has a write by the time its second event arrives
// (SecondInvalidation > the replica lag); and, for the guarantee to survive memcached evicting a
// tombstone, TombstoneTTL + 2 × clock skew ≤ SecondInvalidation. Under those, after quiescence
// every region's cache holds the database's newest value of each key or nothing — the property
// the model test (model_test.go) checks on random interleavings of writes, lagging fills,
// duplicated, reordered and late events, evictions and skewed clocks.
//
// # Stored value format
//
// A value written by cachesync has the memcached flags bit FlagVersioned (1<<31; the application
// keeps the other 31 bits) and starts with a header (integers big-endian):
//
//	format = 2 (1) | version µs (8) | origin length (1) | origin (≤ 255) | kind (1) | value
//
// kind: 0 value, 1 tombstone, 2 fill. A value without the flag or with another format byte was
// written by something else (a plain memcached client, an older cachesync): it reads as a miss,
// counted in islands_cachesync_unversioned_values_total, and any write replaces it, so adopting
// cachesync on a warm cache is safe. Plain memcached clients reading cachesync's keys see the
// header. Region names are checked at construction (at most 255 bytes).
//
// Malformed messages and messages of an unknown format version are left undeleted with their
// visibility set to zero, so the queue's redrive policy moves them to its dead-letter queue after
// maxReceiveCount receives; they are counted and the agent goes on. Values whose encoded event
// would not fit one SQS message (MaxMessageBytes) are sent as invalidations instead, and counted.
//
// The same queues carry application events (Relay): Client.Emit sends a typed payload to the
// other regions and Agent.Handle registers the handler that runs there.
package cachesync
