package forklift

import (
	"context"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/merge"
)

// partitionStream pulls whole partitions, in token order, from a range query.
type partitionStream struct {
	t       *table
	iter    *gocql.Iter
	scanner gocql.Scanner
	buf     *scanBuf
	pr      partitionReader
	err     error
	eof     bool
	// readAt is the Unix second at which the first row of the partition next last returned was
	// decoded: the TTLs it holds were computed by the source no later than that.
	readAt int64
}

// openStream streams the partitions of r, with stmt one of the table's range selects.
func openStream(ctx context.Context, s *gocql.Session, t *table, stmt string, r TokenRange, pageSize int) *partitionStream {
	return newStream(t, s.Query(stmt, r.Start, r.End).WithContext(ctx).PageSize(pageSize).Iter())
}

// newStream streams the partitions of any query laid out like the table's selects.
func newStream(t *table, iter *gocql.Iter) *partitionStream {
	return &partitionStream{t: t, iter: iter, scanner: iter.Scanner(), buf: t.newScanBuf()}
}

// next returns the next whole partition and its token; nil at the end or on error (see close).
func (p *partitionStream) next() (*merge.Partition, int64) {
	for !p.eof {
		if !p.scanner.Next() {
			p.eof = true
			if err := p.scanner.Err(); err != nil {
				p.err = err
				return nil, 0
			}
			break
		}
		if err := p.scanner.Scan(p.buf.ptrs...); err != nil {
			p.err, p.eof = err, true
			return nil, 0
		}
		tok, pk, row, err := p.t.decodeRow(p.buf)
		if err != nil {
			p.err, p.eof = err, true
			return nil, 0
		}
		if done, doneTok := p.pr.add(p.t, tok, pk, row); done != nil {
			p.readAt = p.pr.doneAt
			return done, doneTok
		}
	}
	if p.err != nil {
		return nil, 0
	}
	d, tok := p.pr.flush()
	p.readAt = p.pr.doneAt
	return d, tok
}

func (p *partitionStream) close() error {
	err := p.iter.Close()
	if p.err != nil {
		return p.err
	}
	return err
}
