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
	"unicode/utf8"

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
	Region       string        // this region's name, the version tie-break, ≤ MaxRegionBytes (250), no 0 byte (required)
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
	mc     Memcache
	pub    Sink
	opts   ClientOptions
	m      *metrics
	clock  *hlc.Clock
	tomb   int32
	writer uint32 // Version.Writer of this Client's versions (newWriter)

	degraded atomic.Int64
	late     atomic.Int64
	wall     ratchet // see now
}

// now is the client's clock for the cache rules (expiries, tombstone lifetimes): opts.Now, never
// going back (see ratchet).
func (c *Client) now() time.Time { return c.wall.at(c.opts.Now()) }

// times are the client's clock readings for the cache rules (see times).
func (c *Client) times() times {
	w := c.opts.Now()
	return times{judge: c.wall.at(w), wall: w, pad: c.clock.MaxDrift()}
}

// Degraded returns how many replicated values were too large and went out as invalidations.
func (c *Client) Degraded() int64 { return c.degraded.Load() }

// Late returns how many Set/Add calls gave a version older than the tombstone lifetime and were
// stored and sent as invalidations (see Set).
func (c *Client) Late() int64 { return c.late.Load() }

// NewClient returns a Client over the region's memcached and a Publisher to the other regions.
func NewClient(mc Memcache, pub Sink, opts ClientOptions) (*Client, error) {
	if mc == nil || pub == nil {
		return nil, fmt.Errorf("%w: NewClient needs a memcache client and a publisher", ErrConfig)
	}
	if opts.Region == "" {
		return nil, fmt.Errorf("%w: ClientOptions.Region is required (it orders concurrent writes)", ErrConfig)
	}
	if err := originOK(Version{Origin: opts.Region, Writer: 1}); err != nil {
		return nil, fmt.Errorf("%w: region name: %v", ErrConfig, err)
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
		clock: hlc.New(opts.Now, opts.MaxDrift), tomb: tombstoneSeconds(opts.TombstoneTTL), writer: newWriter()}, nil
}

