package recordlog

import (
	"context"
	"fmt"
	"os"

	"github.com/globalcloud/islands/internal/private"
)

// Append writes payload and returns once it is durable (fsynced with its group), with the
// position just after it. The wait is bounded by ctx: when ctx ends first the error is ctx's and
// the record may or may not be in the log (invariant 2).
func (l *Log) Append(ctx context.Context, payload []byte) (Pos, error) {
	if l.opts.ReadOnly {
		return Pos{}, ErrReadOnly
	}
	if l.closed.Load() {
		return Pos{}, ErrClosed
	}
	if len(payload) > l.opts.MaxRecord {
		return Pos{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(payload), l.opts.MaxRecord)
	}
	size := int64(headerSize + len(payload))
	if r := l.reserved.Add(size); l.opts.MaxBytes > 0 {
		l.mu.Lock()
		pending := l.pending
		l.mu.Unlock()
		if pending+r > l.opts.MaxBytes {
			l.reserved.Add(-size)
			return Pos{}, fmt.Errorf("%w: %d bytes waiting (limit %d)", ErrFull, pending, l.opts.MaxBytes)
		}
	}
	req := &request{payload: payload, done: make(chan result, 1)}
	select {
	case l.reqs <- req:
	case <-l.stop:
		l.reserved.Add(-size)
		return Pos{}, ErrClosed
	case <-ctx.Done():
		l.reserved.Add(-size)
		return Pos{}, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.pos, res.err
	case <-ctx.Done():
		return Pos{}, ctx.Err()
	case <-l.stopped:
		select { // the writer answers before it stops: an answer given is kept
		case res := <-req.done:
			return res.pos, res.err
		default:
			return Pos{}, ErrClosed
		}
	}
}

// writer is the one goroutine that writes and fsyncs, a group of queued appends at a time.
func (l *Log) writer() {
	defer close(l.stopped)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	group := make([]*request, 0, 64)
	var buf []byte
	for {
		select { // Close first: a queue that never empties must not keep Close waiting
		case <-l.stop:
			l.failQueued()
			return
		default:
		}
		select {
		case r := <-l.reqs:
			group = append(group[:0], r)
		case <-l.stop:
			l.failQueued()
			return
		}
		bytes := len(group[0].payload)
	drain:
		for len(group) < maxGroupRecords && bytes < maxGroupBytes {
			select {
			case r := <-l.reqs:
				group = append(group, r)
				bytes += len(r.payload)
			default:
				break drain
			}
		}
		buf = l.writeGroup(&f, group, buf[:0])
		if cap(buf) > 2*maxGroupBytes {
			buf = nil
		}
	}
}

// failQueued answers every append still queued with ErrClosed.
func (l *Log) failQueued() {
	for {
		select {
		case r := <-l.reqs:
			l.reserved.Add(-int64(headerSize + len(r.payload)))
			r.done <- result{err: ErrClosed}
		default:
			return
		}
	}
}

// writeGroup writes and fsyncs one group and answers each of its requests.
func (l *Log) writeGroup(fp **os.File, group []*request, buf []byte) []byte {
	var groupBytes int64
	for _, r := range group {
		groupBytes += int64(headerSize + len(r.payload))
	}
	defer l.reserved.Add(-groupBytes)
	fail := func(err error) {
		for _, r := range group {
			r.done <- result{err: err}
		}
	}
	if *fp == nil {
		f, err := l.openWriteSegment()
		if err != nil {
			l.logger.Error("recordlog: cannot open a segment; the next append retries", "dir", l.dir, "err", err)
			fail(fmt.Errorf("recordlog: opening a segment in %s: %w", l.dir, err))
			return buf
		}
		*fp = f
	}
	f := *fp
	l.mu.Lock()
	last := l.segs[len(l.segs)-1]
	l.mu.Unlock()
	for _, r := range group {
		buf = appendRecord(buf, r.payload)
	}
	err := l.do("write", func() error { _, err := f.WriteAt(buf, last.end); return err })
	if err == nil {
		err = l.do("sync", f.Sync)
	}
	if err != nil {
		// Nothing of the group is acknowledged (invariant 6). Cut the file back to its valid end
		// and make the cut durable, so that no failed record is read back after a reopen. After
		// a failed fsync the kernel may have dropped the dirty pages: a segment that holds
		// acknowledged records not yet consumed is retired. One that holds none has nothing to
		// lose and is used again when the cut is durable (a full disk must not leave one empty
		// segment per failed append); when the cut is not, it is retired too, so that the
		// positions of its failed records are never given to other records.
		cut := l.do("truncate", func() error { return f.Truncate(last.end) })
		if cut == nil {
			cut = l.do("cutsync", f.Sync)
		}
		f.Close()
		*fp = nil
		retire := last.end > last.start || cut != nil
		if retire {
			l.mu.Lock()
			l.needNew = true
			l.mu.Unlock()
		}
		werr := fmt.Errorf("recordlog: writing %s: %w", f.Name(), err)
		if cut == nil {
			l.logger.Error("recordlog: write failed", "segment", f.Name(), "retired", retire, "err", err)
			fail(werr)
			return buf
		}
		l.logger.Error("recordlog: write failed and could not be cut back; its records may be read back after a reopen",
			"segment", f.Name(), "err", err, "cut_err", cut)
		werr = fmt.Errorf("%w; cutting it back to %d: %w", werr, last.end, cut)
		at := Pos{Segment: last.num, Offset: last.end, Seq: last.firstSeq + last.count}
		for _, r := range group {
			at.Offset += int64(headerSize + len(r.payload))
			at.Seq++
			r.done <- result{pos: at, err: &UncutError{At: at, Err: werr}}
		}
		return buf
	}
	l.mu.Lock()
	s := &l.segs[len(l.segs)-1]
	off := s.end
	seq := s.firstSeq + s.count
	s.end += int64(len(buf))
	s.count += int64(len(group))
	l.pending += int64(len(buf))
	rotate := s.end >= l.opts.SegmentBytes
	if rotate {
		l.needNew = true
	}
	num := s.num
	l.mu.Unlock()
	for _, r := range group {
		off += int64(headerSize + len(r.payload))
		seq++
		r.done <- result{pos: Pos{Segment: num, Offset: off, Seq: seq}}
	}
	if rotate {
		f.Close()
		*fp = nil
	}
	return buf
}

// openWriteSegment opens the newest segment for writing, or creates the next one (and fsyncs the
// directory so that it survives a crash).
func (l *Log) openWriteSegment() (*os.File, error) {
	l.mu.Lock()
	needNew, num := l.needNew, l.writeSeg
	l.mu.Unlock()
	if !needNew {
		return l.openPrivate(l.segPath(num), os.O_WRONLY)
	}
	num++
	// O_TRUNC: a file of that number can only be left by an earlier attempt whose directory fsync
	// failed; it holds no acknowledged record (segments in use are never created again).
	f, err := private.Create(l.segPath(num))
	if err != nil {
		return nil, err
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	l.mu.Lock()
	var firstSeq int64
	if n := len(l.segs); n > 0 {
		firstSeq = l.segs[n-1].firstSeq + l.segs[n-1].count
	}
	l.segs = append(l.segs, segment{num: num, firstSeq: firstSeq})
	l.writeSeg, l.needNew = num, false
	l.mu.Unlock()
	return f, nil
}
