package cachesync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/internal/hlc"
)

// DefaultTombstoneTTL is the default lifetime of tombstones, and the age past which an event's
// value is no longer trusted (it is applied as an invalidation).
const DefaultTombstoneTTL = 5 * time.Minute

// ErrConfig: an option is out of range.
var ErrConfig = errors.New("cachesync: bad configuration")

// Item is a cache entry as the application sees it: the value without cachesync's header, and
// the version it was written at.
type Item struct {
	Key        string
	Value      []byte
	Flags      uint32 // the application's flags: 31 bits (FlagVersioned is cachesync's)
	Expiration int32  // seconds from now (≤ 30 days) or an absolute unix time, as memcached takes it
	// Version: on Set, the version to write at — give the database write the same time
	// (Version.Micros as its USING TIMESTAMP) and take it from Client.Now; zero = Client.Now.
	// On items returned by Get, the version held (for a fill: the floor, see Stored).
	Version Version
	raw     *memcache.Item // for CompareAndSwap
}

// ClientOptions configure a Client. Zero values take the defaults in brackets.
type ClientOptions struct {
	Region       string        // this region's name, the version tie-break, ≤ 255 bytes (required)
	Rules        Rules         // replicate or invalidate, per key prefix
	TombstoneTTL time.Duration // how long a delete's tombstone holds back older sets [5m]
	// MaxValueBytes: a replicated value larger than this is sent as an invalidation [what fits one
	// SQS message once encoded: about 190 KiB].
	MaxValueBytes int
	// FillLeaseTTL bounds a fill: BeginFill's lease lives this long, a Fill after it is voided
	// [10s].
	FillLeaseTTL time.Duration
	// MaxDrift: a version read more than this ahead of the local clock does not move the clock
	// [hlc.DefaultMaxDrift].
	MaxDrift time.Duration
	// MaxClockSkew bounds how far apart the regions' clocks may be [DefaultMaxClockSkew]: with a
	// Publisher sending second events, NewClient refuses a SecondInvalidation below
	// TombstoneTTL + 2 × MaxClockSkew (see CheckSecondInvalidation).
	MaxClockSkew time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Now          func() time.Time // physical clock, for tests [time.Now]
}

// Client is the application's cache client in one region: local memcached plus events to the
// other regions.
type Client struct {
	mc    Memcache
	pub   Sink
	opts  ClientOptions
	m     *metrics
	clock *hlc.Clock
	tomb  int32

	degraded atomic.Int64
}

// Degraded returns how many replicated values were too large and went out as invalidations.
func (c *Client) Degraded() int64 { return c.degraded.Load() }

// NewClient returns a Client over the region's memcached and a Publisher to the other regions.
func NewClient(mc Memcache, pub Sink, opts ClientOptions) (*Client, error) {
	if mc == nil || pub == nil {
		return nil, fmt.Errorf("%w: NewClient needs a memcache client and a publisher", ErrConfig)
	}
	if opts.Region == "" {
		return nil, fmt.Errorf("%w: ClientOptions.Region is required (it orders concurrent writes)", ErrConfig)
	}
	if len(opts.Region) > MaxOriginBytes {
		return nil, fmt.Errorf("%w: region name is %d bytes, at most %d", ErrConfig, len(opts.Region), MaxOriginBytes)
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = DefaultTombstoneTTL
	}
	if opts.FillLeaseTTL < time.Second {
		opts.FillLeaseTTL = 10 * time.Second
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = (MaxMessageBytes-2048)*3/4 - 1024 // base64 inside the JSON envelope
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = DefaultMaxClockSkew
	}
	if p, ok := pub.(interface{ SecondInvalidation() time.Duration }); ok {
		if err := CheckSecondInvalidation(p.SecondInvalidation(), opts.TombstoneTTL, opts.MaxClockSkew); err != nil {
			return nil, err
		}
	}
	return &Client{mc: mc, pub: pub, opts: opts, m: newMetrics(opts.Registerer),
		clock: hlc.New(opts.Now, opts.MaxDrift), tomb: int32(opts.TombstoneTTL / time.Second)}, nil
}

