// Package cachesync keeps memcached in several regions warm and correct: each region's writes to
// its local cache reach the other regions through SQS, as full copies (replicate) or as
// invalidations, chosen per key prefix.
//
// The application writes through a Client (Get/Set/Add/CompareAndSwap/Delete/Touch over
// gomemcache, with a context). After a local write the Client's Publisher sends a versioned Event
// to every other region's queue, in SendMessageBatch calls of up to 10 entries. In each region an
// Agent (cmd/cachesync, or in process) long-polls its queue and applies the events to its local
// memcached.
//
// Order: every stored value carries its version (the write's time in µs, then the origin region
// as the tie-break) in a small header, and events are applied with gets + compare-and-swap, so an
// older event never overwrites a newer value, duplicates change nothing, and a delete leaves a
// versioned tombstone (for TombstoneTTL) that an older set arriving late cannot get past. Because
// of the header every reader goes through Client.Get (or Decode).
//
// Stored value format (all integers big-endian):
//
//	"cs1" | version µs (8) | origin length (1) | origin | flags: 1 = tombstone (1) | value
//
// Malformed messages and messages of an unknown format version are left undeleted with their
// visibility set to zero, so the queue's redrive policy moves them to its dead-letter queue after
// maxReceiveCount receives; they are counted and the agent goes on. Values whose encoded event
// would not fit one SQS message (MaxMessageBytes) are sent as invalidations instead, and counted.
//
// The same queues carry application events (Relay): Client.Emit sends a typed payload to the
// other regions and Agent.Handle registers the handler that runs there.
package cachesync