// writers hands out Writers (Version.Writer): a random start per process (below 2³¹, so the
// Clients of one process count up without wrapping), then one more per Client, skipping 0. Within
// a process the Clients never share one; across processes (the instances of a region, each with
// a few Clients) two share one with odds of about 1 in 2³¹ per pair, and then only their writes
// of one key in the same µs are not told apart (the first one stored wins, as before writers).
var writers = func() *atomic.Uint32 {
	var w atomic.Uint32
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	w.Store(uint32(b[0]&0x7f)<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return &w
}()

func newWriter() uint32 {
	for {
		if w := writers.Add(1); w != 0 {
			return w
		}
	}
}

// Now returns a fresh version of this region from its hybrid logical clock: later than every
// version this client wrote, read or was given, and carrying this Client's Writer (no other Client
// stamps the same version). Use it as the database write's timestamp and the cache write's Version.
func (c *Client) Now() Version {
	return Version{Micros: c.clock.Now(), Origin: c.opts.Region, Writer: c.writer}
}

// observe moves the clock past a version read or written.
func (c *Client) observe(v Version) {
	if err := c.clock.Observe(v.Micros); err != nil && c.opts.Logger != nil {
		c.opts.Logger.Warn("cachesync: a version far ahead of this clock; not followed", "origin", v.Origin, "err", err)
	}
}

// decode reads a cached item as it is now (an expired value is a tombstone); raw (not
// cachesync's) values are counted and read as misses.
func (c *Client) decode(it *memcache.Item) (Stored, bool) {
	s, err := DecodeItem(it)
	if err != nil {
		if c.m != nil {
			c.m.unversioned.Inc()
		}
		return s, false
	}
	c.observe(s.Version)
	s = s.At(c.now())
	return s, !s.Tombstone()
}

// checkKey refuses, before anything is stored or sent, a key memcached would refuse.
func checkKey(key string) error {
	if !legalKey(key) {
		return fmt.Errorf("cachesync: key %q: %w", key, memcache.ErrMalformedKey)
	}
	return nil
}

// failedWrite handles a local write whose outcome memcached did not confirm (an error other than
// a definite refusal: object too large, a timeout, a broken connection). The application wrote
// the database already, so the other regions must hear of the write whatever memcached said: an
// invalidation (or, for a delete, the delete) at v goes out. And the local key must not keep
// serving the older value (a refused cas or add leaves the old item): it gets a tombstone at v,
// or, if even that fails, a plain delete. The error returned wraps cause.
func (c *Client) failedWrite(ctx context.Context, op Op, key string, v Version, cause error) error {
	if _, err := store(c.mc, key, Stored{Version: v, Kind: voidKind(op)}, 0, c.tomb, c.times()); err != nil {
		if derr := c.mc.Delete(key); derr != nil && !errors.Is(derr, memcache.ErrCacheMiss) && c.opts.Logger != nil {
			logKey(c.opts.Logger, slog.LevelWarn, "cachesync: a local write failed and its key could not be invalidated", key, "err", derr)
		}
	}
	if op != OpDelete {
		op = OpInvalidate
	}
	err := fmt.Errorf("cachesync: %s %q locally (the event went out): %w", op, key, cause)
	if perr := c.pub.Publish(ctx, &Event{Format: EventFormat, ID: newID(), Op: op, Key: key, Version: v}); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// definite reports whether a memcached error says for sure that nothing was stored.
func definite(err error) bool {
	return errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) ||
		errors.Is(err, memcache.ErrMalformedKey)
}

// Get returns the item for key, or memcache.ErrCacheMiss (also for a tombstone and for a value
// written without cachesync's header, which is counted).
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
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
// invalidation) to the other regions. A write that loses to a strictly newer version held, or to
// a tombstone (a delete, an invalidation) of its own time, returns ErrNotApplied and sends
// nothing: the newer write's own event reaches the other regions (see Supersedes). A write at the
// very version of the value held is this write again (the application retrying a call that
// returned ErrDropped or a timeout): its event is sent again and Set returns nil (see holds).
//
// A Version older than TombstoneTTL by the client's clock (a delayed or retried cache write) is
// "late", as the agents judge a set event: the tombstone of a newer delete that would have
// stopped it may be gone, so it is stored as a tombstone at its version (an invalidation, never
// a value) and sent as an invalidation — what every agent does with it — counted in Late and in
// islands_cachesync_late_events_total; Set returns nil (the key reads as a miss and refills from
// the database). Add does the same.
func (c *Client) Set(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	if item.Flags&FlagVersioned != 0 {
		return Version{}, fmt.Errorf("%w: flags bit 31 is cachesync's", ErrConfig)
	}
	if err := checkKey(item.Key); err != nil {
		return Version{}, err
	}
	v, err := c.versionFor(item.Version)
	if err != nil {
		return v, err
	}
	if c.isLate(v) {
		return v, c.lateWrite(ctx, item.Key, v)
	}
	exp := absExpiry(item.Expiration, c.opts.Now())
	applied, err := store(c.mc, item.Key, Stored{Version: v, Value: item.Value, Expires: exp}, item.Flags, c.tomb, c.times())
	if err != nil {
		return v, c.failedWrite(ctx, OpSet, item.Key, v, err)
	}
	if !applied && !c.holds(item.Key, v) {
		c.notApplied("set")
		return v, fmt.Errorf("cachesync: set %q at %d: %w", item.Key, v.Micros, ErrNotApplied)
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, exp, v)
}

// holds reports whether key holds a value (live or expired) at exactly v. A write at the version
// of the value held is this very write again — the application retrying a call whose event was
// not sent (ErrDropped, a timeout) — not one that lost to a newer write: its event must go out
// again, or the other regions keep the older value for good. A tombstone at v is not this write:
// a delete at v wins over a value at v (Supersedes), in the database as in every region, so a set
// at v after it is ErrNotApplied and is never sent as a set.
func (c *Client) holds(key string, v Version) bool {
	it, err := c.mc.Get(key)
	if err != nil {
		return false
	}
	s, err := DecodeItem(it)
	return err == nil && s.Kind == KindValue && s.Version == v
}

// after returns the version of a write that replaces what was read at held: Client.Now, or just
// after held when held is further ahead than the clock follows (beyond MaxDrift, a clock stepped
// forward somewhere). A replacing write must be newer than what it replaces, in the cache as in the
// database, which would otherwise keep held (the model found a CompareAndSwap that put an older
// version over a newer value).
func (c *Client) after(held Version) Version {
	v := c.Now()
	if !held.Less(v) {
		v.Micros = held.Micros + 1
	}
	return v
}

// isLate reports whether a write at v is older than the tombstone lifetime by the client's clock
// (the agents' rule for set events, Agent.applyCache).
func (c *Client) isLate(v Version) bool {
	return c.now().Sub(time.UnixMicro(v.Micros)) > c.opts.TombstoneTTL
}

// lateWrite applies a late set or add as the agents apply a late set event: a tombstone at v
// here, an invalidation at v to the other regions.
func (c *Client) lateWrite(ctx context.Context, key string, v Version) error {
	c.late.Add(1)
	if c.m != nil {
		c.m.late.Inc()
	}
	if c.opts.Logger != nil {
		logKey(c.opts.Logger, slog.LevelInfo, "cachesync: write older than the tombstone lifetime, stored and sent as an invalidation", key, "version", v.Micros)
	}
	if _, err := store(c.mc, key, Stored{Version: v, Kind: KindInvalidation}, 0, c.tomb, c.times()); err != nil {
		return c.failedWrite(ctx, OpInvalidate, key, v, err)
	}
	return c.pub.Publish(ctx, &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: key, Version: v})
}