// Now returns a fresh version of this region from its hybrid logical clock: later than every
// version this client wrote, read or was given. Use it as the database write's timestamp and
// the cache write's Version.
func (c *Client) Now() Version { return Version{Micros: c.clock.Now(), Origin: c.opts.Region} }

// observe moves the clock past a version read or written.
func (c *Client) observe(v Version) {
	if err := c.clock.Observe(v.Micros); err != nil && c.opts.Logger != nil {
		c.opts.Logger.Warn("cachesync: a version far ahead of this clock; not followed", "origin", v.Origin, "err", err)
	}
}

// decode reads a cached item; raw (not cachesync's) values are counted and read as misses.
func (c *Client) decode(it *memcache.Item) (Stored, bool) {
	s, err := DecodeItem(it)
	if err != nil {
		if c.m != nil {
			c.m.unversioned.Inc()
		}
		return s, false
	}
	c.observe(s.Version)
	return s, s.Kind != KindTombstone
}

// Get returns the item for key, or memcache.ErrCacheMiss (also for a tombstone and for a value
// written without cachesync's header, which is counted).
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	it, err := c.mc.Get(key)
	if err != nil {
		return nil, err
	}
	s, live := c.decode(it)
	if !live {
		return nil, memcache.ErrCacheMiss
	}
	return &Item{Key: key, Value: s.Value, Flags: it.Flags &^ FlagVersioned, Expiration: it.Expiration, Version: s.Version, raw: it}, nil
}

// GetMulti returns the live items among keys (misses, tombstones and raw values are absent).
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string]*Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	its, err := c.mc.GetMulti(keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Item, len(its))
	for k, it := range its {
		if s, live := c.decode(it); live {
			out[k] = &Item{Key: k, Value: s.Value, Flags: it.Flags &^ FlagVersioned, Expiration: it.Expiration, Version: s.Version, raw: it}
		}
	}
	return out, nil
}

// Set stores item locally at item.Version (Client.Now when zero) and sends it (or its
// invalidation) to the other regions. A write that loses to a newer version held returns
// ErrNotApplied and sends nothing: the newer write's own event reaches the other regions.
func (c *Client) Set(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	if item.Flags&FlagVersioned != 0 {
		return Version{}, fmt.Errorf("%w: flags bit 31 is cachesync's", ErrConfig)
	}
	v, err := c.versionFor(item.Version)
	if err != nil {
		return v, err
	}
	exp := absExpiry(item.Expiration, c.opts.Now())
	applied, err := store(c.mc, item.Key, Stored{Version: v, Value: item.Value}, item.Flags, item.Expiration, c.tomb)
	if err != nil {
		return v, fmt.Errorf("cachesync: set %q locally: %w", item.Key, err)
	}
	if !applied {
		c.notApplied("set")
		return v, fmt.Errorf("cachesync: set %q at %d: %w", item.Key, v.Micros, ErrNotApplied)
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, exp, v)
}

func (c *Client) versionFor(v Version) (Version, error) {
	if v.IsZero() {
		return c.Now(), nil
	}
	if err := c.clock.Observe(v.Micros); err != nil {
		return v, fmt.Errorf("%w: item version: %w", ErrConfig, err)
	}
	return v, nil
}

func (c *Client) notApplied(op string) {
	if c.m != nil {
		c.m.notApplied.WithLabelValues(op).Inc()
	}
}

