package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is returned for bytes that are not a valid serialised collection.
var ErrMalformed = errors.New("codec: malformed collection bytes")

// SplitCollection splits a serialised list or set (native protocol v3+: int32 count, then int32
// length + bytes per element) into its elements. A null element (length -1) is returned as nil.
func SplitCollection(b []byte) ([][]byte, error) { return splitN(b, 1) }

// SplitMap splits a serialised map into its keys and values, in the server's order.
func SplitMap(b []byte) (keys, values [][]byte, err error) {
	flat, err := splitN(b, 2)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < len(flat); i += 2 {
		keys = append(keys, flat[i])
		values = append(values, flat[i+1])
	}
	return keys, values, nil
}

// splitN splits a serialised collection whose entries are per values each (1: list or set, 2:
// map) into the flat list of values.
func splitN(b []byte, per int) ([][]byte, error) {
	n, rest, err := readInt(b)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: negative count %d", ErrMalformed, n)
	}
	out := make([][]byte, 0, int(n)*per)
	for i := 0; i < int(n)*per; i++ {
		var e []byte
		e, rest, err = readBytes(rest)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// JoinCollection serialises elements as a list or set.
func JoinCollection(elems [][]byte) []byte {
	size := 4
	for _, e := range elems {
		size += 4 + len(e)
	}
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, uint32(len(elems)))
	for _, e := range elems {
		out = appendBytes(out, e)
	}
	return out
}

// JoinMap serialises keys[i] → values[i] as a map.
func JoinMap(keys, values [][]byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(keys)))
	for i := range keys {
		out = appendBytes(out, keys[i])
		out = appendBytes(out, values[i])
	}
	return out
}

func appendBytes(out, e []byte) []byte {
	if e == nil {
		return binary.BigEndian.AppendUint32(out, 0xffffffff)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(e)))
	return append(out, e...)
}

func readInt(b []byte) (int32, []byte, error) {
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("%w: short length", ErrMalformed)
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

func readBytes(b []byte) ([]byte, []byte, error) {
	n, rest, err := readInt(b)
	if err != nil {
		return nil, nil, err
	}
	if n < 0 {
		return nil, rest, nil
	}
	if int(n) > len(rest) {
		return nil, nil, fmt.Errorf("%w: element of %d bytes, %d left", ErrMalformed, n, len(rest))
	}
	return rest[:n:n], rest[n:], nil
}

// Int64s decodes a serialised list<bigint> (writetime() of a multi-cell collection); null elements
// are 0.
func Int64s(b []byte) ([]int64, error) { return decodeAll(b, Int64) }

// Int32s decodes a serialised list<int> (ttl() of a multi-cell collection); null elements (no TTL)
// are 0.
func Int32s(b []byte) ([]int32, error) { return decodeAll(b, Int32) }

// decodeAll splits a serialised list and decodes each element.
func decodeAll[T any](b []byte, decode func([]byte) T) ([]T, error) {
	elems, err := SplitCollection(b)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(elems))
	for i, e := range elems {
		out[i] = decode(e)
	}
	return out, nil
}

// Int64 decodes a serialised bigint; a null is 0.
func Int64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// Int32 decodes a serialised int; a null is 0.
func Int32(b []byte) int32 {
	if len(b) != 4 {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}
