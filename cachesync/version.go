package cachesync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bradfitz/gomemcache/memcache"
)

// Version orders the writes of one key across regions: a hybrid-logical-clock time in µs (the
// write time the application also gives the database), then the origin region's name, then the
// writer within that region as the tie-breaks.
//
// Invariant: two writers never stamp the same Version. A region runs many application instances,
// each with its own Client and so its own clock, all with the same region name: two of them
// writing one key in the same µs stamped equal versions, and the second write took itself for the
// first one retried (Client.holds), returned nil without storing, and sent its own value at that
// version; each region kept whichever arrived first, for good. So every Client draws its own
// Writer (NewClient: a random start per process, then one more per Client, never 0), and equal
// times and regions are ordered by it, the same way in every region.
type Version struct {
	Micros int64  `json:"us"`
	Origin string `json:"origin"`
	// Writer tells apart the writers (Clients) of one region; 0: a version made without one (an
	// application's own, a client before writers). It travels as "w" in events (agents before it
	// ignore it) and inside the origin bytes of the stored header (see Stored.Encode), so the
	// formats are unchanged.
	Writer uint32 `json:"w,omitempty"`
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Micros != w.Micros {
		return v.Micros < w.Micros
	}
	if v.Origin != w.Origin {
		return v.Origin < w.Origin
	}
	return v.Writer < w.Writer
}

// Supersedes reports whether a write at v of kind k replaces an entry held at held of kind
// heldK: the one ordering rule of the store, used by every write to a key (Client writes, Agent
// events, in any order), so every region converges to the same entry whatever order the same
// writes arrive in. It is the database's (Cassandra's cell reconciliation) on the time:
//
//  1. the later time (Micros) wins;
//  2. at one time, a delete (KindTombstone; an expired value and a fill's floor count as one)
//     wins over a value or an invalidation, whatever their origins and writers (a delete USING
//     TIMESTAMP t shadows every value written at t);
//  3. otherwise the greater origin, then the greater writer wins (Less): Cassandra keeps the
//     greater value bytes between two values of one time, which no region can tell from a
//     version, so the cache orders them by region and writer, the same way in every region;
//  4. at the very same version, a value wins over an invalidation (KindInvalidation): an
//     invalidation at v voids what is older than v, and fills, but not the value that the write
//     at v itself stored (the late second event of a replicated set, the own queue's copy of an
//     invalidate-mode write's event: both are invalidations at the value's own version).
//
// Kinds are ordered by the tuple (Micros, a delete?, Origin, Writer, invalidation < value <
// delete): a strict total order on (version, kind), so equal pairs do not supersede each other
// (a retry of one write changes nothing). Callers pass a held entry as read now (Stored.At: a
// value whose expiry has passed is a delete at its version), and an arriving one the same way.
func Supersedes(v Version, k Kind, held Version, heldK Kind) bool {
	if v.Micros != held.Micros {
		return v.Micros > held.Micros
	}
	if d, hd := k.deletes(), heldK.deletes(); d != hd {
		return d
	}
	if v != held {
		return held.Less(v)
	}
	return k.rank() > heldK.rank()
}

// deletes reports whether an entry of kind k shadows every value of its time (rule 2 of
// Supersedes): a delete, and a fill, which counts as the tombstone of its floor.
func (k Kind) deletes() bool { return k == KindTombstone || k == KindFill }

// rank orders the kinds at one version (rule 4 of Supersedes).
func (k Kind) rank() int {
	switch k {
	case KindInvalidation:
		return 0
	case KindValue:
		return 1
	}
	return 2
}

// IsZero reports whether v is the zero Version (no version).
func (v Version) IsZero() bool { return v.Micros == 0 && v.Origin == "" && v.Writer == 0 }

// writerSuffix is what a Writer adds to the origin bytes of a stored header: a 0 byte (which no
// origin holds: NewClient, versionFor and ParseEvent refuse it) and the Writer (4, big-endian).
const writerSuffix = 5

// MaxRegionBytes is the longest region name a Client takes: a version's origin bytes hold the
// region and its writer (writerSuffix) within MaxOriginBytes.
const MaxRegionBytes = MaxOriginBytes - writerSuffix

