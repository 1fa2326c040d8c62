package forklift

import (
	"context"
	"encoding/binary"
	"hash"
	"hash/fnv"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/merge"
)

// hashPartition feeds a partition's keys, cell values and writetimes (not TTLs, which tick down
// between the two reads) into h, with lengths so that no two partitions hash alike by accident of
// concatenation.
func hashPartition(h hash.Hash64, p *merge.Partition) {
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(n[:4], uint32(len(b)))
		h.Write(n[:4])
		h.Write(b)
	}
	putInt := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	for _, k := range p.Key {
		put(k)
	}
	for _, r := range p.Rows {
		for _, k := range r.Clustering {
			put(k)
		}
		for _, c := range r.Columns {
			if !c.Present {
				continue
			}
			put([]byte(c.Name))
			if c.Kind == merge.Simple {
				put(c.Cell.Value)
				putInt(c.Cell.WriteTime)
				continue
			}
			for _, e := range c.Elems {
				put(e.Key)
				put(e.Cell.Value)
				putInt(e.Cell.WriteTime)
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
		hashPartition(h, p)
		rows += int64(len(p.Rows))
	}
	return h.Sum64(), rows, st.close()
}
