package cachesync

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version orders the writes of one key across regions: the write's time in µs, then the origin
// region's name as the tie-break.
type Version struct {
	Micros int64  `json:"us"`
	Origin string `json:"origin"`
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Micros != w.Micros {
		return v.Micros < w.Micros
	}
	return v.Origin < w.Origin
}

// Stored is a cache value as cachesync keeps it: the value, its version, and whether it is a
// tombstone left by a delete or an invalidation.
type Stored struct {
	Version   Version
	Tombstone bool
	Value     []byte
}

const storedMagic = "cs1"

// ErrNotVersioned: a cached value without cachesync's header, written by something that bypassed
// the Client. It is treated as older than any event.
var ErrNotVersioned = errors.New("cachesync: value has no version header")

// Encode returns s as stored in memcached.
func (s Stored) Encode() []byte {
	b := make([]byte, 0, len(storedMagic)+8+1+len(s.Version.Origin)+1+len(s.Value))
	b = append(b, storedMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Version.Micros))
	b = append(b, byte(len(s.Version.Origin)))
	b = append(b, s.Version.Origin...)
	var flags byte
	if s.Tombstone {
		flags = 1
	}
	b = append(b, flags)
	return append(b, s.Value...)
}

// Decode reads a value stored by cachesync.
func Decode(b []byte) (Stored, error) {
	var s Stored
	if len(b) < len(storedMagic)+10 || string(b[:3]) != storedMagic {
		return s, ErrNotVersioned
	}
	b = b[3:]
	s.Version.Micros = int64(binary.BigEndian.Uint64(b))
	n := int(b[8])
	if len(b) < 9+n+1 {
		return s, fmt.Errorf("%w: truncated header", ErrNotVersioned)
	}
	s.Version.Origin = string(b[9 : 9+n])
	s.Tombstone = b[9+n]&1 != 0
	s.Value = b[10+n:]
	return s, nil
}
