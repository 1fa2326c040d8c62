package handoff

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrShort: a batch's entries read back are fewer than its row says (a replica behind, or the
// batch being deleted): nothing is adopted from it now (invariant 1).
var ErrShort = errors.New("handoff: batch read back short")

// Batch is one batch's row: entries for one side, handed off by origin.
type Batch struct {
	ID      string    // unique in the scope; sorts by creation time
	Side    string    // "primary" or "secondary": the side its entries must land on
	Entries int       // how many entries it holds
	Origin  string    // the instance that handed it off
	Holder  string    // lease that must be gone before it is adopted ("" = adoptable at once; invariant 4)
	Created time.Time // when it was handed off
}

// Store is the shared store of one keyspace. Scope separates migrations (or sessions) sharing it.
// Implementations: CQLStore (Cassandra); the tests' fake follows its LWT semantics.
type Store interface {
	// Put writes b's entries, then b's row (invariant 1).
	Put(ctx context.Context, scope string, b Batch, entries [][]byte) error
	// Batches lists the scope's batches, oldest first.
	Batches(ctx context.Context, scope string) ([]Batch, error)
	// Entries reads a batch's entries in order.
	Entries(ctx context.Context, scope, id string) ([][]byte, error)
	// Delete removes a batch: its row first, then its entries.
	Delete(ctx context.Context, scope, id string) error
	// Acquire takes lease for owner for ttl if nobody holds it (a lightweight transaction):
	// ok false and the holder's name when someone does.
	Acquire(ctx context.Context, scope, lease, owner string, ttl time.Duration) (ok bool, holder string, err error)
	// Release gives lease up if owner still holds it (a lightweight transaction).
	Release(ctx context.Context, scope, lease, owner string) error
	// Beat writes a lease only its owner ever writes (an origin's liveness), for ttl: no
	// transaction needed. Drop deletes it.
	Beat(ctx context.Context, scope, lease, owner string, ttl time.Duration) error
	Drop(ctx context.Context, scope, lease string) error
	// Holder returns who holds lease ("" = nobody: never taken, released or expired).
	Holder(ctx context.Context, scope, lease string) (string, error)
}

// Kinds of batch. A batch's kind travels as a suffix of its ID (KindSuffix), so the tables need
// no column for it: KindReplay (no suffix) holds replay log entries, KindDeadLetter entries an
// instance had dead-lettered, KindUncertain writes it had recorded as uncertain (never replayed
// blindly). An adopter keeps each kind in the same place locally (invariant 6).
const (
	KindReplay     = ""
	KindDeadLetter = "deadletter"
	KindUncertain  = "uncertain"
)

// KindSuffix is what a batch ID of kind k ends with ("" for KindReplay).
func KindSuffix(k string) string {
	if k == KindReplay {
		return ""
	}
	return "~" + k
}

// Kind returns b's kind, from its ID.
func (b Batch) Kind() string {
	for _, k := range []string{KindDeadLetter, KindUncertain} {
		if strings.HasSuffix(b.ID, KindSuffix(k)) {
			return k
		}
	}
	return KindReplay
}

// BatchLease is the lease a claimer takes on batch id.
func BatchLease(id string) string { return "batch/" + id }

// Backlog sums the scope's batches per side (invariant 5).
func Backlog(ctx context.Context, st Store, scope string) (map[string]int64, error) {
	bs, err := st.Batches(ctx, scope)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, b := range bs {
		out[b.Side] += int64(b.Entries)
	}
	return out, nil
}

// Adopter claims batches of a scope, one claimer at a time (invariant 3), and gives their entries
// to Sink, which must make them durable (or land them) before returning nil: only then is the
// batch deleted (invariant 2). Each claim is bounded by its lease (invariant 7), and a batch a
// claimer failed on is left to the others for one TTL (invariant 8), so one Adopter is kept for
// the claimer's life (it remembers those batches), not made per pass.
type Adopter struct {
	Store Store
	Scope string
	Owner string        // this instance's unique name (lease owner)
	TTL   time.Duration // lease TTL: how long a dead claimer holds a batch
	// Skip says not to adopt b now (its side's local backlog is high, b is this instance's own
	// copy…). Nil: adopt everything.
	Skip func(b Batch) bool
	Sink func(ctx context.Context, b Batch, entries [][]byte) error
	// Claimed, when set, is called with the lease held, before the entries are read (tests pause
	// a claimer here); ctx is the claim's, which ends with its lease (invariant 7).
	Claimed func(ctx context.Context, b Batch)
	// Now is the clock of the batches left to others (invariant 8); nil: time.Now.
	Now func() time.Time

	mu    sync.Mutex
	avoid map[string]time.Time // batch id -> until when this claimer leaves it to the others
}

// Result counts what one Adopter.Once did.
type Result struct {
	Batches, Entries int
	Busy             int // batches claimed by someone else or whose holder lives
}

