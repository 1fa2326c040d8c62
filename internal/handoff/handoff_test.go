package handoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeStore follows CQLStore's semantics: leases are rows with a TTL (gone once it passes),
// Acquire is INSERT IF NOT EXISTS (not applied while a live row exists, answering its owner),
// Release is DELETE IF owner = ? (not applied on a missing row or another owner), Beat an upsert
// with TTL. Time is the fake clock now.
type fakeStore struct {
	mu      sync.Mutex
	now     time.Time
	batches map[string]Batch
	entries map[string][][]byte
	leases  map[string]fakeLease
	short   map[string]bool // Entries answers one entry short (a replica behind)
}

type fakeLease struct {
	owner   string
	expires time.Time
}

func newFake() *fakeStore {
	return &fakeStore{now: time.Unix(1_800_000_000, 0), batches: map[string]Batch{}, entries: map[string][][]byte{},
		leases: map[string]fakeLease{}, short: map[string]bool{}}
}

func (f *fakeStore) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

func (f *fakeStore) live(k string) (fakeLease, bool) {
	l, ok := f.leases[k]
	if ok && !f.now.Before(l.expires) {
		delete(f.leases, k)
		return l, false
	}
	return l, ok
}

func (f *fakeStore) Put(_ context.Context, scope string, b Batch, es [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[scope+"/"+b.ID] = append([][]byte(nil), es...)
	f.batches[scope+"/"+b.ID] = b
	return nil
}

func (f *fakeStore) Batches(_ context.Context, scope string) ([]Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Batch
	for k, b := range f.batches {
		if k[:len(scope)+1] == scope+"/" {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeStore) Entries(_ context.Context, scope, id string) ([][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := f.entries[scope+"/"+id]
	if f.short[id] && len(es) > 0 {
		es = es[:len(es)-1]
	}
	return append([][]byte(nil), es...), nil
}

func (f *fakeStore) Delete(_ context.Context, scope, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.batches, scope+"/"+id)
	delete(f.entries, scope+"/"+id)
	return nil
}

func (f *fakeStore) Acquire(_ context.Context, scope, lease, owner string, ttl time.Duration) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := scope + "/" + lease
	if l, ok := f.live(k); ok {
		return false, l.owner, nil
	}
	f.leases[k] = fakeLease{owner, f.now.Add(time.Duration(ttlSeconds(ttl)) * time.Second)}
	return true, owner, nil
}

func (f *fakeStore) Release(_ context.Context, scope, lease, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := scope + "/" + lease
	if l, ok := f.live(k); ok && l.owner == owner {
		delete(f.leases, k)
	}
	return nil
}

func (f *fakeStore) Beat(_ context.Context, scope, lease, owner string, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leases[scope+"/"+lease] = fakeLease{owner, f.now.Add(time.Duration(ttlSeconds(ttl)) * time.Second)}
	return nil
}

func (f *fakeStore) Drop(_ context.Context, scope, lease string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.leases, scope+"/"+lease)
	return nil
}

func (f *fakeStore) Holder(_ context.Context, scope, lease string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.live(scope + "/" + lease)
	if !ok {
		return "", nil
	}
	return l.owner, nil
}

func put(t *testing.T, st Store, id, side string, n int, holder string) {
	t.Helper()
	es := make([][]byte, n)
	for i := range es {
		es[i] = []byte(fmt.Sprintf("%s#%d", id, i))
	}
	if err := st.Put(context.Background(), "m", Batch{ID: id, Side: side, Entries: n, Origin: "dead", Holder: holder}, es); err != nil {
		t.Fatal(err)
	}
}

// A claimer that dies holding a batch's lease keeps it only until the TTL passes; then another
// claims it and the batch is adopted, every entry.
func TestLeaseExpiresWhenClaimerDies(t *testing.T) {
	ctx := context.Background()
	st := newFake()
	put(t, st, "b1", "secondary", 3, "")
	var got [][]byte
	died := &Adopter{Store: st, Scope: "m", Owner: "a", TTL: 10 * time.Second,
		Sink: func(context.Context, Batch, [][]byte) error { return errors.New("killed") }}
	// a claims, then dies before its sink: simulate by claiming the lease directly.
	if ok, _, _ := st.Acquire(ctx, "m", BatchLease("b1"), "a", died.TTL); !ok {
		t.Fatal("first claim refused")
	}
	b := &Adopter{Store: st, Scope: "m", Owner: "b", TTL: 10 * time.Second,
		Sink: func(_ context.Context, _ Batch, es [][]byte) error { got = append(got, es...); return nil }}
	res, err := b.Once(ctx, 0)
	if err != nil || res.Batches != 0 || res.Busy != 1 {
		t.Fatalf("while a's lease lives: %+v %v, want busy", res, err)
	}
	st.advance(9 * time.Second)
	if res, _ := b.Once(ctx, 0); res.Busy != 1 {
		t.Fatalf("1 s before expiry: %+v, want busy", res)
	}
	st.advance(time.Second)
	res, err = b.Once(ctx, 0)
	if err != nil || res.Batches != 1 || res.Entries != 3 || len(got) != 3 {
		t.Fatalf("after expiry: %+v %v, %d entries, want the batch adopted", res, err, len(got))
	}
	if bs, _ := st.Batches(ctx, "m"); len(bs) != 0 {
		t.Fatalf("batch still listed after adoption: %v", bs)
	}
}

// A batch whose holder (its origin's liveness lease) lives is not adopted; once the origin stops
// beating, it is.
func TestHeldBatchWaitsForItsOrigin(t *testing.T) {
	ctx := context.Background()
	st := newFake()
	_ = st.Beat(ctx, "m", "origin/x", "x", 5*time.Second)
	put(t, st, "b1", "secondary", 2, "origin/x")
	n := 0
	a := &Adopter{Store: st, Scope: "m", Owner: "b", TTL: 10 * time.Second,
		Sink: func(_ context.Context, _ Batch, es [][]byte) error { n += len(es); return nil }}
	if res, _ := a.Once(ctx, 0); res.Busy != 1 || n != 0 {
		t.Fatalf("origin alive: %+v, adopted %d", res, n)
	}
	st.advance(5 * time.Second)
	if res, _ := a.Once(ctx, 0); res.Batches != 1 || n != 2 {
		t.Fatalf("origin gone: %+v, adopted %d", res, n)
	}
}

// A short read (a replica behind) and a failing sink adopt nothing, delete nothing, and release
// the lease at once.
func TestShortReadOrFailedSinkKeepsTheBatch(t *testing.T) {
	ctx := context.Background()
	st := newFake()
	put(t, st, "b1", "primary", 4, "")
	st.short["b1"] = true
	a := &Adopter{Store: st, Scope: "m", Owner: "a", TTL: time.Minute,
		Sink: func(context.Context, Batch, [][]byte) error { return nil }}
	if _, err := a.Once(ctx, 0); !errors.Is(err, ErrShort) {
		t.Fatalf("short read: %v, want ErrShort", err)
	}
	st.short["b1"] = false
	a.Sink = func(context.Context, Batch, [][]byte) error { return errors.New("disk full") }
	if _, err := a.Once(ctx, 0); err == nil {
		t.Fatal("failed sink: no error")
	}
	if bl, _ := Backlog(ctx, st, "m"); bl["primary"] != 4 {
		t.Fatalf("backlog %v after failures, want primary 4", bl)
	}
	if h, _ := st.Holder(ctx, "m", BatchLease("b1")); h != "" {
		t.Fatalf("lease still held by %q after a failure", h)
	}
}

// Model-based: claimers race over many batches while some pause past the TTL (their lease
// expires and the batch moves); every entry is sunk at least once, no batch is left, and two
// claimers overlap on a batch only after its lease expired.
func TestRacingClaimersLoseNothing(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	st := newFake()
	const batches, per = 40, 5
	for i := 0; i < batches; i++ {
		put(t, st, fmt.Sprintf("b%03d", i), "secondary", per, "")
	}
	seen := map[string]int{}
	var claimers []*Adopter
	for _, name := range []string{"a", "b", "c"} {
		a := &Adopter{Store: st, Scope: "m", Owner: name, TTL: 3 * time.Second,
			Sink: func(_ context.Context, _ Batch, es [][]byte) error {
				for _, e := range es {
					seen[string(e)]++
				}
				return nil
			}}
		claimers = append(claimers, a)
	}
	for step := 0; step < 400; step++ {
		a := claimers[rng.Intn(len(claimers))]
		if rng.Intn(4) == 0 {
			// a claims one batch and pauses (dies) holding it: nobody else may take it until the TTL.
			bs, _ := st.Batches(ctx, "m")
			if len(bs) > 0 {
				b := bs[rng.Intn(len(bs))]
				if ok, _, _ := st.Acquire(ctx, "m", BatchLease(b.ID), a.Owner, a.TTL); ok {
					other := claimers[(rng.Intn(2)+1+indexOf(claimers, a))%len(claimers)]
					before := len(seen)
					other.Skip = func(x Batch) bool { return x.ID != b.ID }
					_, _ = other.Once(ctx, 0)
					other.Skip = nil
					if len(seen) != before {
						t.Fatalf("step %d: %s adopted batch %s while %s's lease lived", step, other.Owner, b.ID, a.Owner)
					}
				}
			}
		} else {
			_, _ = a.Once(ctx, 1+rng.Intn(3))
		}
		st.advance(time.Duration(rng.Intn(1500)) * time.Millisecond)
	}
	st.advance(time.Minute)
	for _, a := range claimers {
		_, _ = a.Once(ctx, 0)
	}
	if bs, _ := st.Batches(ctx, "m"); len(bs) != 0 {
		t.Fatalf("%d batches left", len(bs))
	}
	if len(seen) != batches*per {
		t.Fatalf("%d distinct entries adopted, want %d", len(seen), batches*per)
	}
}

func indexOf(as []*Adopter, a *Adopter) int {
	for i, x := range as {
		if x == a {
			return i
		}
	}
	return -1
}
