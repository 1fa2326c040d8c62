package forklift

import (
	"bytes"
	"context"
	"fmt"
	"sync"
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
	// backoff is the wait before a partition's write attempt n+1 (nil: backoff).
	backoff func(n int) time.Duration

	// inflight records the run's multi-batch partitions in flight (nil: none are recorded); run
	// names the run. recover holds the records a resumed run found (by inFlightID): such a
	// partition is resolved by union when the copy reaches it (see InFlightStore).
	inflight InFlightStore
	run      string
	recMu    sync.Mutex
	recover  map[string]bool
}

// recovering reports whether the partition key of t was left in flight by a killed run.
func (c *copier) recovering(t *table, key [][]byte) bool {
	if c.recover == nil {
		return false
	}
	c.recMu.Lock()
	defer c.recMu.Unlock()
	return c.recover[inFlightID(t.Name(), key)]
}

// recovered forgets a record once its partition is repaired and the record cleared.
func (c *copier) recovered(t *table, key [][]byte) {
	c.recMu.Lock()
	defer c.recMu.Unlock()
	delete(c.recover, inFlightID(t.Name(), key))
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
// lww), or resolved against what the destination holds. It decides once and retries the write of
// that decision:
//
//   - The decision: the source partition's TTLs aged to the second it is made (ageTTLs), the
//     destination read and the partition resolved where it is not blind, and also, under blind
//     lww, where the partition holds a non-frozen list (a list can only be set and appended to,
//     see listStmts: rewriting one the destination already holds duplicates its elements, so a
//     redone page or a repair must see the list there and leave it, lww's whole-list rule). A
//     failed destination read is retried by deciding again: nothing has been written yet.
//   - Every later attempt re-sends the statements of that decision (writeDecided), with the same
//     timestamps: a retry after a write that partly landed (a partition sent in several batches,
//     or one batch that timed out after applying) must not resolve again against its own half-done
//     write, which prefer-destination would take for the destination's partition (writing nothing
//     more) and newest-by for a tie (leaving a row version neither side holds). Statements with
//     fixed timestamps are idempotent, so the retry lands the decision whatever the failed attempt
//     wrote; the one exception, a list append, is re-sent only where the destination lacks it
//     (landedLists).
//
// A TTL is remaining TTL in whole seconds as the source computed it when it served the row's page,
// requested at readAt (partitionStream dates rows by their page): ageing by whole seconds from
// readAt, at the decision and again at every re-send, makes the copy expire no later than the
// source, and earlier by at most the request's latency and the second's truncation; a cell that
// expired meanwhile is not written.
func (c *copier) writePartition(ctx context.Context, t *table, stats *tableStats, src *merge.Partition, readAt int64) error {
	resolve := !t.blind || hasListCell(src)
	resolver := t.resolver
	recovering := c.recovering(t, src.Key)
	if recovering { // left half-written by a killed run: the rule that cannot lose (InFlightStore)
		resolve, resolver = true, inFlightUnion
	}
	var d *decision // nil until decided
	attempt := func() error {
		if d == nil {
			var err error
			if d, err = c.decide(ctx, t, resolver, src, readAt, resolve); err != nil {
				d = nil
				return err
			}
		}
		if d.quarantine != nil {
			if c.quarPut != nil {
				return c.quarPut(ctx, t, src.Key, d.quarantine)
			}
			return c.quar.put(ctx, t, src.Key, d.quarantine)
		}
		return c.writeDecided(ctx, t, stats, d)
	}
	wait := c.backoff
	if wait == nil {
		wait = backoff
	}
	err := retryWait(ctx, c.j.cfg.Retries, func(error) { c.j.m.retries.WithLabelValues("write").Inc() }, wait, attempt)
	if err != nil {
		if d != nil && d.marked {
			// Left in flight: when this run redoes the page (copyRange) it repairs the
			// partition as a resumed run would (invariant 2 of InFlightStore).
			c.recMu.Lock()
			if c.recover == nil {
				c.recover = map[string]bool{}
			}
			c.recover[inFlightID(t.Name(), src.Key)] = true
			c.recMu.Unlock()
		}
		return err
	}
	if c.inflight != nil && (d.marked || recovering) {
		// Its last batch landed: the partition is no longer in flight (invariant 1).
		if err := retryWait(ctx, c.j.cfg.Retries, nil, wait, func() error {
			return c.inflight.ClearInFlight(ctx, c.run, t.Name(), src.Key)
		}); err != nil {
			return err
		}
		if recovering {
			c.recovered(t, src.Key)
			stats.addRepaired(src.Key)
			c.j.log.Warn("forklift: partition left in flight by a killed run repaired by union",
				"table", t.Name(), "key", keyString(src.Key))
		}
	}
	if d != nil && !t.blind {
		stats.addConflicts(c.j.m, t.Name(), d.conflicts)
	}
	if d != nil && d.quarantine != nil {
		stats.Quarantined.Add(1)
		c.j.m.quarantined.WithLabelValues(t.Name()).Inc()
	}
	return nil
}

// decision is what writePartition decided for one partition, once: the partition to write (its
// TTLs as of the Unix second aged), or a quarantine.
type decision struct {
	write      *merge.Partition // nil or no rows: nothing to write
	aged       int64            // the Unix second write's TTLs are stated as of
	dstReadAt  int64            // the µs the destination was read at (rowDeleteTS); 0 when blind
	conflicts  []merge.Conflict
	quarantine *merge.Quarantine
	sent       bool // statements of write were sent at least once: a re-send checks lists first
	marked     bool // recorded in flight (InFlightStore): cleared once the write landed
}

// decide ages src to now and, where resolve, reads the destination and resolves src against it.
func (c *copier) decide(ctx context.Context, t *table, resolver merge.Resolver, src *merge.Partition, readAt int64, resolve bool) (*decision, error) {
	d := &decision{aged: readAt}
	if now := c.clock().Unix(); now > d.aged {
		ageTTLs(src, int32(min(now-d.aged, 1<<30)))
		d.aged = now
	}
	if len(src.Rows) == 0 || !resolve {
		d.write = src
		return d, nil
	}
	dst, err := c.readDestination(ctx, t, src.Key)
	if err != nil {
		return nil, err
	}
	d.dstReadAt = c.clock().UnixMicro()
	res, err := resolver.Resolve(src, dst)
	if err != nil {
		return nil, resolveError(t, src, dst, err)
	}
	d.conflicts, d.quarantine, d.write = res.Conflicts, res.Quarantine, res.Write
	return d, nil
}

// writeDecided sends the statements of d's write, its TTLs aged to this second. On a re-send the
// lists the failed attempt already landed are left out first (landedLists).
func (c *copier) writeDecided(ctx context.Context, t *table, stats *tableStats, d *decision) error {
	w := d.write
	if w == nil || len(w.Rows) == 0 {
		return nil
	}
	if d.sent && hasListCell(w) {
		dst, err := c.readDestination(ctx, t, w.Key)
		if err != nil {
			return err
		}
		w = landedLists(w, dst) // a copy: the next re-send compares with the whole decision again
	}
	if now := c.clock().Unix(); now > d.aged {
		ageTTLs(w, int32(min(now-d.aged, 1<<30)))
		d.aged = now
	}
	if len(w.Rows) == 0 {
		return nil
	}
	stmts := t.statements(w, c.markerTS, d.dstReadAt)
	if c.inflight != nil && !d.marked && batches(stmts, c.j.cfg.MaxBatchBytes) > 1 {
		// Not atomic: recorded in flight before its first batch (invariant 1 of InFlightStore).
		if err := c.inflight.MarkInFlight(ctx, c.run, t.Name(), w.Key); err != nil {
			return err
		}
		d.marked = true
	}
	d.sent = true
	if err := c.send(ctx, stmts); err != nil {
		return err
	}
	stats.Statements.Add(int64(len(stmts)))
	c.j.m.statements.WithLabelValues(t.Name()).Add(float64(len(stmts)))
	return nil
}

// landedLists returns w, a decided write about to be sent again, less what of its non-frozen
// lists the destination dst already holds from an earlier attempt: appending a list's elements
// again would duplicate them (each append gets new element paths), while every other statement is
// idempotent. listStmts writes a list as runs of elements sharing a TTL, all stamped at the list's
// newest writetime T, in order ("l = [run 0]", then "l = l + [run i]"), so the destination holds,
// at T, the values of the runs that landed, a prefix of them. Per list of w:
//
//   - the destination's elements stamped at T are the first m runs' values: runs m… are written
//     (the "l = [run m]" that then opens them deletes only below T, sparing the runs landed);
//   - none at T: the whole list is written again;
//   - the destination holds an element newer than T, or elements at T that are no prefix of the
//     runs: the list was written over since (and lww's whole-list rule keeps the newer), so it is
//     left out.
//
// A row left with no cell to write is left out, unless its marker must be written (merge.Row.Marker,
// an idempotent key-only insert). w itself is not changed: each re-send compares the whole
// decision with what the destination then holds.
func landedLists(w, dst *merge.Partition) *merge.Partition {
	var dstRows []merge.Row
	if dst != nil {
		dstRows = dst.Rows
	}
	srcTo, _ := merge.MatchRows(w.Rows, dstRows)
	rows := make([]merge.Row, 0, len(w.Rows))
	for ri := range w.Rows {
		r := w.Rows[ri]
		var dr *merge.Row
		if srcTo[ri] >= 0 {
			dr = &dstRows[srcTo[ri]]
		}
		had, has := false, false
		cols := make([]merge.Column, len(r.Columns))
		copy(cols, r.Columns)
		r.Columns = cols
		for ci := range r.Columns {
			col := &r.Columns[ci]
			if !col.Present {
				continue
			}
			had = true
			if col.Kind == merge.List && len(col.Elems) > 0 && dr != nil {
				col.Elems = unlandedElems(col.Elems, dstColumn(dr, col.Name))
				col.Present = len(col.Elems) > 0
			}
			has = has || col.Present
		}
		if has || !had || r.Marker || r.Deleted {
			rows = append(rows, r)
		}
	}
	return &merge.Partition{Key: w.Key, Rows: rows}
}

// dstColumn is the column of r named name (nil: none).
func dstColumn(r *merge.Row, name string) *merge.Column {
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return &r.Columns[i]
		}
	}
	return nil
}

