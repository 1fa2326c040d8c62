package handoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"
)

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
	st := NewMemStore()
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
	st.Advance(9 * time.Second)
	if res, _ := b.Once(ctx, 0); res.Busy != 1 {
		t.Fatalf("1 s before expiry: %+v, want busy", res)
	}
	st.Advance(time.Second)
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
	st := NewMemStore()
	_ = st.Beat(ctx, "m", "origin/x", "x", 5*time.Second)
	put(t, st, "b1", "secondary", 2, "origin/x")
	n := 0
	a := &Adopter{Store: st, Scope: "m", Owner: "b", TTL: 10 * time.Second,
		Sink: func(_ context.Context, _ Batch, es [][]byte) error { n += len(es); return nil }}
	if res, _ := a.Once(ctx, 0); res.Busy != 1 || n != 0 {
		t.Fatalf("origin alive: %+v, adopted %d", res, n)
	}
	st.Advance(5 * time.Second)
	if res, _ := a.Once(ctx, 0); res.Batches != 1 || n != 2 {
		t.Fatalf("origin gone: %+v, adopted %d", res, n)
	}
}

// A short read (a replica behind) and a failing sink adopt nothing, delete nothing, and release
// the lease at once.
func TestShortReadOrFailedSinkKeepsTheBatch(t *testing.T) {
	ctx := context.Background()
	st := NewMemStore()
	put(t, st, "b1", "primary", 4, "")
	st.Short("b1", true)
	a := &Adopter{Store: st, Scope: "m", Owner: "a", TTL: time.Minute, Now: st.clock,
		Sink: func(context.Context, Batch, [][]byte) error { return nil }}
	if _, err := a.Once(ctx, 0); !errors.Is(err, ErrShort) {
		t.Fatalf("short read: %v, want ErrShort", err)
	}
	st.Short("b1", false)
	st.Advance(a.TTL) // a leaves a batch it failed on to the others for one TTL (invariant 8)
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
	st := NewMemStore()
	const batches, per = 40, 5
	for i := 0; i < batches; i++ {
		put(t, st, fmt.Sprintf("b%03d", i), "secondary", per, "")
	}
	seen := map[string]int{}
	var seenMu sync.Mutex // a pass's claims run in parallel
	var claimers []*Adopter
	for _, name := range []string{"a", "b", "c"} {
		a := &Adopter{Store: st, Scope: "m", Owner: name, TTL: 3 * time.Second,
			Sink: func(_ context.Context, _ Batch, es [][]byte) error {
				seenMu.Lock()
				defer seenMu.Unlock()
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
		st.Advance(time.Duration(rng.Intn(1500)) * time.Millisecond)
	}
	st.Advance(time.Minute)
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

// A claimer that failed on a batch (its claim ran out of time, a pause, a slow disk or replica)
// leaves it to the others for one TTL (invariant 8): before, it released the lease and its own
// next pass, coming first, claimed the same batch again (oldest first), so the lease never moved
// to the instance that could adopt it. After the TTL the claimer tries it again (alone in its
// fleet, it still adopts it).
func TestFailedClaimerLeavesTheBatchToOthers(t *testing.T) {
	ctx := context.Background()
	st := NewMemStore()
	put(t, st, "b1", "secondary", 3, "")
	put(t, st, "b2", "secondary", 2, "")
	failing := map[string]bool{"b1": true, "b2": true}
	var sunkA int
	a := &Adopter{Store: st, Scope: "m", Owner: "a", TTL: 10 * time.Second, Now: st.clock,
		Sink: func(_ context.Context, b Batch, es [][]byte) error {
			if failing[b.ID] {
				return context.DeadlineExceeded // its claim ran out
			}
			sunkA += len(es)
			return nil
		}}
	var sunkB int
	b := &Adopter{Store: st, Scope: "m", Owner: "b", TTL: 10 * time.Second, Now: st.clock,
		Sink: func(_ context.Context, _ Batch, es [][]byte) error { sunkB += len(es); return nil }}
	if _, err := a.Once(ctx, 0); err == nil {
		t.Fatal("a's failing claims: no error")
	}
	for _, id := range []string{"b1", "b2"} {
		if h, _ := st.Holder(ctx, "m", BatchLease(id)); h != "" {
			t.Fatalf("lease of %s still held by %q after a's failure", id, h)
		}
	}
	// a's next pass comes before b's: it must not take them back.
	failing = map[string]bool{}
	if res, err := a.Once(ctx, 0); err != nil || res.Batches != 0 || res.Busy != 2 {
		t.Fatalf("a's next pass: %+v %v, want both batches left to the others", res, err)
	}
	if res, err := b.Once(ctx, 1); err != nil || res.Batches != 1 || sunkB != 3 {
		t.Fatalf("b's pass: %+v %v, sunk %d, want b1 adopted by b", res, err, sunkB)
	}
	st.Advance(9 * time.Second)
	if res, _ := a.Once(ctx, 0); res.Batches != 0 || sunkA != 0 {
		t.Fatalf("a 1 s before its turn: %+v, sunk %d, want nothing", res, sunkA)
	}
	st.Advance(time.Second)
	if res, err := a.Once(ctx, 0); err != nil || res.Batches != 1 || sunkA != 2 {
		t.Fatalf("a after one TTL: %+v %v, sunk %d, want b2 adopted", res, err, sunkA)
	}
	if bs, _ := st.Batches(ctx, "m"); len(bs) != 0 {
		t.Fatalf("batches left: %v", bs)
	}
}

// A claim's work is bounded by its own lease (invariant 7): its context ends no later than TTL
// after the claim began, however long the pass's earlier claims took, and however long the
// caller's context lives.
func TestClaimDeadlineIsItsLease(t *testing.T) {
	st := NewMemStore()
	st.Now = time.Now
	put(t, st, "b1", "secondary", 1, "")
	put(t, st, "b2", "secondary", 1, "")
	const ttl = 2 * time.Second
	type claim struct {
		began, deadline time.Time
		ok              bool
	}
	var claims []claim
	a := &Adopter{Store: st, Scope: "m", Owner: "a", TTL: ttl,
		Claimed: func(ctx context.Context, b Batch) {
			d, ok := ctx.Deadline()
			claims = append(claims, claim{time.Now(), d, ok})
			time.Sleep(300 * time.Millisecond) // a slow sink
		},
		Sink: func(context.Context, Batch, [][]byte) error { return nil }}
	if res, err := a.Once(context.Background(), 0); err != nil || res.Batches != 2 {
		t.Fatalf("%+v %v, want both adopted", res, err)
	}
	for i, c := range claims {
		if !c.ok || c.deadline.After(c.began.Add(ttl)) || c.deadline.Before(c.began.Add(ttl-200*time.Millisecond)) {
			t.Fatalf("claim %d began %s: deadline %v (set %v), want its lease's end, %s after it", i,
				c.began.Format(time.StampMilli), c.deadline.Format(time.StampMilli), c.ok, ttl)
		}
	}
}

// countingStore counts the lease transactions.
type countingStore struct {
	*MemStore
	acquires, releases int
}

func (c *countingStore) Release(ctx context.Context, scope, lease, owner string) error {
	c.releases++
	return c.MemStore.Release(ctx, scope, lease, owner)
}

func (c *countingStore) Acquire(ctx context.Context, scope, lease, owner string, ttl time.Duration) (bool, string, error) {
	c.acquires++
	return c.MemStore.Acquire(ctx, scope, lease, owner, ttl)
}

// A pass lists again after each batch it adopted: a batch whose claimer failed and left it while
// the pass adopted others is taken in the same pass (before, the pass's one listing had it busy,
// and by the next pass its claimer's turn could be back); the oldest claimable is the next
// claimed. A lease a plain read shows held costs no transaction,
// and an adopted batch's lease is left to expire (no release).
func TestPassTakesABatchFreedMeanwhile(t *testing.T) {
	{
		ctx := context.Background()
		st := &countingStore{MemStore: NewMemStore()}
		for _, id := range []string{"b1", "b2", "b3"} {
			put(t, st, id, "secondary", 2, "")
		}
		if ok, _, _ := st.Acquire(ctx, "m", BatchLease("b1"), "a", time.Minute); !ok {
			t.Fatal("a's claim refused")
		}
		st.acquires = 0
		var mu sync.Mutex
		var order []string
		b := &Adopter{Store: st, Scope: "m", Owner: "b", TTL: time.Minute,
			Sink: func(_ context.Context, x Batch, _ [][]byte) error {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, x.ID)
				if x.ID == "b2" { // meanwhile a fails on b1 and releases it
					_ = st.Release(ctx, "m", BatchLease("b1"), "a")
				}
				return nil
			}}
		res, err := b.Once(ctx, 0)
		if err != nil || res.Batches != 3 || res.Busy != 0 {
			t.Fatalf("%+v %v (adopted %v), want b1, b2 and b3 adopted in one pass", res, err, order)
		}
		if !reflect.DeepEqual(order, []string{"b2", "b1", "b3"}) {
			t.Fatalf("adopted in order %v, want b2, then b1 (the oldest, freed meanwhile), then b3", order)
		}
		if st.acquires != 3 || st.releases != 1 {
			t.Fatalf("%d lease transactions and %d releases, want 3 (none for b1 while a plain read showed it held) and 1 (a's, in the test; none after an adoption)",
				st.acquires, st.releases)
		}
	}
}