// Add stores item only if the key holds no live value (a tombstone counts as absent, if older).
func (c *Client) Add(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	v, err := c.versionFor(item.Version)
	if err != nil {
		return v, err
	}
	value := Stored{Version: v, Value: item.Value}.Encode()
	err = c.mc.Add(&memcache.Item{Key: item.Key, Value: value, Flags: item.Flags | FlagVersioned, Expiration: item.Expiration})
	if errors.Is(err, memcache.ErrNotStored) {
		cur, gerr := c.mc.Get(item.Key)
		if gerr != nil {
			return v, err
		}
		if s, derr := DecodeItem(cur); derr == nil && (s.Kind != KindTombstone || !s.Version.Less(v)) {
			return v, memcache.ErrNotStored
		}
		cur.Value, cur.Flags, cur.Expiration = value, item.Flags|FlagVersioned, item.Expiration
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
	v := c.Now()
	raw := *item.raw
	raw.Value, raw.Flags, raw.Expiration = Stored{Version: v, Value: item.Value}.Encode(), item.Flags|FlagVersioned, item.Expiration
	if err := c.mc.CompareAndSwap(&raw); err != nil {
		return v, err
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, absExpiry(item.Expiration, c.opts.Now()), v)
}

// Delete removes key here (leaving a tombstone for TombstoneTTL) and in the other regions, at
// Client.Now.
func (c *Client) Delete(ctx context.Context, key string) (Version, error) {
	return c.DeleteAt(ctx, key, Version{})
}

// DeleteAt is Delete at version v (the database delete's timestamp; zero = Client.Now). It
// returns ErrNotApplied, and sends nothing, when a newer value is held.
func (c *Client) DeleteAt(ctx context.Context, key string, v Version) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	v, err := c.versionFor(v)
	if err != nil {
		return v, err
	}
	applied, err := store(c.mc, key, Stored{Version: v, Kind: KindTombstone}, 0, c.tomb, c.tomb)
	if err != nil {
		return v, fmt.Errorf("cachesync: delete %q locally: %w", key, err)
	}
	if !applied {
		if it, gerr := c.mc.Get(key); gerr == nil {
			if s, derr := DecodeItem(it); derr == nil && s.Kind == KindTombstone {
				applied = true // a newer tombstone: the key is deleted all the same
			}
		}
		if !applied {
			c.notApplied("delete")
			return v, fmt.Errorf("cachesync: delete %q at %d: %w", key, v.Micros, ErrNotApplied)
		}
	}
	return v, c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpDelete, Key: key, Version: v})
}

// Touch changes key's expiry here (with compare-and-swap, so a value written meanwhile keeps
// its own expiry) and in the other regions, where it applies to the same version only.
func (c *Client) Touch(ctx context.Context, key string, seconds int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		it, err := c.mc.Get(key)
		if err != nil {
			return err
		}
		s, live := c.decode(it)
		if !live {
			return memcache.ErrCacheMiss
		}
		it.Expiration = seconds
		err = c.mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) && attempt < 16 {
			continue
		}
		if err != nil {
			return err
		}
		return c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpTouch, Key: key,
			Expiry: absExpiry(seconds, c.opts.Now()), Version: s.Version})
	}
}

// Increment adds delta to the decimal counter at key and returns the new value; the other
// regions receive an invalidation (deltas do not commute with fills, so counters are never
// replicated). A miss is memcache.ErrCacheMiss, as with memcached's incr.
func (c *Client) Increment(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.incr(ctx, key, func(n uint64) uint64 { return n + delta })
}

// Decrement subtracts delta from the counter at key, stopping at 0 as memcached's decr does.
func (c *Client) Decrement(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.incr(ctx, key, func(n uint64) uint64 {
		if delta > n {
			return 0
		}
		return n - delta
	})
}

func (c *Client) incr(ctx context.Context, key string, f func(uint64) uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for attempt := 0; attempt < 16; attempt++ {
		it, err := c.mc.Get(key)
		if err != nil {
			return 0, err
		}
		s, live := c.decode(it)
		if !live {
			return 0, memcache.ErrCacheMiss
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(s.Value)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cachesync: incr %q: value is not a decimal counter: %w", key, err)
		}
		n = f(n)
		v := c.Now()
		it.Value = Stored{Version: v, Value: []byte(strconv.FormatUint(n, 10))}.Encode()
		err = c.mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpInvalidate, Key: key, Version: v})
	}
	return 0, fmt.Errorf("%w: %s", errContention, key)
}

// Emit sends an application event of type typ with payload (JSON-encoded) to the other regions,
// where the agent runs the handler registered for typ (Agent.Handle).
func (c *Client) Emit(ctx context.Context, typ string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("cachesync: encode %s payload: %w", typ, err)
	}
	return c.pub.Publish(ctx, &Event{Format: FormatVersion, ID: newID(), Op: OpApp, Type: typ, Payload: b, Version: c.Now()})
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