// versionFor returns the version of a write given v (zero: Client.Now). It refuses, with
// ErrConfig, a version the agents would refuse (Micros ≤ 0: ParseEvent's poison) or could not
// store (an origin longer than MaxOriginBytes, MaxRegionBytes with a Writer, or holding a 0
// byte), before anything is stored or sent.
func (c *Client) versionFor(v Version) (Version, error) {
	if v.IsZero() {
		return c.Now(), nil
	}
	if v.Micros <= 0 {
		return v, fmt.Errorf("%w: item version %d µs: a version is a time after 1970 (Client.Now)", ErrConfig, v.Micros)
	}
	if err := originOK(v); err != nil {
		return v, fmt.Errorf("%w: item version: %v", ErrConfig, err)
	}
	if v.Micros <= c.clock.Last() {
		// The clock is past it already: among others this client's own versions, which after a
		// backward step of the wall clock may be more than MaxDrift ahead of it. Refusing them
		// would leave the database written and the caches not told.
		return v, nil
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
// As with Set, an Add at the very version held (a retry) sends its event again and returns nil.
func (c *Client) Add(ctx context.Context, item *Item) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	if item.Flags&FlagVersioned != 0 {
		return Version{}, fmt.Errorf("%w: flags bit 31 is cachesync's", ErrConfig)
	}
	if err := checkKey(item.Key); err != nil {
		return Version{}, err
	}
	v, err := c.versionFor(item.Version)
	if err != nil {
		return v, err
	}
	if c.isLate(v) {
		return v, c.lateWrite(ctx, item.Key, v)
	}
	now := c.now()
	in := Stored{Version: v, Value: item.Value, Expires: absExpiry(item.Expiration, c.opts.Now())}
	mi := &memcache.Item{Key: item.Key, Value: in.Encode(), Flags: item.Flags | FlagVersioned, Expiration: itemExpiration(in, c.times(), c.tomb)}
	err = c.mc.Add(mi)
	if errors.Is(err, memcache.ErrNotStored) {
		cur, gerr := c.mc.Get(item.Key)
		if gerr != nil {
			return v, err
		}
		if s, derr := DecodeItem(cur); derr == nil {
			if s.Kind == KindValue && s.Version == v {
				// This very Add again (a retry after its event was not sent): send it again.
				return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, in.Expires, v)
			}
			// An Add whose expiry has passed already is the delete of its version, as a
			// held expired value is (Stored.At): ordered the same way whichever came first.
			if s = s.At(now); !s.Tombstone() || !Supersedes(v, in.At(now).Kind, s.Version, s.Kind) {
				return v, memcache.ErrNotStored
			}
		}
		mi.CasID = cur.CasID
		err = c.mc.CompareAndSwap(mi)
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) {
			err = memcache.ErrNotStored
		}
	}
	if err != nil {
		if definite(err) {
			return v, err
		}
		return v, c.failedWrite(ctx, OpSet, item.Key, v, err)
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, in.Expires, v)
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
	if item.Flags&FlagVersioned != 0 {
		return Version{}, fmt.Errorf("%w: flags bit 31 is cachesync's", ErrConfig)
	}
	if err := checkKey(item.Key); err != nil {
		return Version{}, err
	}
	v := c.after(item.Version)
	in := Stored{Version: v, Value: item.Value, Expires: absExpiry(item.Expiration, c.opts.Now())}
	raw := *item.raw
	raw.Value, raw.Flags, raw.Expiration = in.Encode(), item.Flags|FlagVersioned, itemExpiration(in, c.times(), c.tomb)
	if err := c.mc.CompareAndSwap(&raw); err != nil {
		if definite(err) {
			return v, err
		}
		return v, c.failedWrite(ctx, OpSet, item.Key, v, err)
	}
	return v, c.publishWrite(ctx, item.Key, item.Value, item.Flags, in.Expires, v)
}

