package cachesync

import (
	"sort"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// fakeMemcache is an in-memory memcached for the unit tests of the consistency rules: gets/cas
// ids, add, expiry (relative seconds or absolute unix time, against its own clock) and eviction
// on demand. Integration tests use the real memcached.
type fakeMemcache struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]*fakeItem
	cas   uint64
}

type fakeItem struct {
	value   []byte
	flags   uint32
	expires time.Time // zero: never
	cas     uint64
}

func newFakeMemcache(now func() time.Time) *fakeMemcache {
	return &fakeMemcache{now: now, items: map[string]*fakeItem{}}
}

func (f *fakeMemcache) live(key string) *fakeItem {
	it := f.items[key]
	if it != nil && !it.expires.IsZero() && !f.now().Before(it.expires) {
		delete(f.items, key)
		return nil
	}
	return it
}

func (f *fakeMemcache) expiry(exp int32) time.Time {
	switch {
	case exp == 0:
		return time.Time{}
	case exp <= 30*24*3600:
		return f.now().Add(time.Duration(exp) * time.Second)
	default:
		return time.Unix(int64(exp), 0)
	}
}

func (f *fakeMemcache) put(it *memcache.Item) {
	f.cas++
	f.items[it.Key] = &fakeItem{value: append([]byte(nil), it.Value...), flags: it.Flags, expires: f.expiry(it.Expiration), cas: f.cas}
}

func (f *fakeMemcache) Get(key string) (*memcache.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.live(key)
	if it == nil {
		return nil, memcache.ErrCacheMiss
	}
	return &memcache.Item{Key: key, Value: append([]byte(nil), it.value...), Flags: it.flags, CasID: it.cas}, nil
}

func (f *fakeMemcache) GetMulti(keys []string) (map[string]*memcache.Item, error) {
	out := map[string]*memcache.Item{}
	for _, k := range keys {
		if it, err := f.Get(k); err == nil {
			out[k] = it
		}
	}
	return out, nil
}

func (f *fakeMemcache) Add(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live(it.Key) != nil {
		return memcache.ErrNotStored
	}
	f.put(it)
	return nil
}

func (f *fakeMemcache) Set(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.put(it)
	return nil
}

func (f *fakeMemcache) CompareAndSwap(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.live(it.Key)
	if cur == nil {
		return memcache.ErrNotStored
	}
	if cur.cas != it.CasID {
		return memcache.ErrCASConflict
	}
	f.put(it)
	return nil
}

func (f *fakeMemcache) Touch(key string, seconds int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.live(key)
	if cur == nil {
		return memcache.ErrCacheMiss
	}
	cur.expires = f.expiry(seconds)
	return nil
}

func (f *fakeMemcache) Delete(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live(key) == nil {
		return memcache.ErrCacheMiss
	}
	delete(f.items, key)
	return nil
}

func (f *fakeMemcache) Ping() error { return nil }

// evict drops key as memcached's LRU would under memory pressure.
func (f *fakeMemcache) evict(key string) {
	f.mu.Lock()
	delete(f.items, key)
	f.mu.Unlock()
}

func (f *fakeMemcache) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ks []string
	for k := range f.items {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
