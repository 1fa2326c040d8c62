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

// copier copies work items, Workers at a time, for one Run or Repair: the one engine behind both.
// Each worker copies one token range of one table.
type copier struct {
	j        *Job
	lim      *limiter
	tr       *tracker
	quar     *quarantineSink
	markerTS int64 // timestamp of key-only rows' markers: the run's start

	noReadAhead bool // read a page only once the one before is written

	// Seams for unit tests: the clock TTLs are aged by, reading the destination's partition,
	// sending one attempt's statements, keeping a quarantined partition. Nil: time.Now,
	// readPartition, execOnce, the quarantine sink.
	now      func() time.Time
	readDst  func(ctx context.Context, t *table, key [][]byte) (*merge.Partition, error)
	sendStmt func(ctx context.Context, stmts []stmt) error
	quarPut  func(ctx context.Context, t *table, key [][]byte, q *merge.Quarantine) error
	// openSrc reads a source range (nil: openStream on the source session).
	openSrc func(ctx context.Context, t *table, r TokenRange, pageSize int) rangeStream
}

// rangeStream is one token range of the source read partition by partition, in Cassandra's order
// (partitionStream); at is the Unix second the partition next last returned was read at.
type rangeStream interface {
	next() (*merge.Partition, int64)
	at() int64
	close() error
}

func (c *copier) openSource(ctx context.Context, t *table, r TokenRange) rangeStream {
	if c.openSrc != nil {
		return c.openSrc(ctx, t, r, c.j.cfg.PageSize)
	}
	return openStream(ctx, c.j.src, t, t.selectRange, r, c.j.cfg.PageSize)
}

func (c *copier) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// work is one token range of one table to copy, from a token on.
type work struct {
	t     *table
	stats *tableStats
	r     TokenRange
	from  int64
	rows  int64
	rs    *rangeState
}

// saveFunc records that w is written up to last (done: the whole range).
type saveFunc func(ctx context.Context, w *work, last, rows int64, done bool) error

// newCopier opens what a copy of tables needs: the rate limiter and, when a table is not blind,
// the quarantine sink.
func (j *Job) newCopier(ctx context.Context, phase string, total int, markerTS int64) (*copier, error) {
	c := &copier{j: j, lim: newLimiter(j.cfg.RateLimit), tr: newTracker(phase, total), markerTS: markerTS}
	for _, t := range j.tables {
		if !t.blind {
			q, err := newQuarantineSink(ctx, j.dst, &j.cfg)
			if err != nil {
				return nil, err
			}
			c.quar = q
			break
		}
	}
	return c, nil
}

func (c *copier) Close() error { return c.quar.Close() }

// copyAll copies every work item, Workers at a time, reporting progress; save records a page or a
// range finished. Saves run on a context that outlives cancellation (for 10s), so a page written
// before SIGTERM is also checkpointed.
func (c *copier) copyAll(ctx context.Context, items []*work, progress progressOptions, save saveFunc) error {
	for _, w := range items {
		w.rs = &rangeState{weight: ringShare(w.r)}
		c.tr.advance(w.rs, w.r, w.from)
	}
	c.tr.startFr = c.tr.snapshot().Fraction
	stopProgress := progress.start(c.tr)
	defer stopProgress()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.j.cfg.Workers)
	for _, w := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return c.copyWork(gctx, w, save) })
	}
	err := g.Wait()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %v", ErrInterrupted, ctx.Err())
	}
	return err
}

// copyWork copies one work item and records it done.
func (c *copier) copyWork(ctx context.Context, w *work, save saveFunc) error {
	saveCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	}
	err := c.copyRange(ctx, w, func(last, rows int64) error {
		w.rows += rows
		c.tr.advance(w.rs, w.r, last)
		sctx, cancel := saveCtx()
		defer cancel()
		return save(sctx, w, last, w.rows, false)
	})
	if err != nil {
		return err
	}
	sctx, cancel := saveCtx()
	defer cancel()
	if err := save(sctx, w, w.r.End, w.rows, true); err != nil {
		return err
	}
	w.stats.RangesDone.Add(1)
	c.tr.done.Add(1)
	c.j.m.ranges.WithLabelValues(w.t.Name()).Inc()
	c.j.log.Debug("range done", "table", w.t.Name(), "range", w.r.String(), "rows", w.rows)
	return nil
}