// Delete removes key here (leaving a tombstone for TombstoneTTL) and in the other regions, at
// Client.Now.
func (c *Client) Delete(ctx context.Context, key string) (Version, error) {
	return c.DeleteAt(ctx, key, Version{})
}

// DeleteAt is Delete at version v (the database delete's timestamp; zero = Client.Now). It
// returns ErrNotApplied, and sends nothing, when a value of a later time is held. A value at v's
// own time (the very write at v, or another writer's at that µs) is deleted, as the database's
// delete at v shadows every value written at v (Supersedes).
func (c *Client) DeleteAt(ctx context.Context, key string, v Version) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	if err := checkKey(key); err != nil {
		return Version{}, err
	}
	v, err := c.versionFor(v)
	if err != nil {
		return v, err
	}
	applied, err := store(c.mc, key, Stored{Version: v, Kind: KindTombstone}, 0, c.tomb, c.times())
	if err != nil {
		return v, c.failedWrite(ctx, OpDelete, key, v, err)
	}
	if !applied {
		if it, gerr := c.mc.Get(key); gerr == nil {
			if s, derr := DecodeItem(it); derr == nil && s.Tombstone() {
				applied = true // a newer tombstone: the key is deleted all the same
			}
		}
		if !applied {
			c.notApplied("delete")
			return v, fmt.Errorf("cachesync: delete %q at %d: %w", key, v.Micros, ErrNotApplied)
		}
	}
	return v, c.pub.Publish(ctx, &Event{Format: EventFormat, ID: newID(), Op: OpDelete, Key: key, Version: v})
}

