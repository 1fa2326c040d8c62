package forklift

import (
	"context"
	"encoding/binary"
	"hash"
	"hash/fnv"
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
func hashPartition(h hash.Hash64, p *merge.Partition, now int64) {
	var n [8]byte
	tag := func(b byte) { h.Write([]byte{b}) }
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
			put([]byte(c.Name))
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

// hashRange hashes every partition of one side in r; it also returns the rows it saw.
func hashRange(ctx context.Context, s *gocql.Session, t *table, stmt string, r TokenRange, pageSize int) (uint64, int64, error) {
	h := fnv.New64a()
	st := openStream(ctx, s, t, stmt, r, pageSize)
	var rows int64
	for p, _ := st.next(); p != nil; p, _ = st.next() {
		hashPartition(h, p, st.readAt) // its TTLs are as of then
		rows += int64(len(p.Rows))
	}
	return h.Sum64(), rows, st.close()
}