// copyRange copies (w.from, w.r.End], calling save after every page with the last token whose
// partitions are all written. A failed read resumes from that token after a backoff, so a timeout
// costs at most one page again.
func (c *copier) copyRange(ctx context.Context, w *work, save func(last, rows int64) error) error {
	attempts := 0
	from := w.from
	for {
		next, err := c.copyFrom(ctx, w, from, save)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrInterrupted, w.t.Name(), w.r, ctx.Err())
		}
		if next > from {
			attempts = 0 // progress was made: the budget is per stuck point, not per range
		}
		from = next
		if !retryable(err) || attempts >= c.j.cfg.Retries {
			return fmt.Errorf("forklift: copy %s range %s from token %d: %w", w.t.Name(), w.r, from, err)
		}
		c.j.m.retries.WithLabelValues("read").Inc()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s %s", ErrInterrupted, w.t.Name(), w.r)
		case <-time.After(backoff(attempts)):
		}
		attempts++
	}
}

// copyFrom streams (from, w.r.End] and writes it page by page; it returns the last token saved.
// A page ends only at a token boundary: after the last partition of its last token, never between
// two partitions that share a token (a Murmur3 collision). A checkpoint token T means every
// partition with a token ≤ T is written, and a resumed run or a retried read asks for token > T:
// had a page ended between two partitions of T, the second would never be read. So a page is
// PageSize rows or more (a partition wider than a page is still written in one piece, and the
// partitions sharing its last token join it), and the order within a token never matters here.
// The next page is read while the one before is written (see pipeline), unless the run asked for
// no read-ahead.
// Each partition carries the second its first row was read, from which its TTLs are aged when it
// is written (writePartition), never from the start of a page that then waited for the writer.
func (c *copier) copyFrom(ctx context.Context, w *work, from int64, save func(last, rows int64) error) (int64, error) {
	last := from
	write := func(p page) error {
		if err := c.writePage(ctx, w, &p); err != nil {
			return err
		}
		if err := save(p.last, int64(p.rows)); err != nil {
			return err
		}
		last = p.last
		return nil
	}
	read := func(ctx context.Context, emit func(page) error) error {
		st := c.openSource(ctx, w.t, TokenRange{Start: from, End: w.r.End})
		var p page
		full := false // p holds PageSize rows: it ends before the next partition of another token
		for {
			part, tok := st.next()
			if part == nil {
				break
			}
			if full && tok != p.last {
				if err := emit(p); err != nil {
					_ = st.close()
					return err
				}
				p, full = page{}, false
			}
			p.parts = append(p.parts, part)
			p.readAt = append(p.readAt, st.at())
			p.rows += len(part.Rows)
			if p.rows >= c.j.cfg.PageSize {
				p.last, full = tok, true
			}
		}
		if err := st.close(); err != nil {
			return err
		}
		p.last = w.r.End
		return emit(p)
	}
	var err error
	if c.noReadAhead {
		err = read(ctx, write)
	} else {
		err = pipeline(ctx, read, write)
	}
	if err != nil {
		return last, err
	}
	return w.r.End, nil
}

// writePage writes a page's partitions, WriteConcurrency at a time, after the rate limiter lets
// its rows through, and counts them.
func (c *copier) writePage(ctx context.Context, w *work, p *page) error {
	if len(p.parts) == 0 {
		return nil
	}
	if err := c.lim.wait(ctx, p.rows); err != nil {
		return err
	}
	if err := c.writePartitions(ctx, w, p.parts, p.readAt); err != nil {
		return err
	}
	name := w.t.Name()
	c.tr.rows.Add(int64(p.rows))
	w.stats.Rows.Add(int64(p.rows))
	w.stats.Partitions.Add(int64(len(p.parts)))
	c.j.m.rows.WithLabelValues(name).Add(float64(p.rows))
	c.j.m.partitions.WithLabelValues(name).Add(float64(len(p.parts)))
	return nil
}

