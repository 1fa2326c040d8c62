package cachesync

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// fakeMemcache is an in-memory memcached for the unit tests of the consistency rules. It follows
// memcached 1.6 as gomemcache reports it:
//   - one clock tick a second: expiry is checked against the whole second (current_time), so an
//     item stored with a relative TTL of N lives N-1..N s; a negative TTL or a past absolute time
//     stores an item that is already expired;
//   - current_time is monotonic (seconds since the process started): a step of the wall clock
//     does not expire items; an absolute expiry is turned into it with the wall clock of the
//     process start (realtime(): exptime - process_started);
//   - the item size limit (item_size_max, 1 MiB by default): a larger item is refused with
//     SERVER_ERROR object too large for cache; a set then unlinks the old item, add and cas leave it;
//   - cas on a missing key answers NOT_FOUND (gomemcache: ErrCacheMiss), on a changed one EXISTS
//     (ErrCASConflict); add on a live key NOT_STORED (ErrNotStored);
//   - keys memcached refuses (over 250 bytes, control bytes or spaces) are ErrMalformedKey;
//   - eviction on demand (evict), as the LRU would under memory pressure;
//   - failNext makes the next calls fail as a timed-out server would.
//
// Integration tests use the real memcached.
type fakeMemcache struct {
	mu        sync.Mutex
	now       func() time.Time // the wall clock
	mono      func() time.Time // time passing, whatever the wall clock does
	startMono time.Time
	startWall int64
	items     map[string]*fakeItem
	cas       uint64
	maxItem   int
	failNext  int // calls left to fail with a timeout
}

type fakeItem struct {
	value   []byte
	flags   uint32
	expires int64 // current_time (tick) at which it is gone; 0: never
	cas     uint64
}

// fakeMaxItem is memcached's default item_size_max less the item header it counts.
const fakeMaxItem = 1<<20 - 64

// fakeTimeout is the net.Error of a read that timed out.
type fakeTimeout struct{}

func (fakeTimeout) Error() string   { return "read tcp 127.0.0.1:11211: i/o timeout" }
func (fakeTimeout) Timeout() bool   { return true }
func (fakeTimeout) Temporary() bool { return true }

var errFakeTimeout error = fakeTimeout{}

var errTooLarge = errors.New(`memcache: unexpected response line from "cas": "SERVER_ERROR object too large for cache\r\n"`)

func newFakeMemcache(now func() time.Time) *fakeMemcache { return newFakeMemcacheMono(now, now) }

// newFakeMemcacheMono is a fake whose current_time follows mono while now is the wall clock
// (stepped at will).
func newFakeMemcacheMono(now, mono func() time.Time) *fakeMemcache {
	return &fakeMemcache{now: now, mono: mono, startMono: mono(), startWall: now().Unix(), items: map[string]*fakeItem{}, maxItem: fakeMaxItem}
}

// tick is memcached's current_time: whole seconds since the process started, by a monotonic
// clock. Its fraction of a second at the start is the wall clock's, as for a process started then.
func (f *fakeMemcache) tick() int64 {
	frac := time.Duration(f.startMono.Nanosecond())
	return 2 + int64((f.mono().Sub(f.startMono)+frac)/time.Second) // 2: expiry 1 has always passed
}

func (f *fakeMemcache) live(key string) *fakeItem {
	it := f.items[key]
	if it != nil && it.expires != 0 && f.tick() >= it.expires {
		delete(f.items, key)
		return nil
	}
	return it
}

func (f *fakeMemcache) expiry(exp int32) int64 {
	switch {
	case exp == 0:
		return 0
	case exp < 0:
		return 1 // already expired
	case exp <= 30*24*3600:
		return f.tick() + int64(exp)
	case int64(exp) <= f.startWall:
		return 1 // before the process started: expired
	default:
		return 2 + int64(exp) - f.startWall
	}
}

// check is what gomemcache and memcached refuse before storing anything.
func (f *fakeMemcache) check(key string) error {
	if f.failNext > 0 {
		f.failNext--
		return fmt.Errorf("memcache: %w", errFakeTimeout)
	}
	if !legalKey(key) {
		return memcache.ErrMalformedKey
	}
	return nil
}

func (f *fakeMemcache) put(it *memcache.Item) error {
	if len(it.Key)+len(it.Value) > f.maxItem {
		return errTooLarge
	}
	f.cas++
	f.items[it.Key] = &fakeItem{value: append([]byte(nil), it.Value...), flags: it.Flags, expires: f.expiry(it.Expiration), cas: f.cas}
	return nil
}

func (f *fakeMemcache) Get(key string) (*memcache.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(key); err != nil {
		return nil, err
	}
	it := f.live(key)
	if it == nil {
		return nil, memcache.ErrCacheMiss
	}
	return &memcache.Item{Key: key, Value: append([]byte(nil), it.value...), Flags: it.flags, CasID: it.cas}, nil
}

func (f *fakeMemcache) GetMulti(keys []string) (map[string]*memcache.Item, error) {
	out := map[string]*memcache.Item{}
	for _, k := range keys {
		it, err := f.Get(k)
		if err == nil {
			out[k] = it
		} else if !errors.Is(err, memcache.ErrCacheMiss) {
			return nil, err
		}
	}
	return out, nil
}

func (f *fakeMemcache) Add(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(it.Key); err != nil {
		return err
	}
	if f.live(it.Key) != nil {
		return memcache.ErrNotStored
	}
	return f.put(it)
}

func (f *fakeMemcache) Set(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(it.Key); err != nil {
		return err
	}
	if err := f.put(it); err != nil {
		delete(f.items, it.Key) // memcached unlinks the old item on a refused set
		return err
	}
	return nil
}

func (f *fakeMemcache) CompareAndSwap(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(it.Key); err != nil {
		return err
	}
	cur := f.live(it.Key)
	if cur == nil {
		return memcache.ErrCacheMiss
	}
	if cur.cas != it.CasID {
		return memcache.ErrCASConflict
	}
	return f.put(it)
}

func (f *fakeMemcache) Touch(key string, seconds int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(key); err != nil {
		return err
	}
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
	if err := f.check(key); err != nil {
		return err
	}
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

// fail makes the next n calls fail as a server that timed out.
func (f *fakeMemcache) fail(n int) {
	f.mu.Lock()
	f.failNext = n
	f.mu.Unlock()
}
