package forklift

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/merge"
)

// hashPartition feeds one partition into h as an injective encoding: a sequence of partitions is
// written as tagged, counted frames (partition: key components and row count; row: static flag,
// clustering components and column count; column: name, kind and element count; every byte string
// length-prefixed), so two different sequences never produce the same bytes — a row can never pass
// for a partition, nor a column for a row. What it encodes per cell is what verify compares: value,
// writetime, deletion, whether it expires and, for an expiring cell, its expiry instant (now + TTL,
// in whole seconds) in buckets of merge.ExpiryTolerance: expiries at least the tolerance apart always
// land in different buckets, so equal hashes imply merge.SameVersion cells; the remaining TTL itself
// ticks down between the two sides' reads and is not hashed.
func hashPartition(h io.Writer, p *merge.Partition, now int64) {
	var n [8]byte
	tag := func(b byte) { n[0] = b; h.Write(n[:1]) } // n: one scratch array, no allocation per field
	count := func(c int) {
		binary.BigEndian.PutUint32(n[:4], uint32(c))
		h.Write(n[:4])
	}
	put := func(b []byte) {
		count(len(b))
		h.Write(b)
	}
	putInt := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	bucket := int64(merge.ExpiryTolerance / time.Second)
	cell := func(c merge.Cell) {
		put(c.Value)
		putInt(c.WriteTime)
		var flags byte
		if c.Deleted {
			flags |= 1
		}
		if c.TTL > 0 {
			flags |= 2
		}
		tag(flags)
		if c.TTL > 0 {
			putInt((now + int64(c.TTL)) / bucket)
		}
	}
	tag('P')
	count(len(p.Key))
	for _, k := range p.Key {
		put(k)
	}
	count(len(p.Rows))
	for _, r := range p.Rows {
		tag('R')
		if r.Static {
			tag(1)
		} else {
			tag(0)
		}
		count(len(r.Clustering))
		for _, k := range r.Clustering {
			put(k)
		}
		present := 0
		for _, c := range r.Columns {
			if c.Present {
				present++
			}
		}
		count(present)
		for _, c := range r.Columns {
			if !c.Present {
				continue
			}
			tag('C')
			count(len(c.Name))
			io.WriteString(h, c.Name) // no copy when h is a bufferedHash
			tag(byte(c.Kind))
			if c.Kind == merge.Simple {
				cell(c.Cell)
				continue
			}
			count(len(c.Elems))
			for _, e := range c.Elems {
				put(e.Key)
				cell(e.Cell)
			}
		}
	}
}

// subrangeKey keys the subrange hash of one verify run.
//
// Invariant: a subrange is counted equal only when the two sides' sums are equal, so a pair of
// different inputs with equal sums would verify clean. The sum is HMAC-SHA-256 under a key drawn
// from crypto/rand at the start of every verify run, truncated to 128 bits: whoever writes the
// data (any application user) cannot plant a colliding pair in advance, because the key does not
// exist yet and is never stored or shown; finding one for a given key is a forgery of HMAC-SHA-256
// (about 2^128 work; a random collision among n subranges has probability below n·2^-128). An
// unkeyed hash (the 64-bit FNV-1a used before) lets a birthday search of about 2^33 steps plant
// one.
type subrangeKey [32]byte

// subrangeSum is a subrange's keyed hash (see subrangeKey).
type subrangeSum [16]byte

// newSubrangeKey draws a fresh key for one verify run.
func newSubrangeKey() (*subrangeKey, error) {
	k := new(subrangeKey)
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("forklift: verify: draw the subrange hash key: %w", err)
	}
	return k, nil
}

// hasher returns a fresh keyed hash for one side of one subrange.
func (k *subrangeKey) hasher() hash.Hash { return hmac.New(sha256.New, k[:]) }

// sumOf is h's sum truncated to 128 bits.
func sumOf(h hash.Hash) subrangeSum {
	var s subrangeSum
	copy(s[:], h.Sum(nil))
	return s
}

// hashRange hashes every partition of one side in r under the run's key; it also returns the rows
// it saw.
func hashRange(ctx context.Context, s *gocql.Session, t *table, stmt string, r TokenRange, pageSize int, key *subrangeKey) (subrangeSum, int64, error) {
	h := newBufferedHash(key.hasher())
	st := openStream(ctx, s, t, stmt, r, pageSize)
	var rows int64
	for p, _ := st.next(); p != nil; p, _ = st.next() {
		hashPartition(h, p, st.readAt) // its TTLs are as of then
		rows += int64(len(p.Rows))
	}
	return h.sum(), rows, st.close()
}

// bufferedHash feeds a hash in blocks: hashPartition writes many few-byte fields, and a
// hash.Hash's per-call cost would otherwise dominate. The bytes hashed are the same.
type bufferedHash struct {
	h hash.Hash
	*bufio.Writer
}

func newBufferedHash(h hash.Hash) bufferedHash {
	return bufferedHash{h, bufio.NewWriterSize(h, 4096)}
}

// sum flushes the buffer and returns the hash's sum truncated to 128 bits.
func (b bufferedHash) sum() subrangeSum {
	_ = b.Flush() // a hash.Hash's Write never fails
	return sumOf(b.h)
}
