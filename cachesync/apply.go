package cachesync

import (
	"errors"
	"fmt"

	"github.com/bradfitz/gomemcache/memcache"
)

// errContention: the key kept changing under us; the caller retries the event later.
var errContention = errors.New("cachesync: key changed concurrently too often")

// ErrNotApplied: the write did not apply because the cache holds a newer version (or, for a
// fill, because the key changed since BeginFill). It wraps memcache.ErrNotStored, as gomemcache
// reports an Add that did not store.
var ErrNotApplied = fmt.Errorf("cachesync: not applied, a newer version is held: %w", memcache.ErrNotStored)

// The rules every write to a key follows (local writes through the Client and events applied by
// the Agent alike). held is what memcached holds, in is the write:
//
//	held \ in   value v                         tombstone v
//	nothing     store v                         store tombstone v
//	value h     store v if v > h, else keep h   tombstone v if v > h, else keep h
//	tombstone t store v if v > t, else keep t   tombstone max(t, v) — always rewritten, so the
//	                                            CAS id changes and voids any fill in progress
//	fill (f)    store v if v > f, else          tombstone max(f, v)
//	            tombstone f
//
// f is the version of the tombstone the fill replaced. A fill never survives news about its key
// from elsewhere: its read may have missed that very write on a lagging replica.
//
// Every change is a gets + add/cas, retried when another writer got in between, so concurrent
// appliers and local writers never put an older version over a newer one.

// store applies in (a value or a tombstone) to key under the rules above; a tombstone lives
// tombstoneTTL seconds. applied is false when
// what was held won (a stale or duplicate write).
func store(mc Memcache, key string, in Stored, flags uint32, expiration, tombstoneTTL int32) (applied bool, err error) {
	for attempt := 0; attempt < 16; attempt++ {
		it, err := mc.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = mc.Add(&memcache.Item{Key: key, Value: in.Encode(), Flags: flags | FlagVersioned, Expiration: expiration})
			if errors.Is(err, memcache.ErrNotStored) {
				continue // someone added it meanwhile: compare against theirs
			}
			return err == nil, err
		}
		if err != nil {
			return false, err
		}
		out, outFlags, outExp := in, flags, expiration
		applied = true
		if cur, derr := DecodeItem(it); derr == nil {
			switch {
			case cur.Kind == KindValue && !cur.Version.Less(in.Version):
				return false, nil // a newer (or the same) value is held
			case cur.Kind == KindTombstone && !cur.Version.Less(in.Version):
				if in.Kind != KindTombstone {
					return false, nil
				}
				out.Version, applied = cur.Version, false // rewrite it all the same: void fills in progress
			case cur.Kind == KindFill && !cur.Version.Less(in.Version):
				out = Stored{Version: cur.Version, Kind: KindTombstone}
				applied = in.Kind == KindTombstone
			}
		}
		if out.Kind == KindTombstone && in.Kind != KindTombstone {
			// A value that lost to a fill's floor: the tombstone keeps the tombstone lifetime.
			outFlags, outExp = 0, tombstoneTTL
		}
		it.Value, it.Flags, it.Expiration = out.Encode(), outFlags|FlagVersioned, outExp
		err = mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) {
			continue
		}
		return applied && err == nil, err
	}
	return false, fmt.Errorf("%w: %s", errContention, key)
}
