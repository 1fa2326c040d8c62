package merge

import (
	"bytes"
	"hash/maphash"
)

// matchRows pairs the rows of src and dst by clustering key. It returns, for each source row, the
// index of the destination row with the same clustering key or -1, and for each destination row
// whether a source row matched it. Both sides usually list rows in the same (clustering) order, so a
// lockstep walk pairs them with no lookup; where it fails, a hash index of the destination rows does.
// Duplicate clustering keys on one side (which Cassandra cannot hold) pair with the first.
func matchRows(src, dst []Row) (srcTo []int32, dstMatched []bool) {
	srcTo = make([]int32, len(src))
	dstMatched = make([]bool, len(dst))
	var idx map[uint64]int32 // built only when the lockstep walk fails
	var chain []int32        // next destination row with the same hash, or -1
	var seed maphash.Seed
	j := 0
	for i := range src {
		if j < len(dst) && SameKey(src[i].Clustering, dst[j].Clustering) {
			srcTo[i] = int32(j)
			dstMatched[j] = true
			j++
			continue
		}
		if len(dst) <= 8 {
			srcTo[i] = -1
			for k := range dst {
				if SameKey(src[i].Clustering, dst[k].Clustering) {
					srcTo[i] = int32(k)
					dstMatched[k] = true
					j = k + 1
					break
				}
			}
			continue
		}
		if idx == nil {
			seed = maphash.MakeSeed()
			idx = make(map[uint64]int32, len(dst))
			chain = make([]int32, len(dst))
			for k := len(dst) - 1; k >= 0; k-- {
				h := hashKey(seed, dst[k].Clustering)
				if prev, ok := idx[h]; ok {
					chain[k] = prev
				} else {
					chain[k] = -1
				}
				idx[h] = int32(k)
			}
		}
		srcTo[i] = -1
		k, ok := idx[hashKey(seed, src[i].Clustering)]
		for ok && k >= 0 {
			if SameKey(src[i].Clustering, dst[k].Clustering) {
				srcTo[i] = k
				dstMatched[k] = true
				j = int(k) + 1
				break
			}
			k = chain[k]
		}
	}
	return srcTo, dstMatched
}

func hashKey(seed maphash.Seed, key [][]byte) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var n [4]byte
	for _, part := range key {
		l := len(part)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum64()
}

// column finds the column named name in r, trying index hint first (both sides of a table list
// columns in the same order). It returns nil when the row has no such column.
func column(r *Row, name string, hint int) *Column {
	if r == nil {
		return nil
	}
	if hint >= 0 && hint < len(r.Columns) && r.Columns[hint].Name == name {
		return &r.Columns[hint]
	}
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return &r.Columns[i]
		}
	}
	return nil
}

// eachColumn calls f for every column name of a ∪ b, in a's order then b's extra columns, with the
// column of each side (nil where that row lacks it). Either row may be nil.
func eachColumn(a, b *Row, f func(name string, ca, cb *Column)) {
	if a != nil {
		for i := range a.Columns {
			ca := &a.Columns[i]
			f(ca.Name, ca, column(b, ca.Name, i))
		}
	}
	if b != nil {
		for i := range b.Columns {
			cb := &b.Columns[i]
			if a != nil && column(a, cb.Name, i) != nil {
				continue
			}
			f(cb.Name, nil, cb)
		}
	}
}

// findElem returns the index of the element with key k in es, or -1. hint is tried first.
func findElem(es []Elem, k []byte, hint int) int {
	if hint >= 0 && hint < len(es) && bytes.Equal(es[hint].Key, k) {
		return hint
	}
	for i := range es {
		if bytes.Equal(es[i].Key, k) {
			return i
		}
	}
	return -1
}
