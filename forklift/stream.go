package forklift

import (
	"context"
	"time"

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
	// readAt is the Unix second the partition next last returned was read at: no later than the
	// source computed the remaining TTLs of its first row; the TTLs of its later rows, which may
	// come from later pages, are restated as of readAt (see next).
	readAt int64

	// Page timing. The driver's Scanner fetches a page synchronously, in the Next that exhausts
	// the page before, and Cassandra fills every page but the last with pageSize rows; so row i
	// was served by the request sent at pageAt of page i/pageSize, recorded just before that Next.
	// A row's TTLs are thus dated by when its page was requested, never by when it was decoded
	// (rows wait in the driver's page while the reader waits for the writer).
	pageSize int
	rows     int   // rows scanned so far
	pageAt   int64 // Unix second the current page was requested
}

// openStream streams the partitions of r, with stmt one of the table's range selects.
func openStream(ctx context.Context, s *gocql.Session, t *table, stmt string, r TokenRange, pageSize int) *partitionStream {
	return queryStream(t, s.Query(stmt, r.Start, r.End).WithContext(ctx), pageSize)
}

// queryStream runs q (laid out like the table's selects) with pages of pageSize rows and streams
// its partitions.
func queryStream(t *table, q *gocql.Query, pageSize int) *partitionStream {
	at := time.Now().Unix() // before the first page is requested (Iter runs the query)
	iter := q.PageSize(pageSize).Iter()
	return &partitionStream{t: t, iter: iter, scanner: iter.Scanner(), buf: t.newScanBuf(), pageSize: pageSize, pageAt: at}
}

// next returns the next whole partition and its token; nil at the end or on error (see close).
func (p *partitionStream) next() (*merge.Partition, int64) {
	for !p.eof {
		if p.rows > 0 && p.pageSize > 0 && p.rows%p.pageSize == 0 {
			p.pageAt = time.Now().Unix() // this Next requests the next page
		}
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
		p.rows++
		tok, pk, row, err := p.t.decodeRow(p.buf)
		if err != nil {
			p.err, p.eof = err, true
			return nil, 0
		}
		if done, doneTok := p.pr.add(p.t, tok, pk, row, p.pageAt); done != nil {
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

// at is the Unix second the partition next last returned was read at (readAt).
func (p *partitionStream) at() int64 { return p.readAt }

func (p *partitionStream) close() error {
	err := p.iter.Close()
	if p.err != nil {
		return p.err
	}
	return err
}
