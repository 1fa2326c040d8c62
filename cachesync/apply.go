package cachesync

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// errContention: the key kept changing under us; the caller retries the event later.
var errContention = errors.New("cachesync: key changed concurrently too often")

// contention is errContention for key, naming it by key_hash only: the agent logs it at warn (a
// hot key, the one most writers touch at once, is the one it happens to), and a cache key is
// member data (logkey.go).
func contention(key string) error {
	return fmt.Errorf("%w: key_hash %s", errContention, keyHash(key))
}

// ErrNotApplied: the write did not apply because the cache holds a newer version (Supersedes: a
// later time, or, for a value, a tombstone of its own time), or, for a fill, because the key
// changed since BeginFill. It wraps memcache.ErrNotStored, as gomemcache
// reports an Add that did not store.
var ErrNotApplied = fmt.Errorf("cachesync: not applied, a newer version is held: %w", memcache.ErrNotStored)

// The rules every write to a key follows (local writes through the Client and events applied by
// the Agent alike). held is what memcached holds, in is the write:
//
//	held \ in   value v                         tombstone v (a delete or an invalidation)
//	nothing     store v                         store tombstone v
//	value h     store v if v > h, else keep h   tombstone v if v > h, else keep h
//	tombstone t store v if v > t, else keep t   tombstone max(t, v) — always rewritten, so the
//	                                            CAS id changes and voids any fill in progress
//	fill (f)    store v if v > f, else          tombstone max(f, v)
//	            tombstone f
//
// ">" is Supersedes, the one order (the database's) on (version, kind): the later time wins; at
// one time a delete wins over a value or an invalidation (so a delete at the very version of the
// value held applies, and a value arriving after a delete of its time is refused); otherwise
// origin, then writer; at the very same version a value wins over an invalidation (the late
// second event of a replicated set, an invalidate-mode write's own event: they void what is
// older, never the value their own write stored). f is the version of the tombstone the fill
// replaced: a fill counts as a delete there, as an expired value, held or arriving, counts as
// the delete of its version. A fill never survives news about its key from elsewhere: its read
// may have missed that very write on a lagging replica.
//
// Every change is a gets + add/cas, retried when another writer got in between, so concurrent
// appliers and local writers never put an older version over a newer one.

// lifetimeMargin is how much longer than asked an item is kept in memcached. TombstoneTTL is
// also the age past which a set event is "late" (applied as an invalidation), so a tombstone
// must outlive it, and a fill's lease must outlive FillLeaseTTL: memcached's clock ticks once a
// second, so an item given N seconds lives N-1..N s, and a fractional lifetime would be
// truncated. 1 s for the tick, 1 s of margin.
const lifetimeMargin = 2 * time.Second

// lifetimeSeconds is the memcached expiration (seconds from now) of an item that must live at
// least d: d rounded up to whole seconds, plus lifetimeMargin. Invariant: every lifetime given to
// memcached as a duration is computed here (tombstones: tombstoneSeconds; the fill's lease:
// BeginFill), so no item lives less than asked; an absolute time (an expiry, a version's time)
// goes through itemExpiration, which adds these seconds, and the tick, to it.
func lifetimeSeconds(d time.Duration) int32 {
	return int32((d + lifetimeMargin + time.Second - 1) / time.Second)
}

// tombstoneSeconds is the memcached TTL of tombstones for a TombstoneTTL of ttl (lifetimeSeconds).
// Every tombstone lifetime is computed here.
func tombstoneSeconds(ttl time.Duration) int32 { return lifetimeSeconds(ttl) }

// itemExpiration is the memcached expiration of s stored at now. A value without an expiry lives
// until evicted. Anything else lives until the latest of:
//   - its own expiry (Expires: a value's; for a tombstone, a time it must hold until);
//   - now + tomb (tombstoneSeconds): a tombstone lifetime from now;
//   - its version's time + tomb: an event is "late" (applied as an invalidation, never as a value)
//     once this agent's clock is TombstoneTTL past its version, and an older event has an older
//     version, so a tombstone held until its own version's time plus TombstoneTTL plus the
//     margin stops every older set that is not late — whatever the skew between the clock that
//     stamped it and the clock that stored it. For a version stamped far ahead (a clock stepped
//     forward) this holds the tombstone until that time has passed, as the database holds the
//     write (see Agent.applyCache).
//
// So an expired value reads as a miss (Stored.At) but goes on holding back older writes, as the
// tombstone of its version would; without that an older set arriving after the expiry would be
// stored over it, and served for good.
//
// It is given to memcached relative to now (seconds from now, one more for memcached's tick), not
// as an absolute time: memcached turns an absolute time into its own clock with the wall clock of
// its start, so a skew between this clock and the server's would shorten the lifetime (the model
// found tombstones gone early that way). Beyond memcached's 30 days it is absolute.
func itemExpiration(s Stored, t times, tomb int32) int32 {
	now := t.wall
	if !s.Tombstone() && s.Expires == 0 {
		return 0
	}
	until := max(s.Expires, now.Unix()+int64(tomb), s.Version.Micros/1e6+int64(tomb))
	if d := until - now.Unix() + 1 + int64(t.pad/time.Second); d <= 30*24*3600 {
		return int32(d)
	}
	return int32(min(until, math.MaxInt32))
}

