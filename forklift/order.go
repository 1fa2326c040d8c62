package forklift

import (
	"bytes"
	"cmp"
	"encoding/binary"
)

// Cassandra's partition order, the one order every reader here relies on. A range select returns
// partitions in DecoratedKey order: by token (Murmur3, signed 64 bits), then, for partitions that
// share a token, by the unsigned bytes of the partition key as Cassandra stores it
// (DecoratedKey.compareTo: Token.compareTo, then ByteBufferUtil.compareUnsigned of getKey()). The
// stored key of a single-column partition key is the column's serialised value; that of a
// composite key is CompositeType's encoding, per component a 2-byte big-endian length, the bytes
// and an end-of-component byte 0 (CompositeType.build). Verify walks the two sides of a subrange
// in this order, and the copy cuts its pages (and so its checkpoints) only between tokens, so the
// order within a token never decides what a resumed run reads (copyFrom).

// storedKey is the partition key as Cassandra stores it: the value itself for one column, the
// composite encoding for several.
func storedKey(key [][]byte) []byte {
	if len(key) == 1 {
		return key[0]
	}
	n := 0
	for _, k := range key {
		n += 3 + len(k)
	}
	out := make([]byte, 0, n)
	for _, k := range key {
		out = binary.BigEndian.AppendUint16(out, uint16(len(k)))
		out = append(out, k...)
		out = append(out, 0)
	}
	return out
}

// comparePartitions orders two partitions, given by token and key components, as Cassandra does:
// token first, then the stored key's unsigned bytes. It returns -1, 0 or +1.
func comparePartitions(atok int64, a [][]byte, btok int64, b [][]byte) int {
	if c := cmp.Compare(atok, btok); c != 0 {
		return c
	}
	if len(a) == 1 && len(b) == 1 {
		return bytes.Compare(a[0], b[0])
	}
	return bytes.Compare(storedKey(a), storedKey(b))
}