// appendOrigin appends the origin bytes of v to b, length first: the origin (clipped to what the
// header holds), then, for a version with a Writer, 0 and the Writer. A reader before writers reads
// them as one longer origin and orders versions by it as Less does (an origin never holds a 0
// byte, and a Writer's bytes are big-endian): the stored format is unchanged.
func appendOrigin(b []byte, v Version) []byte {
	if v.Writer == 0 {
		o := clipOrigin(v.Origin, MaxOriginBytes)
		b = append(b, byte(len(o)))
		return append(b, o...)
	}
	o := clipOrigin(v.Origin, MaxRegionBytes)
	b = append(b, byte(len(o)+writerSuffix))
	b = append(b, o...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, v.Writer)
}

// readOrigin splits origin bytes written by appendOrigin into the origin and the writer.
func readOrigin(raw []byte) (origin string, writer uint32) {
	if n := len(raw); n >= writerSuffix && raw[n-writerSuffix] == 0 {
		return string(raw[:n-writerSuffix]), binary.BigEndian.Uint32(raw[n-4:])
	}
	return string(raw), 0
}

// originOK reports why an origin cannot be carried (too long, not UTF-8, a 0 byte), or nil.
func originOK(v Version) error {
	limit := MaxOriginBytes
	if v.Writer != 0 {
		limit = MaxRegionBytes
	}
	if len(v.Origin) > limit {
		return fmt.Errorf("origin is %d bytes, at most %d", len(v.Origin), limit)
	}
	if !utf8.ValidString(v.Origin) {
		return fmt.Errorf("origin %q is not valid UTF-8 (events carry it as JSON text)", v.Origin)
	}
	if strings.IndexByte(v.Origin, 0) >= 0 {
		return fmt.Errorf("origin %q holds a 0 byte (the stored header's writer mark)", v.Origin)
	}
	return nil
}

// Kind is what a stored entry is.
type Kind byte

// The kinds of stored entries.
const (
	KindValue     Kind = 0 // a value written by the application or replicated from another region
	KindTombstone Kind = 1 // a delete (or an expired value), held for the tombstone lifetime
	KindFill      Kind = 2 // a value read from this region's database replica (Client.Fill)
	// KindInvalidation is an invalidation, held for the tombstone lifetime as a delete is: it
	// voids what is older than its version and fills, but loses to the value at its very version
	// (Supersedes). Readers before it (pass 7 and older) take it for an item without a version.
	KindInvalidation Kind = 3
)

// Stored is a cache entry as cachesync keeps it: the value, its version, and its kind. For a
// fill, Version is the version of the tombstone the fill replaced (zero if none): a fill carries
// no version of its own, because the replica it was read from may lag any write.
type Stored struct {
	Version Version
	Kind    Kind
	Value   []byte
	// Expires is when the value expires (absolute unix seconds; 0 = never). memcached keeps the
	// item at least a tombstone lifetime longer (see itemExpiration): an expired value reads as a
	// miss but still holds back every older write, as a tombstone at its version would. For a
	// tombstone, Expires is how long it must hold at least (a far-ahead version, see the Agent).
	Expires int64
	// Touched is the stamp of the last touch applied to this value (Client.Touch: a version from
	// the touching region's clock; zero: never touched). Touches of one version are ordered by
	// it, newest wins, whatever order they arrive in (Agent.touch).
	Touched Version
}

// At returns s as it reads at now: a value or a fill whose expiry has passed is a tombstone at
// its version (a fill's: the floor it replaced, which it goes on holding).
func (s Stored) At(now time.Time) Stored {
	if !s.Tombstone() && s.Expires != 0 && now.Unix() >= s.Expires {
		return Stored{Version: s.Version, Kind: KindTombstone, Expires: s.Expires}
	}
	return s
}

// Tombstone reports whether s is a tombstone (a delete or an invalidation).
func (s Stored) Tombstone() bool { return s.Kind == KindTombstone || s.Kind == KindInvalidation }

// FlagVersioned is the memcached flags bit that marks a value written by cachesync; the
// application's own flags use the other 31 bits. A value without it (written by a plain memcached
// client) is not cachesync's: it reads as a miss and any write may replace it.
const FlagVersioned uint32 = 1 << 31

