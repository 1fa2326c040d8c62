package cachesync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// FillToken is a lease on one key for one cache-aside fill: taken by BeginFill before the
// database read, redeemed by Fill after it. Any write or invalidation that reaches the key in
// between voids it, and so does the lease's expiry (ClientOptions.FillLeaseTTL) or eviction.
type FillToken struct {
	key    string
	cas    uint64 // the CAS id of what was held (the lease, a tombstone or a raw value): Fill swaps it
	floor  Version
	held   bool // a live value was held: nothing to fill
	voided bool
	began  time.Time // when BeginFill took the lease (ClientOptions.Now): a Fill after FillLeaseTTL is voided
}

// BeginFill takes the lease for a fill of key. Call it after a miss and before reading the
// database; pass the token to Fill with what the read found. On a miss it writes the lease (a
// version-zero tombstone that reads as a miss) so that Fill can compare-and-swap it.
func (c *Client) BeginFill(ctx context.Context, key string) (*FillToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	began := c.opts.Now()
	it, err := c.mc.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		// Nothing held: hold a lease, a tombstone of version zero (it blocks nothing) living
		// FillLeaseTTL, so that Fill can swap exactly it. Without it, an invalidation that lands
		// and then expires or is evicted before Fill would leave no trace, and an add would store a
		// read that missed it (the model test found this: seed 8194). Its lifetime is rounded up
		// with the margin for memcached's tick (lifetimeSeconds): truncated, a lease could be gone
		// before FillLeaseTTL, voiding a Fill the option allows.
		lease := &memcache.Item{Key: key, Value: Stored{Kind: KindTombstone}.Encode(), Flags: FlagVersioned,
			Expiration: lifetimeSeconds(c.opts.FillLeaseTTL)}
		if err := c.mc.Add(lease); err != nil && !errors.Is(err, memcache.ErrNotStored) {
			return nil, fmt.Errorf("cachesync: begin fill of %q: %w", key, err)
		}
		it, err = c.mc.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			return &FillToken{key: key, voided: true, began: began}, nil // evicted at once: nothing to swap
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cachesync: begin fill of %q: %w", key, err)
	}
	tok := &FillToken{key: key, cas: it.CasID, began: began}
	if s, derr := DecodeItem(it); derr == nil {
		c.observe(s.Version)
		tok.floor = s.Version
		tok.held = !s.At(c.now()).Tombstone()
	}
	return tok, nil
}

// Fill stores what the database read found, if the key has not changed since BeginFill: a
// write, a replicated value or an invalidation (first or second) that landed meanwhile voids the
// fill (ErrNotApplied), because the read may have missed it. The stored fill is itself replaced
// by the next write or invalidation of the key, whatever its version.
func (c *Client) Fill(ctx context.Context, tok *FillToken, item *Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tok == nil || tok.key != item.Key {
		return fmt.Errorf("%w: Fill needs the token BeginFill returned for %q", ErrConfig, item.Key)
	}
	if tok.held {
		c.fillResult("held")
		return fmt.Errorf("cachesync: fill %q: a value is cached: %w", item.Key, ErrNotApplied)
	}
	if tok.voided {
		c.fillResult("voided")
		return fmt.Errorf("cachesync: fill %q: the lease was evicted: %w", item.Key, ErrNotApplied)
	}
	// memcached keeps the lease longer than FillLeaseTTL (lifetimeSeconds: rounded up, plus the
	// tick's margin), so its expiry there does not bound the fill: the token's clock does.
	if age := c.opts.Now().Sub(tok.began); age > c.opts.FillLeaseTTL {
		c.fillResult("voided")
		return fmt.Errorf("cachesync: fill %q: %v after BeginFill, past FillLeaseTTL (%v): %w", item.Key, age, c.opts.FillLeaseTTL, ErrNotApplied)
	}
	fill := Stored{Version: tok.floor, Kind: KindFill, Value: item.Value, Expires: absExpiry(item.Expiration, c.opts.Now())}
	// A fill with an expiry stays in memcached as long as the tombstone it replaced had to (it holds
	// its floor once expired, see Stored.At): the model found an expiring fill taking a
	// tombstone's place and then an older set landing after it.
	mi := &memcache.Item{Key: item.Key, Value: fill.Encode(),
		Flags: item.Flags | FlagVersioned, Expiration: itemExpiration(fill, c.times(), c.tomb), CasID: tok.cas}
	err := c.mc.CompareAndSwap(mi)
	switch {
	case err == nil:
		c.fillResult("stored")
		return nil
	case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrCacheMiss):
		c.fillResult("voided")
		return fmt.Errorf("cachesync: fill %q: the key changed since BeginFill: %w", item.Key, ErrNotApplied)
	default:
		return fmt.Errorf("cachesync: fill %q: %w", item.Key, err)
	}
}

func (c *Client) fillResult(r string) {
	if c.m != nil {
		c.m.fills.WithLabelValues(r).Inc()
	}
}
