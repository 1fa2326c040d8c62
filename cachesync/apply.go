package cachesync

import (
	"errors"
	"fmt"

	"github.com/bradfitz/gomemcache/memcache"
)

// errContention: the key kept changing under us; the caller retries the event later.
var errContention = errors.New("cachesync: key changed concurrently too often")

// store writes incoming for key unless memcached already holds a version at least as new. It
// reads with gets and writes with add (absent key) or cas (present key) and retries when another
// writer got in between, so concurrent appliers and local writes can never put an older version
// over a newer one. applied is false when the held version won (a stale or duplicate event).
func store(mc Memcache, key string, incoming Stored, flags uint32, expiration int32) (applied bool, err error) {
	value := incoming.Encode()
	for attempt := 0; attempt < 16; attempt++ {
		it, err := mc.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = mc.Add(&memcache.Item{Key: key, Value: value, Flags: flags, Expiration: expiration})
			if errors.Is(err, memcache.ErrNotStored) {
				continue // someone added it meanwhile: compare against theirs
			}
			return err == nil, err
		}
		if err != nil {
			return false, err
		}
		if cur, derr := Decode(it.Value); derr == nil && !cur.Version.Less(incoming.Version) {
			return false, nil
		}
		it.Value, it.Flags, it.Expiration = value, flags, expiration
		err = mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) {
			continue
		}
		return err == nil, err
	}
	return false, fmt.Errorf("%w: %s", errContention, key)
}
