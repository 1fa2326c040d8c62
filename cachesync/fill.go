package cachesync

import (
	"context"
	"errors"
	"fmt"

	"github.com/bradfitz/gomemcache/memcache"
)

// FillToken is a lease on one key for one cache-aside fill: taken by BeginFill before the
// database read, redeemed by Fill after it. Any write or invalidation that reaches the key in
// between voids it.
type FillToken struct {
	key   string
	miss  bool   // nothing was held: Fill adds
	cas   uint64 // else the CAS id of what was held (a tombstone or a raw value): Fill swaps it
	floor Version
	held  bool // a live value was held: nothing to fill
}

// BeginFill takes the lease for a fill of key. Call it after a miss and before reading the
// database; pass the token to Fill with what the read found.
func (c *Client) BeginFill(ctx context.Context, key string) (*FillToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	it, err := c.mc.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return &FillToken{key: key, miss: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cachesync: begin fill of %q: %w", key, err)
	}
	tok := &FillToken{key: key, cas: it.CasID}
	if s, derr := DecodeItem(it); derr == nil {
		c.observe(s.Version)
		tok.floor = s.Version
		tok.held = s.Kind != KindTombstone
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
	mi := &memcache.Item{Key: item.Key, Value: Stored{Version: tok.floor, Kind: KindFill, Value: item.Value}.Encode(),
		Flags: item.Flags | FlagVersioned, Expiration: item.Expiration, CasID: tok.cas}
	var err error
	if tok.miss {
		err = c.mc.Add(mi)
	} else {
		err = c.mc.CompareAndSwap(mi)
	}
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
