package forklift

import (
	"context"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// copier copies token ranges of one table; one copier is shared by all workers of the table.
type copier struct {
	t        *table
	cfg      *Config
	s        *sides
	m        *metrics
	lim      *limiter
	tr       *tracker
	stats    *tableStats
	quar     *quarantineSink
	markerTS int64 // timestamp of key-only rows' markers: the run's start
}

// copyRange copies (from, r.End] of the table, calling save after every page with the last token
// whose partitions are all written. A failed read resumes from that token after a backoff, so a
// timeout costs at most one page again.
func (c *copier) copyRange(ctx context.Context, r TokenRange, from int64, save func(last, rows int64) error) error {
	attempts := 0
	for {
		next, err := c.copyFrom(ctx, r, from, save)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrInterrupted, c.t.Name(), r, ctx.Err())
		}
		if next > from {
			attempts = 0 // progress was made: the budget is per stuck point, not per range
		}
		from = next
		if !retryable(err) || attempts >= c.cfg.Retries {
			return fmt.Errorf("forklift: copy %s range %s from token %d: %w", c.t.Name(), r, from, err)
		}
		c.m.retries.WithLabelValues("read").Inc()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s %s", ErrInterrupted, c.t.Name(), r)
		case <-time.After(backoff(attempts)):
		}
		attempts++
	}
}

// copyFrom streams (from, r.End] and writes it page by page; it returns the last token saved.
// A page is flushed only at a partition boundary, so a checkpoint token is always that of a
// partition written whole, and a partition wider than a page is still written in one piece.
func (c *copier) copyFrom(ctx context.Context, r TokenRange, from int64, save func(last, rows int64) error) (int64, error) {
	iter := c.s.src.Query(c.t.selectRange, from, r.End).WithContext(ctx).PageSize(c.cfg.PageSize).Iter()
	buf := c.t.newScanBuf()
	var (
		pr        partitionReader
		batch     []*merge.Partition
		batchRows int
		curRows   int
		last      = from
	)
	flush := func(lastTok int64) error {
		if len(batch) > 0 {
			if err := c.lim.wait(ctx, batchRows); err != nil {
				return err
			}
			if err := c.writePartitions(ctx, batch); err != nil {
				return err
			}
			c.tr.rows.Add(int64(batchRows))
			c.stats.Rows.Add(int64(batchRows))
			c.stats.Partitions.Add(int64(len(batch)))
			c.m.rows.WithLabelValues(c.t.Name()).Add(float64(batchRows))
			c.m.partitions.WithLabelValues(c.t.Name()).Add(float64(len(batch)))
		}
		if err := save(lastTok, int64(batchRows)); err != nil {
			return err
		}
		last = lastTok
		batch, batchRows = batch[:0], 0
		return nil
	}
	scanner := iter.Scanner()
	for scanner.Next() {
		if err := scanner.Scan(buf.ptrs...); err != nil {
			_ = iter.Close()
			return last, err
		}
		tok, pk, row, err := c.t.decodeRow(buf)
		if err != nil {
			_ = iter.Close()
			return last, fmt.Errorf("decode row at token %d: %w", tok, err)
		}
		if done, doneTok := pr.add(tok, pk, row); done != nil {
			batch = append(batch, done)
			batchRows += curRows
			curRows = 0
			if batchRows >= c.cfg.PageSize {
				if err := flush(doneTok); err != nil {
					_ = iter.Close()
					return last, err
				}
			}
		}
		curRows++
	}
	if err := scanner.Err(); err != nil {
		return last, err
	}
	if p, _ := pr.flush(); p != nil {
		batch = append(batch, p)
		batchRows += curRows
	}
	if err := flush(r.End); err != nil {
		return last, err
	}
	return r.End, nil
}

// writePartitions writes a page's partitions, WriteConcurrency at a time.
func (c *copier) writePartitions(ctx context.Context, parts []*merge.Partition) error {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.WriteConcurrency)
	for _, p := range parts {
		g.Go(func() error { return c.writePartition(gctx, p) })
	}
	err := g.Wait()
	c.m.pageSeconds.WithLabelValues(c.t.Name()).Observe(time.Since(start).Seconds())
	return err
}

// writePartition writes one source partition: as it is (blind lww), or resolved against what the
// destination holds.
func (c *copier) writePartition(ctx context.Context, src *merge.Partition) error {
	write := src
	if !c.t.blind {
		dst, err := c.readDestination(ctx, src.Key)
		if err != nil {
			return err
		}
		res, err := c.t.resolver.Resolve(src, dst)
		if err != nil {
			return fmt.Errorf("resolve %s partition %x: %w", c.t.Name(), src.Key, err)
		}
		c.stats.addConflicts(c.m, c.t.Name(), res.Conflicts)
		if res.Quarantine != nil {
			c.stats.Quarantined.Add(1)
			c.m.quarantined.WithLabelValues(c.t.Name()).Inc()
			return c.quar.put(ctx, c.t, src.Key, res.Quarantine)
		}
		write = res.Write
	}
	if write == nil || len(write.Rows) == 0 {
		return nil
	}
	stmts := c.t.statements(write, c.markerTS)
	c.stats.Statements.Add(int64(len(stmts)))
	c.m.statements.WithLabelValues(c.t.Name()).Add(float64(len(stmts)))
	return c.exec(ctx, stmts)
}

// readDestination reads one partition of the destination; nil when it holds no row.
func (c *copier) readDestination(ctx context.Context, key [][]byte) (*merge.Partition, error) {
	return readPartition(ctx, c.s.dst, c.t, key, c.cfg.Retries, c.m)
}

func readPartition(ctx context.Context, s *gocql.Session, t *table, key [][]byte, retries int, m *metrics) (*merge.Partition, error) {
	args := make([]any, len(key))
	for i, k := range key {
		args[i] = cql.Raw(k)
	}
	var p *merge.Partition
	err := retry(ctx, retries, func(error) { m.retries.WithLabelValues("read").Inc() }, func() error {
		p = nil
		iter := s.Query(t.selectPartition, args...).WithContext(ctx).PageSize(1000).Iter()
		buf := t.newScanBuf()
		for iter.Scan(buf.ptrs...) {
			_, pk, row, err := t.decodeRow(buf)
			if err != nil {
				_ = iter.Close()
				return err
			}
			if p == nil {
				p = &merge.Partition{Key: pk}
			}
			p.Rows = append(p.Rows, row)
		}
		return iter.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("read destination partition of %s: %w", t.Name(), err)
	}
	return p, nil
}

// exec sends one partition's statements: alone, or in unlogged batches (one partition each, so the
// coordinator applies them as one mutation) no larger than MaxBatchBytes.
func (c *copier) exec(ctx context.Context, stmts []stmt) error {
	onRetry := func(error) { c.m.retries.WithLabelValues("write").Inc() }
	if len(stmts) == 1 {
		st := stmts[0]
		return retry(ctx, c.cfg.Retries, onRetry, func() error {
			return c.s.dst.Query(st.text, st.args...).WithContext(ctx).Idempotent(true).Exec()
		})
	}
	for len(stmts) > 0 {
		n, size := 0, 0
		for n < len(stmts) && (n == 0 || size+stmts[n].size <= c.cfg.MaxBatchBytes) {
			size += stmts[n].size
			n++
		}
		chunk := stmts[:n]
		stmts = stmts[n:]
		err := retry(ctx, c.cfg.Retries, onRetry, func() error {
			b := c.s.dst.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
			for _, st := range chunk {
				b.Query(st.text, st.args...)
			}
			return c.s.dst.ExecuteBatch(b)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