// ValueFormat is the version of the value format (the layout below of what cachesync stores in
// memcached): the first byte of every stored value. EventFormat is the other, the events' format.
const ValueFormat byte = 2

// MaxOriginBytes is the longest region name a version can carry.
const MaxOriginBytes = 255

// ErrNotVersioned: a cached value without cachesync's flag and header, written by something that
// bypassed the Client. It reads as a miss.
var ErrNotVersioned = errors.New("cachesync: value has no version header")

// kindExpires is set in the kind byte when an 8-byte expiry (Stored.Expires) follows it.
const kindExpires byte = 0x80

// kindTouched is set in the kind byte when a touch stamp (Stored.Touched: µs (8), origin length
// (1), origin) follows it (after the expiry, if any).
const kindTouched byte = 0x40

// Encode returns s as stored in memcached (the item's flags must include FlagVersioned).
//
//	format (1) = 2 | version µs (8, big-endian) | origin length (1) | origin | kind (1) |
//	[expires, unix s (8), when kind has bit 0x80] |
//	[touched µs (8) | origin length (1) | origin, when kind has bit 0x40] | value
//
// where origin is the region's name, followed, for a version with a Writer, by a 0 byte and the
// Writer (4, big-endian): see appendOrigin.
func (s Stored) Encode() []byte {
	b := make([]byte, 0, 1+8+1+len(s.Version.Origin)+writerSuffix+1+8+len(s.Value))
	b = append(b, ValueFormat)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Version.Micros))
	b = appendOrigin(b, s.Version)
	k := byte(s.Kind)
	if s.Expires != 0 {
		k |= kindExpires
	}
	touched := !s.Tombstone() && !s.Touched.IsZero()
	if touched {
		k |= kindTouched
	}
	b = append(b, k)
	if s.Expires != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(s.Expires))
	}
	if touched {
		b = binary.BigEndian.AppendUint64(b, uint64(s.Touched.Micros))
		b = appendOrigin(b, s.Touched)
	}
	return append(b, s.Value...)
}

// clipOrigin bounds an origin to what the header holds (limit): NewClient refuses longer region
// names, versionFor longer origins.
func clipOrigin(o string, limit int) string {
	if len(o) > limit {
		return o[:limit]
	}
	return o
}

// Decode reads a value stored by cachesync (the bytes only; DecodeItem also checks the flag).
func Decode(b []byte) (Stored, error) {
	var s Stored
	if len(b) < 11 || b[0] != ValueFormat {
		return s, ErrNotVersioned
	}
	s.Version.Micros = int64(binary.BigEndian.Uint64(b[1:]))
	n := int(b[9])
	if len(b) < 10+n+1 {
		return s, fmt.Errorf("%w: truncated header", ErrNotVersioned)
	}
	s.Version.Origin, s.Version.Writer = readOrigin(b[10 : 10+n])
	k, rest := b[10+n], b[11+n:]
	if k&kindExpires != 0 {
		if len(rest) < 8 {
			return s, fmt.Errorf("%w: truncated expiry", ErrNotVersioned)
		}
		s.Expires, rest = int64(binary.BigEndian.Uint64(rest)), rest[8:]
		k &^= kindExpires
	}
	if k&kindTouched != 0 {
		if len(rest) < 9 || len(rest) < 9+int(rest[8]) {
			return s, fmt.Errorf("%w: truncated touch stamp", ErrNotVersioned)
		}
		n := int(rest[8])
		s.Touched = Version{Micros: int64(binary.BigEndian.Uint64(rest))}
		s.Touched.Origin, s.Touched.Writer = readOrigin(rest[9 : 9+n])
		rest = rest[9+n:]
		k &^= kindTouched
	}
	s.Kind = Kind(k)
	if s.Kind > KindInvalidation {
		return s, fmt.Errorf("%w: unknown kind %d", ErrNotVersioned, s.Kind)
	}
	s.Value = rest
	return s, nil
}

// DecodeItem reads a memcached item written by cachesync; items without FlagVersioned are
// ErrNotVersioned whatever their bytes.
func DecodeItem(it *memcache.Item) (Stored, error) {
	if it.Flags&FlagVersioned == 0 {
		return Stored{}, ErrNotVersioned
	}
	return Decode(it.Value)
}
