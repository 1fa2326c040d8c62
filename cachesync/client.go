package cachesync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
)

// Item is a cache entry as the application sees it: the value without cachesync's header, and
// the version it was written at.
type Item struct {
	Key        string
	Value      []byte
	Flags      uint32
	Expiration int32 // seconds from now (≤ 30 days) or an absolute unix time, as memcached takes it
	Version    Version
	raw        *memcache.Item // for CompareAndSwap
}

// ClientOptions configure a Client. Zero values take the defaults in brackets.
type ClientOptions struct {
	Region       string        // this region's name, the version tie-break (required)
	Rules        Rules         // replicate or invalidate, per key prefix
	TombstoneTTL time.Duration // how long a delete's tombstone holds back older sets [5m]
	// MaxValueBytes: a replicated value larger than this is sent as an invalidation [what fits one
	// SQS message once encoded: about 190 KiB].
	MaxValueBytes int
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time // clock, for tests [time.Now]
}

// Client is the application's cache client in one region: local memcached plus events to the
// other regions.
type Client struct {
	mc   Memcache
	pub  Sink
	opts ClientOptions
	m    *metrics
	last atomic.Int64

	degraded atomic.Int64
}

// Degraded returns how many replicated values were too large and went out as invalidations.
func (c *Client) Degraded() int64 { return c.degraded.Load() }

// NewClient returns a Client over the region's memcached and a Publisher to the other regions.
func NewClient(mc Memcache, pub Sink, opts ClientOptions) (*Client, error) {
	if mc == nil || pub == nil {
		return nil, errors.New("cachesync: NewClient needs a memcache client and a publisher")
	}
	if opts.Region == "" {
		return nil, errors.New("cachesync: ClientOptions.Region is required (it orders concurrent writes)")
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = 5 * time.Minute
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = (MaxMessageBytes-2048)*3/4 - 1024 // base64 inside the JSON envelope
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{mc: mc, pub: pub, opts: opts, m: newMetrics(opts.Registerer)}, nil
}

// version returns a fresh version of this region, strictly increasing within the process.
func (c *Client) version() Version {
	t := c.opts.Now().UnixMicro()
	for {
		last := c.last.Load()
		if t <= last {
			t = last + 1
		}
		if c.last.CompareAndSwap(last, t) {
			return Version{Micros: t, Origin: c.opts.Region}
		}
	}
}

// Get returns the item for key, or memcache.ErrCacheMiss (also when a tombstone holds the key).
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	it, err := c.mc.Get(key)
	if err != nil {
		return nil, err
	}
	s, err := Decode(it.Value)
	if err != nil {
		return nil, fmt.Errorf("cachesync: get %q: %w", key, err)
	}
	if s.Tombstone {
		return nil, memcache.ErrCacheMiss
	}
	return &Item{Key: key, Value: s.Value, Flags: it.Flags, Expiration: it.Expiration, Version: s.Version, raw: it}, nil
}

// Set stores item locally and sends it (or its invalidation) to the other regions. It returns the
// version the value was written at.
func (c *Client) Set(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	v := c.version()
	exp := absExpiry(item.Expiration, c.opts.Now())
	if _, err := store(c.mc, item.Key, Stored{Version: v, Value: item.Value}, item.Flags, item.Expiration); err != nil {
		return v, fmt.Errorf("cachesync: set %q locally: %w", item.Key, err)
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, exp, v)
}

// SetLocal stores item in this region only, without an event: for cache-aside fills from the
// region's own database, which the other regions fill from theirs. The value is versioned like any
// other, so a fill never overwrites a newer value that arrived meanwhile.
func (c *Client) SetLocal(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	v := c.version()
	if _, err := store(c.mc, item.Key, Stored{Version: v, Value: item.Value}, item.Flags, item.Expiration); err != nil {
		return v, fmt.Errorf("cachesync: fill %q: %w", item.Key, err)
	}
	return v, nil
}