// ageTTLs takes by seconds off every expiring cell of p; a cell (or collection element) whose TTL
// runs out is dropped, and so is a row left with no cell by that, as a read now would not return
// them. Cells without a TTL, and rows that never had a cell (key-only rows), are untouched.
func ageTTLs(p *merge.Partition, by int32) {
	if by <= 0 {
		return
	}
	keepCells(p, func(c *merge.Cell) bool { // false: expired
		if c.TTL <= 0 || c.Deleted {
			return true
		}
		c.TTL -= by
		return c.TTL > 0
	})
}

// keepCells keeps the cells of p for which keep (which may change the cell) says true, and drops
// a row left with no cell that had some (a row that had none, key-only, stays).
func keepCells(p *merge.Partition, keep func(c *merge.Cell) bool) {
	rows := p.Rows[:0]
	for ri := range p.Rows {
		r := p.Rows[ri]
		had, has := false, false
		for ci := range r.Columns {
			col := &r.Columns[ci]
			if !col.Present {
				continue
			}
			had = true
			if col.Kind == merge.Simple {
				col.Present = keep(&col.Cell)
			} else {
				kept := col.Elems[:0]
				for _, e := range col.Elems {
					if keep(&e.Cell) {
						kept = append(kept, e)
					}
				}
				col.Elems = kept
				col.Present = len(kept) > 0
			}
			has = has || col.Present
		}
		if has || !had {
			rows = append(rows, r)
		}
	}
	p.Rows = rows
}

// writePartitions writes a page's partitions, WriteConcurrency at a time; readAt[i] is the Unix
// second parts[i] was read at.
func (c *copier) writePartitions(ctx context.Context, w *work, parts []*merge.Partition, readAt []int64) error {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.j.cfg.WriteConcurrency)
	for i, p := range parts {
		g.Go(func() error { return c.writePartition(gctx, w.t, w.stats, p, readAt[i]) })
	}
	err := g.Wait()
	c.j.m.pageSeconds.WithLabelValues(w.t.Name()).Observe(time.Since(start).Seconds())
	return err
}

// writePartition writes one source partition, read at the Unix second readAt: as it is (blind
// lww), or resolved against what the destination holds. Every attempt, the first and each retry,
// starts again from the source partition:
//
//   - its TTLs are aged to the attempt's own second (ageTTLs), so a copy never outlives the source
//     by the time the partition waited (rate limit, destination read, backoff), and a cell that
//     expired meanwhile is not written;
//   - the destination is read again and the partition resolved again where it is not blind, and
//     also, under blind lww, where the partition holds a non-frozen list: a list can only be set
//     and appended to (listStmts), and rewriting one the destination already holds at the same
//     timestamp duplicates its elements (the collection tombstone at T − 1 spares the elements at
//     T), so a redone page, a retry after a write that did land, or a repair must see the list
//     there and leave it (lww's whole-list rule, merge.Resolve).
//
// A TTL is remaining TTL in whole seconds as the source computed it when it served the row's page,
// requested at readAt (partitionStream dates rows by their page): ageing by whole seconds from
// readAt makes the copy expire no later than the source, and earlier by at most the request's
// latency and the second's truncation.
func (c *copier) writePartition(ctx context.Context, t *table, stats *tableStats, src *merge.Partition, readAt int64) error {
	resolve := !t.blind || hasListCell(src)
	aged := readAt
	var conflicts []merge.Conflict
	quarantined := false
	attempt := func() error {
		if now := c.clock().Unix(); now > aged {
			ageTTLs(src, int32(min(now-aged, 1<<30)))
			aged = now
		}
		if len(src.Rows) == 0 {
			return nil
		}
		write := src
		var readAt int64 // the µs the destination was read at (rowDeleteTS)
		if resolve {
			dst, err := c.readDestination(ctx, t, src.Key)
			if err != nil {
				return err
			}
			readAt = c.clock().UnixMicro()
			res, err := t.resolver.Resolve(src, dst)
			if err != nil {
				return resolveError(t, src, dst, err)
			}
			conflicts = res.Conflicts
			if res.Quarantine != nil {
				quarantined = true
				if c.quarPut != nil {
					return c.quarPut(ctx, t, src.Key, res.Quarantine)
				}
				return c.quar.put(ctx, t, src.Key, res.Quarantine)
			}
			write = res.Write
		}
		if write == nil || len(write.Rows) == 0 {
			return nil
		}
		stmts := t.statements(write, c.markerTS, readAt)
		if err := c.send(ctx, stmts); err != nil {
			return err
		}
		stats.Statements.Add(int64(len(stmts)))
		c.j.m.statements.WithLabelValues(t.Name()).Add(float64(len(stmts)))
		return nil
	}
	err := retry(ctx, c.j.cfg.Retries, func(error) { c.j.m.retries.WithLabelValues("write").Inc() }, attempt)
	if err != nil {
		return err
	}
	if !t.blind {
		stats.addConflicts(c.j.m, t.Name(), conflicts)
	}
	if quarantined {
		stats.Quarantined.Add(1)
		c.j.m.quarantined.WithLabelValues(t.Name()).Inc()
	}
	return nil
}