// Touch changes key's expiry here (with compare-and-swap, so a value written meanwhile keeps
// its own expiry) and in the other regions, where it applies to the same version only (where
// that version is not held, it is held back as a tombstone: see Agent.touch). A fill is
// this region's own copy of its database: touching it sends nothing (it has no version the other
// regions could match). A touch memcached did not confirm (a timeout, a broken connection) still
// goes out, the local value is replaced by a tombstone at its version (as for any write whose
// outcome is not known), and the error says so.
func (c *Client) Touch(ctx context.Context, key string, seconds int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
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
		s.Expires = absExpiry(seconds, c.opts.Now())
		// The touch's own stamp, newer than any touch of this version seen here (and, through
		// the clock, than any it observed): the agents order touches of one version by it.
		if !s.Touched.IsZero() {
			c.observe(s.Touched)
		}
		stamp := c.Now()
		if !s.Touched.Less(stamp) {
			stamp.Micros = s.Touched.Micros + 1
		}
		s.Touched = stamp
		it.Value, it.Expiration = s.Encode(), itemExpiration(s, c.times(), c.tomb)
		err = c.mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) && attempt < 16 {
			continue
		}
		if err != nil && (definite(err) || s.Kind == KindFill) {
			return err
		}
		if s.Kind == KindFill {
			return nil
		}
		ev := &Event{Format: EventFormat, ID: newID(), Op: OpTouch, Key: key,
			Expiry: s.Expires, Version: s.Version, Touched: &stamp}
		if err != nil {
			// memcached did not confirm the touch (a timeout, a broken connection): it may have
			// applied here. The touch still goes out, so no other region serves the value past the
			// expiry the application set, and the local value is replaced by a tombstone at its
			// version (a miss is always safe; a plain delete would forget the version, and an
			// older set still in flight would be stored), or, if even that fails, deleted.
			cause := fmt.Errorf("cachesync: touch %q locally (the touch went out; the local value was invalidated): %w", key, err)
			if verr := voidAt(c.mc, key, s.Version, c.tomb, c.times()); verr != nil {
				if derr := c.mc.Delete(key); derr != nil && !errors.Is(derr, memcache.ErrCacheMiss) && c.opts.Logger != nil {
					logKey(c.opts.Logger, slog.LevelWarn, "cachesync: a touch memcached did not confirm, and its key could not be invalidated", key, "err", derr)
				}
			}
			if perr := c.pub.Publish(ctx, ev); perr != nil {
				return errors.Join(cause, perr)
			}
			return cause
		}
		return c.pub.Publish(ctx, ev)
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
	if err := checkKey(key); err != nil {
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
		v := c.after(s.Version)
		// The counter keeps its expiry, as memcached's incr does (a rate-limit window resets).
		out := Stored{Version: v, Value: []byte(strconv.FormatUint(n, 10)), Expires: s.Expires}
		it.Value, it.Expiration = out.Encode(), itemExpiration(out, c.times(), c.tomb)
		err = c.mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) {
			continue
		}
		if err != nil {
			return 0, c.failedWrite(ctx, OpInvalidate, key, v, err)
		}
		return n, c.pub.Publish(ctx, &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: key, Version: v})
	}
	return 0, fmt.Errorf("%w: %s", errContention, key)
}

// Emit sends an application event of type typ with payload (JSON-encoded) to the other regions,
// where the agent runs the handler registered for typ (Agent.Handle).
// An empty typ is refused with ErrConfig (every agent would dead-letter the event).
func (c *Client) Emit(ctx context.Context, typ string, payload any) error {
	if typ == "" {
		return fmt.Errorf("%w: Emit needs an event type", ErrConfig)
	}
	if !utf8.ValidString(typ) {
		// JSON would carry it as U+FFFD: no handler would match it anywhere (dead-letter queue).
		return fmt.Errorf("%w: Emit event type %q is not valid UTF-8", ErrConfig, typ)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("cachesync: encode %s payload: %w", typ, err)
	}
	return c.pub.Publish(ctx, &Event{Format: EventFormat, ID: newID(), Op: OpApp, Type: typ, Payload: b, Version: c.Now()})
}

// publishWrite sends a set (replicate) or an invalidation for a local write.
func (c *Client) publishWrite(ctx context.Context, key string, value []byte, flags uint32, exp int64, v Version) error {
	ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: key, Version: v, Expiry: exp}
	if c.opts.Rules.Mode(key) == Replicate {
		if len(value) <= c.opts.MaxValueBytes {
			ev.Op, ev.Value, ev.Flags = OpSet, value, flags
		} else {
			c.degraded.Add(1)
			if c.m != nil {
				c.m.degraded.Inc()
			}
			if c.opts.Logger != nil {
				logKey(c.opts.Logger, slog.LevelInfo, "cachesync: value too large to replicate, sending an invalidation", key, "bytes", len(value), "limit", c.opts.MaxValueBytes)
			}
		}
	}
	return c.pub.Publish(ctx, ev)
}

// absExpiry turns memcached's relative-or-absolute expiration into absolute unix seconds. The
// application's relative expirations are taken from the wall clock (opts.Now), as the database
// takes a TTL, not from the ratchet.
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

// legalKey reports whether memcached (and gomemcache) take key: 1 to 250 bytes, none of them a
// space or a control byte. Any other byte, valid UTF-8 or not, is allowed.
func legalKey(key string) bool {
	if len(key) == 0 || len(key) > 250 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}