// Add stores item only if the key holds no live value (a tombstone counts as absent).
func (c *Client) Add(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	v := c.version()
	value := Stored{Version: v, Value: item.Value}.Encode()
	err := c.mc.Add(&memcache.Item{Key: item.Key, Value: value, Flags: item.Flags, Expiration: item.Expiration})
	if errors.Is(err, memcache.ErrNotStored) {
		cur, gerr := c.mc.Get(item.Key)
		if gerr != nil {
			return v, err
		}
		if s, derr := Decode(cur.Value); derr != nil || !s.Tombstone || !s.Version.Less(v) {
			return v, memcache.ErrNotStored
		}
		cur.Value, cur.Flags, cur.Expiration = value, item.Flags, item.Expiration
		err = c.mc.CompareAndSwap(cur)
		if errors.Is(err, memcache.ErrCASConflict) {
			err = memcache.ErrNotStored
		}
	}
	if err != nil {
		return v, err
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, absExpiry(item.Expiration, c.opts.Now()), v)
}

// CompareAndSwap replaces an item read with Get if nobody changed it since
// (memcache.ErrCASConflict otherwise), and sends it to the other regions.
func (c *Client) CompareAndSwap(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	if item.raw == nil {
		return Version{}, errors.New("cachesync: CompareAndSwap needs an item returned by Get")
	}
	v := c.version()
	raw := *item.raw
	raw.Value, raw.Flags, raw.Expiration = Stored{Version: v, Value: item.Value}.Encode(), item.Flags, item.Expiration
	if err := c.mc.CompareAndSwap(&raw); err != nil {
		return v, err
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, absExpiry(item.Expiration, c.opts.Now()), v)
}

// Delete removes key here (leaving a tombstone for TombstoneTTL) and in the other regions.
func (c *Client) Delete(ctx context.Context, key string) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	v := c.version()
	if _, err := store(c.mc, key, Stored{Version: v, Tombstone: true}, 0, int32(c.opts.TombstoneTTL/time.Second)); err != nil {
		return v, fmt.Errorf("cachesync: delete %q locally: %w", key, err)
	}
	return v, c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpDelete, Key: key, Version: v})
}

// Touch changes key's expiry here and in the other regions.
func (c *Client) Touch(ctx context.Context, key string, seconds int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.mc.Touch(key, seconds); err != nil {
		return err
	}
	return c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpTouch, Key: key,
		Expiry: absExpiry(seconds, c.opts.Now()), Version: c.version()})
}

// Emit sends an application event of type typ with payload (JSON-encoded) to the other regions,
// where the agent runs the handler registered for typ (Agent.Handle).
func (c *Client) Emit(ctx context.Context, typ string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("cachesync: encode %s payload: %w", typ, err)
	}
	return c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpApp, Type: typ, Payload: b, Version: c.version()})
}

// publishWrite sends a set (replicate) or an invalidation for a local write.
func (c *Client) publishWrite(ctx context.Context, key string, value []byte, flags uint32, exp int64, v Version) error {
	ev := &Event{Format: FormatVersion, ID: newID(), Op: OpInvalidate, Key: key, Version: v, Expiry: exp}
	if c.opts.Rules.Mode(key) == Replicate {
		if len(value) <= c.opts.MaxValueBytes {
			ev.Op, ev.Value, ev.Flags = OpSet, value, flags
		} else {
			c.degraded.Add(1)
			if c.m != nil {
				c.m.degraded.Inc()
			}
			if c.opts.Logger != nil {
				c.opts.Logger.Info("cachesync: value too large to replicate, sending an invalidation", "key", key, "bytes", len(value), "limit", c.opts.MaxValueBytes)
			}
		}
	}
	return c.pub.Publish(ctx, ev)
}

// absExpiry turns memcached's relative-or-absolute expiration into absolute unix seconds.
func absExpiry(exp int32, now time.Time) int64 {
	switch {
	case exp == 0:
		return 0
	case exp <= 30*24*3600:
		return now.Unix() + int64(exp)
	default:
		return int64(exp)
	}
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
