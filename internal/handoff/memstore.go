package handoff

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemStore is a Store in memory for unit tests, following CQLStore's semantics: leases are rows
// with a TTL (gone once it passes), Acquire is INSERT IF NOT EXISTS (not applied while a live row
// exists, answering its owner), Release is DELETE IF owner = ? (not applied on a missing row or
// another owner), Beat an upsert with TTL. Time is its own clock (Advance), or Now when set.
type MemStore struct {
	mu      sync.Mutex
	now     time.Time
	batches map[string]Batch
	entries map[string][][]byte
	leases  map[string]memLease
	short   map[string]bool // Entries answers one entry short (a replica behind)
	// Now, when set, is the clock instead of the store's own (Advance then has no effect).
	Now func() time.Time
}

type memLease struct {
	owner   string
	expires time.Time
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{now: time.Unix(1_800_000_000, 0), batches: map[string]Batch{}, entries: map[string][][]byte{},
		leases: map[string]memLease{}, short: map[string]bool{}}
}

// Advance moves the store's clock on by d.
func (f *MemStore) Advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// Short makes Entries of batch id answer one entry short (a replica behind) while on.
func (f *MemStore) Short(id string, on bool) { f.mu.Lock(); f.short[id] = on; f.mu.Unlock() }

func (f *MemStore) clock() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return f.now
}

func (f *MemStore) live(k string) (memLease, bool) {
	l, ok := f.leases[k]
	if ok && !f.clock().Before(l.expires) {
		delete(f.leases, k)
		return l, false
	}
	return l, ok
}

// Put implements Store.
func (f *MemStore) Put(_ context.Context, scope string, b Batch, es [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[scope+"/"+b.ID] = append([][]byte(nil), es...)
	f.batches[scope+"/"+b.ID] = b
	return nil
}

// Batches implements Store.
func (f *MemStore) Batches(_ context.Context, scope string) ([]Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Batch
	for k, b := range f.batches {
		if k == scope+"/"+b.ID { // exact: scope "a" never lists scope "a/b"'s batches
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Entries implements Store.
func (f *MemStore) Entries(_ context.Context, scope, id string) ([][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := f.entries[scope+"/"+id]
	if f.short[id] && len(es) > 0 {
		es = es[:len(es)-1]
	}
	return append([][]byte(nil), es...), nil
}

// Delete implements Store.
func (f *MemStore) Delete(_ context.Context, scope, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.batches, scope+"/"+id)
	delete(f.entries, scope+"/"+id)
	return nil
}

// Acquire implements Store.
func (f *MemStore) Acquire(_ context.Context, scope, lease, owner string, ttl time.Duration) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := scope + "/" + lease
	if l, ok := f.live(k); ok {
		return false, l.owner, nil
	}
	f.leases[k] = memLease{owner, f.clock().Add(time.Duration(ttlSeconds(ttl)) * time.Second)}
	return true, owner, nil
}

// Release implements Store.
func (f *MemStore) Release(_ context.Context, scope, lease, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := scope + "/" + lease
	if l, ok := f.live(k); ok && l.owner == owner {
		delete(f.leases, k)
	}
	return nil
}

// Beat implements Store.
func (f *MemStore) Beat(_ context.Context, scope, lease, owner string, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leases[scope+"/"+lease] = memLease{owner, f.clock().Add(time.Duration(ttlSeconds(ttl)) * time.Second)}
	return nil
}

// Drop implements Store.
func (f *MemStore) Drop(_ context.Context, scope, lease string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.leases, scope+"/"+lease)
	return nil
}

// Holder implements Store.
func (f *MemStore) Holder(_ context.Context, scope, lease string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.live(scope + "/" + lease)
	if !ok {
		return "", nil
	}
	return l.owner, nil
}