// Once lists the scope's batches and adopts each one it can claim, at most max batches (0: all),
// oldest first. It lists again after each batch it adopted, so the oldest claimable batch is
// always the next one claimed: a batch freed while this pass adopted others (a claimer that failed
// on it and left it, invariant 8) is taken in this pass, not a pass later, when its claimer's
// turn may have come back. Busy counts the batches busy at the last listing.
func (a *Adopter) Once(ctx context.Context, max int) (Result, error) {
	var res Result
	a.forget()
	done := map[string]bool{} // adopted, failed or skipped in this pass
	var errs []error
	for {
		lctx, cancel := context.WithTimeout(ctx, a.TTL) // a hung listing must not stop the caller's loop
		bs, err := a.Store.Batches(lctx, a.Scope)
		cancel()
		if err != nil {
			return res, errors.Join(append(errs, err)...)
		}
		res.Busy = 0
		adopted := false
		for _, b := range bs {
			if ctx.Err() != nil || (max > 0 && res.Batches >= max) {
				return res, errors.Join(errs...)
			}
			if done[b.ID] {
				continue
			}
			if a.Skip != nil && a.Skip(b) {
				done[b.ID] = true
				continue
			}
			n, err := a.adopt(ctx, b)
			switch {
			case err == nil && n < 0:
				res.Busy++
				continue
			case err == nil:
				res.Batches++
				res.Entries += n
				adopted = true
			default:
				errs = append(errs, err)
			}
			done[b.ID] = true
			if adopted {
				break // list again: the oldest claimable first
			}
		}
		if !adopted {
			return res, errors.Join(errs...)
		}
	}
}

// adopt claims b, sinks its entries and deletes it; -1 when b is not to be claimed now.
func (a *Adopter) adopt(ctx context.Context, b Batch) (int, error) {
	if a.leaving(b.ID) {
		return -1, nil // this claimer failed on it lately: the others' turn (invariant 8)
	}
	// The claim's deadline is taken before the lease is: the lease's TTL starts later (when the
	// transaction commits) and is rounded up to whole seconds, so the claimer stops working on
	// b no later than its lease ends (invariant 7).
	cctx, cancel := context.WithDeadline(ctx, time.Now().Add(a.TTL))
	defer cancel()
	if b.Holder != "" {
		h, err := a.Store.Holder(cctx, a.Scope, b.Holder)
		if err != nil {
			return 0, fmt.Errorf("handoff: batch %s: reading its holder %s: %w", b.ID, b.Holder, err)
		}
		if h != "" {
			return -1, nil // its origin lives and replays it itself (invariant 4)
		}
	}
	lease := BatchLease(b.ID)
	// A plain read first: a lease another claimer holds costs no transaction (all of a scope's
	// leases share a partition, where concurrent transactions contend). The transaction alone
	// decides: a read that missed a lease just taken only costs one that is not applied.
	if h, err := a.Store.Holder(cctx, a.Scope, lease); err == nil && h != "" {
		return -1, nil
	}
	ok, _, err := a.Store.Acquire(cctx, a.Scope, lease, a.Owner, a.TTL)
	if err != nil {
		return 0, fmt.Errorf("handoff: batch %s: claiming it: %w", b.ID, err)
	}
	if !ok {
		return -1, nil
	}
	if a.Claimed != nil {
		a.Claimed(cctx, b)
	}
	n, err := a.take(cctx, b)
	if err == nil {
		// The batch is gone: its lease guards nothing and expires by itself. Releasing it
		// would cost a transaction per batch (with SERIAL across datacenters, the larger part
		// of an adoption's time) for no one's benefit.
		return n, nil
	}
	a.leave(b.ID)
	// After a failure the lease is released: the batch is then free for the next claimer at
	// once rather than after the TTL (and not this one: invariant 8). A release that fails
	// expires by itself.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = a.Store.Release(rctx, a.Scope, lease, a.Owner)
	rcancel()
	return n, err
}

func (a *Adopter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// leave records that this claimer failed on batch id: it leaves it to the others for one TTL.
func (a *Adopter) leave(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.avoid == nil {
		a.avoid = map[string]time.Time{}
	}
	a.avoid[id] = a.now().Add(a.TTL)
}

// leaving says whether batch id is still left to the others.
func (a *Adopter) leaving(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.avoid[id]
	return ok && a.now().Before(until)
}

// forget drops the batches whose turn for the others is over.
func (a *Adopter) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for id, until := range a.avoid {
		if !now.Before(until) {
			delete(a.avoid, id)
		}
	}
}

func (a *Adopter) take(ctx context.Context, b Batch) (int, error) {
	es, err := a.Store.Entries(ctx, a.Scope, b.ID)
	if err != nil {
		return 0, fmt.Errorf("handoff: batch %s: reading its entries: %w", b.ID, err)
	}
	if len(es) < b.Entries {
		return 0, fmt.Errorf("%w: batch %s: %d of %d entries", ErrShort, b.ID, len(es), b.Entries)
	}
	if err := a.Sink(ctx, b, es); err != nil {
		return 0, fmt.Errorf("handoff: batch %s: keeping its %d entries: %w", b.ID, len(es), err)
	}
	if err := a.Store.Delete(ctx, a.Scope, b.ID); err != nil {
		// Its entries are kept (Sink): the batch will be adopted again, which is harmless.
		return len(es), fmt.Errorf("handoff: batch %s: deleting it after adoption: %w", b.ID, err)
	}
	return len(es), nil
}