// times are the two readings of a clock the cache rules use. judge is the clock never going back
// (ratchet): lateness and expiries are judged by it (later is the safe side: a late event is an
// invalidation, an expired value a miss). wall is the clock as it reads: lifetimes are turned into
// seconds from it (earlier is the safe side: the item lives longer). They differ only after the
// wall clock was stepped back. pad (MaxDrift) is added to every lifetime: a clock may run that
// far ahead of the others without being refused, and a lifetime computed from a clock ahead is
// that much too short once it steps back (the model found it); a clock further ahead is broken
// (its events are "far ahead" elsewhere) and its own region's cache is healed by second events.
type times struct {
	judge, wall time.Time
	pad         time.Duration
}

// voidAt leaves a tombstone at v in key's place unless a strictly newer version is held: whatever
// is held at v or older (a value, even at v itself, a fill, an older tombstone, an item without a
// version) is replaced, and a missing key gets one. It is for a write whose outcome here is not
// known (a touch whose reply was lost): the key must neither keep serving a value at v whose
// expiry is uncertain, nor forget v — a plain delete would let an older set still in flight be
// stored. A tombstone at v held already keeps the longer of the two lifetimes.
func voidAt(mc Memcache, key string, v Version, tomb int32, t times) error {
	in := Stored{Version: v, Kind: KindTombstone}
	for attempt := 0; attempt < 16; attempt++ {
		it, err := mc.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = mc.Add(&memcache.Item{Key: key, Value: in.Encode(), Flags: FlagVersioned, Expiration: itemExpiration(in, t, tomb)})
			if errors.Is(err, memcache.ErrNotStored) {
				continue // someone added it meanwhile: compare against theirs
			}
			return err
		}
		if err != nil {
			return err
		}
		out := in
		if cur, derr := DecodeItem(it); derr == nil {
			cur = cur.At(t.judge)
			if Supersedes(cur.Version, cur.Kind, v, KindTombstone) {
				return nil // a newer version is held: it owes nothing to v
			}
			if cur.Tombstone() && cur.Version == v {
				out.Expires = max(cur.Expires, in.Expires)
			}
		}
		it.Value, it.Flags, it.Expiration = out.Encode(), FlagVersioned, itemExpiration(out, t, tomb)
		err = mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) {
			continue
		}
		return err
	}
	return contention(key)
}

// store applies in (a value or a tombstone) to key under the rules above, at t: an expired value,
// held or arriving alike, counts as the delete of its version (Stored.At), so the order of two
// writes never depends on which of them arrived first; tombstones live tomb seconds
// (tombstoneSeconds). applied is false when what was held won (a stale or duplicate write).
func store(mc Memcache, key string, in Stored, flags uint32, tomb int32, t times) (applied bool, err error) {
	in = in.At(t.judge)
	if in.Tombstone() {
		flags = 0
	}
	for attempt := 0; attempt < 16; attempt++ {
		it, err := mc.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = mc.Add(&memcache.Item{Key: key, Value: in.Encode(), Flags: flags | FlagVersioned, Expiration: itemExpiration(in, t, tomb)})
			if errors.Is(err, memcache.ErrNotStored) {
				continue // someone added it meanwhile: compare against theirs
			}
			return err == nil, err
		}
		if err != nil {
			return false, err
		}
		out, outFlags := in, flags
		applied = true
		if cur, derr := DecodeItem(it); derr == nil {
			cur = cur.At(t.judge)
			if !Supersedes(in.Version, in.Kind, cur.Version, cur.Kind) {
				// What is held is as new as the write, or newer (a fill counts as the delete of
				// its floor).
				switch {
				case cur.Kind == KindValue:
					return false, nil // a newer (or the same) value is held
				case cur.Tombstone() && !in.Tombstone():
					return false, nil
				case cur.Tombstone():
					// Rewrite it all the same (void fills in progress), holding as long as either;
					// it stays what it is (a delete or an invalidation).
					out.Version, out.Kind, out.Expires, applied = cur.Version, cur.Kind, max(cur.Expires, in.Expires), false
				default: // a fill
					out = Stored{Version: cur.Version, Kind: KindTombstone}
					applied = in.Tombstone()
				}
			}
		}
		if out.Tombstone() {
			outFlags = 0
		}
		it.Value, it.Flags, it.Expiration = out.Encode(), outFlags|FlagVersioned, itemExpiration(out, t, tomb)
		err = mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) {
			continue
		}
		return applied && err == nil, err
	}
	return false, contention(key)
}