// unlandedElems is what of the list elems (the decided write, stamped at its newest writetime T
// by listStmts) is still to be sent over the destination's version of the column, d (see
// landedLists). The elements returned keep T as their writetime, so listStmts stamps them as it
// did the first time.
func unlandedElems(elems []merge.Elem, d *merge.Column) []merge.Elem {
	var ts int64
	live := make([]merge.Elem, 0, len(elems))
	for _, e := range elems {
		if !e.Cell.Deleted {
			live = append(live, e)
			ts = max(ts, e.Cell.WriteTime)
		}
	}
	var atT [][]byte
	if d != nil && d.Present {
		for _, e := range d.Elems {
			if e.Cell.Deleted {
				continue
			}
			if e.Cell.WriteTime > ts {
				return nil // written over since: lww's whole-list rule keeps the newer list
			}
			if e.Cell.WriteTime == ts {
				atT = append(atT, e.Cell.Value)
			}
		}
	}
	// The runs' boundaries: listStmts starts a statement where the TTL changes.
	n := 0
	for n < len(atT) {
		// atT must continue to match live element by element, and may stop only at a run boundary.
		if n >= len(live) || !bytes.Equal(atT[n], live[n].Cell.Value) {
			return nil // no prefix of the runs: not this write's elements
		}
		n++
	}
	if n > 0 && n < len(live) && live[n].Cell.TTL == live[n-1].Cell.TTL {
		return nil // a run half there: not how this write lands (a run is one statement)
	}
	out := make([]merge.Elem, 0, len(live)-n)
	for _, e := range live[n:] {
		e.Cell.WriteTime = ts
		out = append(out, e)
	}
	return out
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
		n := batchLen(stmts, c.j.cfg.MaxBatchBytes)
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

// batchLen is how many of stmts, in order, execOnce sends in its next batch: as many as fit in
// maxBytes, and at least one.
func batchLen(stmts []stmt, maxBytes int) int {
	n, size := 0, 0
	for n < len(stmts) && (n == 0 || size+stmts[n].size <= maxBytes) {
		size += stmts[n].size
		n++
	}
	return n
}

// batches is how many batches (or lone statements) execOnce sends stmts in.
func batches(stmts []stmt, maxBytes int) int {
	k := 0
	for len(stmts) > 0 {
		stmts = stmts[batchLen(stmts, maxBytes):]
		k++
	}
	return k
}
