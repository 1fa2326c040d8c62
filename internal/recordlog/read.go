package recordlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// Read returns up to max durable records after the read position and moves it past them (and past
// any unreadable tail, invariant 4). It returns nothing at the durable end.
func (l *Log) Read(max int) ([]Record, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	from := l.readPos
	l.mu.Unlock()
	recs, next, err := l.readFrom(from, max)
	l.mu.Lock()
	if l.readPos.before(next) {
		l.readPos = next
	}
	l.mu.Unlock()
	return recs, err
}

// Peek returns the oldest record not yet consumed (at the cursor), without moving anything.
func (l *Log) Peek() (Record, bool, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	from := l.cursor
	l.mu.Unlock()
	recs, _, err := l.readFrom(from, 1)
	if len(recs) == 0 {
		return Record{}, false, err
	}
	return recs[0], true, err
}

// ReadPos returns the read position: Read goes on from there.
func (l *Log) ReadPos() Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readPos
}

// Seek moves the read position to pos, a position Read returned (or ReadPos): the records after
// it are read again. A position before the cursor means the cursor.
func (l *Log) Seek(pos Pos) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if pos.before(l.cursor) {
		pos = l.cursor
	}
	l.readPos = pos
}

// Cursor returns the position of the oldest record not yet consumed.
func (l *Log) Cursor() Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cursor
}

// ReadFrom returns up to max durable records after from (a position Read, ReadFrom or Cursor
// returned) and the position to go on from, without touching the read position: independent
// listings, each with its own position, never disturb each other nor the reader.
func (l *Log) ReadFrom(from Pos, max int) ([]Record, Pos, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	if from.before(l.cursor) {
		from = l.cursor
	}
	l.mu.Unlock()
	return l.readFrom(from, max)
}

// Rewind moves the read position back to the cursor: the records read but not committed are
// read again.
func (l *Log) Rewind() {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	l.readPos = l.cursor
	l.mu.Unlock()
}

// readFrom reads up to max records from pos, returning them and the position after the last one
// (or after an unreadable tail).
func (l *Log) readFrom(pos Pos, max int) ([]Record, Pos, error) {
	var out []Record
	for len(out) < max {
		l.mu.Lock()
		i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].num >= pos.Segment })
		if i == len(l.segs) {
			l.mu.Unlock()
			return out, pos, nil
		}
		if l.segs[i].num != pos.Segment { // its segment is gone: go on from the next one
			pos = Pos{Segment: l.segs[i].num, Offset: l.segs[i].start, Seq: l.segs[i].firstSeq}
		}
		seg := l.segs[i]
		hasNext := i+1 < len(l.segs)
		var next segment
		if hasNext {
			next = l.segs[i+1]
		}
		l.mu.Unlock()
		if pos.Offset < seg.start {
			pos = Pos{Segment: seg.num, Offset: seg.start, Seq: seg.firstSeq}
		}
		if pos.Offset >= seg.end {
			if !hasNext {
				return out, pos, nil
			}
			pos = Pos{Segment: next.num, Offset: next.start, Seq: next.firstSeq}
			continue
		}
		var err error
		out, pos, err = l.readSegment(seg, pos, max, out)
		if err != nil {
			return out, pos, err
		}
	}
	return out, pos, nil
}

// segIndex returns the index in segs of segment num, or -1. l.mu held.
func (l *Log) segIndex(num uint64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].num >= num })
	if i < len(l.segs) && l.segs[i].num == num {
		return i
	}
	return -1
}

func (l *Log) readSegment(seg segment, pos Pos, max int, out []Record) ([]Record, Pos, error) {
	f, err := l.openPrivate(l.segPath(seg.num), os.O_RDONLY)
	if err != nil {
		return out, pos, fmt.Errorf("recordlog: reading %s: %w", l.segPath(seg.num), err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, pos.Offset, seg.end-pos.Offset), 64<<10)
	for len(out) < max && pos.Offset < seg.end {
		p, err := readRecord(r, l.opts.MaxRecord)
		if err != nil {
			if err != io.EOF && !errors.Is(err, errInvalid) {
				return out, pos, fmt.Errorf("recordlog: reading %s at %d: %w", l.segPath(seg.num), pos.Offset, err)
			}
			// Changed under us (media error, or an outside hand): skip the rest of the segment.
			l.logger.Error("recordlog: unreadable record; skipping the rest of the segment",
				"segment", l.segPath(seg.num), "offset", pos.Offset, "skipped_bytes", seg.end-pos.Offset)
			l.mu.Lock()
			l.corrupt++
			l.mu.Unlock()
			return out, Pos{Segment: seg.num, Offset: seg.end, Seq: seg.firstSeq + seg.count}, nil
		}
		pos.Offset += headerSize + int64(len(p))
		pos.Seq++
		out = append(out, Record{Payload: p, Pos: pos})
	}
	return out, pos, nil
}