// hasListCell reports whether p holds a non-frozen list with at least one element.
func hasListCell(p *merge.Partition) bool {
	for i := range p.Rows {
		for j := range p.Rows[i].Columns {
			if c := &p.Rows[i].Columns[j]; c.Kind == merge.List && c.Present && len(c.Elems) > 0 {
				return true
			}
		}
	}
	return false
}

// readDestination reads the destination's version of one partition, once (the caller retries).
func (c *copier) readDestination(ctx context.Context, t *table, key [][]byte) (*merge.Partition, error) {
	if c.readDst != nil {
		return c.readDst(ctx, t, key)
	}
	return readPartition(ctx, c.j.dst, t, key, 0, c.j.m)
}

// send sends one attempt's statements, once (the caller retries).
func (c *copier) send(ctx context.Context, stmts []stmt) error {
	if c.sendStmt != nil {
		return c.sendStmt(ctx, stmts)
	}
	return c.execOnce(ctx, stmts)
}

func readPartition(ctx context.Context, s *gocql.Session, t *table, key [][]byte, retries int, m *metrics) (*merge.Partition, error) {
	args := make([]any, len(key))
	for i, k := range key {
		args[i] = cql.Raw(k)
	}
	var p *merge.Partition
	err := retry(ctx, retries, func(error) { m.retries.WithLabelValues("read").Inc() }, func() error {
		p = nil
		st := queryStream(t, s.Query(t.selectPartition, args...).WithContext(ctx), 1000)
		p, _ = st.next()
		return st.close()
	})
	if err != nil {
		return nil, fmt.Errorf("read destination partition of %s: %w", t.Name(), err)
	}
	return p, nil
}

// execOnce sends one partition's statements, in order: alone, or in unlogged batches (one
// partition each, so the coordinator applies them as one mutation) no larger than MaxBatchBytes.
// It does not retry: writePartition retries the whole attempt.
func (c *copier) execOnce(ctx context.Context, stmts []stmt) error {
	if len(stmts) == 1 {
		st := stmts[0]
		return c.j.dst.Query(st.text, st.args...).WithContext(ctx).Idempotent(true).Exec()
	}
	for len(stmts) > 0 {
		n, size := 0, 0
		for n < len(stmts) && (n == 0 || size+stmts[n].size <= c.j.cfg.MaxBatchBytes) {
			size += stmts[n].size
			n++
		}
		b := c.j.dst.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		for _, st := range stmts[:n] {
			b.Query(st.text, st.args...)
		}
		if err := c.j.dst.ExecuteBatch(b); err != nil {
			return err
		}
		stmts = stmts[n:]
	}
	return nil
}
