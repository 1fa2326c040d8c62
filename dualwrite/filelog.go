package dualwrite

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileLog is the durable ReplayLog: append-only segment files in one directory. Each record is
// length (4 bytes), CRC-32C of the payload (4 bytes) and the gob-encoded Entry. Appends are
// group-committed: one goroutine writes every append waiting and fsyncs once for all of them, so
// a burst of follower failures costs one fsync per burst, not one per write. The position of the
// last replayed record is kept in the file "cursor" (written atomically); segments wholly before it
// are deleted. On open, a torn record at the tail (a crash in mid-append, never acknowledged) is
// cut off.
type FileLog struct {
	dir      string
	maxBytes int64
	segBytes int64

	appends chan appendReq
	stop    chan struct{}
	stopped chan struct{}

	mu       sync.Mutex // guards the fields below
	durable  Pos        // end of the last fsynced record
	cursor   Pos        // end of the last Done record
	readPos  Pos        // where Pending continues
	oldest   time.Time
	segments []uint64

	size    atomic.Int64 // bytes not yet Done
	backlog atomic.Int64 // entries not yet Done
	closed  atomic.Bool
}

type appendReq struct {
	payload []byte
	logged  time.Time
	done    chan error
}

const (
	recordHeader   = 8
	defaultSegment = 16 << 20
	// DefaultReplayLimit bounds a replay log: 1 GiB of follower writes waiting.
	DefaultReplayLimit = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenFileLog opens (creating if needed) the replay log in dir, holding at most maxBytes of
// entries not yet replayed (0 = DefaultReplayLimit).
func OpenFileLog(dir string, maxBytes int64) (*FileLog, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultReplayLimit
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dualwrite: replay log directory %s: %w", dir, err)
	}
	l := &FileLog{dir: dir, maxBytes: maxBytes, segBytes: defaultSegment,
		appends: make(chan appendReq, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := l.recover(); err != nil {
		return nil, fmt.Errorf("dualwrite: replay log %s: %w", dir, err)
	}
	go l.writer()
	return l, nil
}

func (l *FileLog) segPath(n uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("seg-%012d.log", n))
}

// recover reads the cursor and the segments, truncates a torn tail and counts the backlog.
func (l *FileLog) recover() error {
	names, err := filepath.Glob(filepath.Join(l.dir, "seg-*.log"))
	if err != nil {
		return err
	}
	for _, n := range names {
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "seg-"), ".log"), 10, 64)
		if err == nil {
			l.segments = append(l.segments, v)
		}
	}
	sort.Slice(l.segments, func(i, j int) bool { return l.segments[i] < l.segments[j] })
	if b, err := os.ReadFile(filepath.Join(l.dir, "cursor")); err == nil {
		if _, err := fmt.Sscanf(string(b), "%d %d", &l.cursor.Segment, &l.cursor.Offset); err != nil {
			return fmt.Errorf("cursor file unreadable (%q): %w", b, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(l.segments) == 0 {
		l.segments = []uint64{max(1, l.cursor.Segment)}
		f, err := os.OpenFile(l.segPath(l.segments[0]), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if l.cursor.Segment < l.segments[0] {
		l.cursor = Pos{Segment: l.segments[0]}
	}
	// Count what is pending and find the valid end of the last segment.
	for _, seg := range l.segments {
		if seg < l.cursor.Segment {
			continue
		}
		start := int64(0)
		if seg == l.cursor.Segment {
			start = l.cursor.Offset
		}
		end, n, first, err := scanSegment(l.segPath(seg), start)
		if err != nil {
			return err
		}
		if n > 0 && l.oldest.IsZero() {
			l.oldest = first
		}
		l.backlog.Add(n)
		l.size.Add(end - start)
		if seg == l.segments[len(l.segments)-1] {
			if err := os.Truncate(l.segPath(seg), end); err != nil {
				return err
			}
			l.durable = Pos{Segment: seg, Offset: end}
		}
	}
	if l.durable.Segment == 0 {
		last := l.segments[len(l.segments)-1]
		st, err := os.Stat(l.segPath(last))
		if err != nil {
			return err
		}
		l.durable = Pos{Segment: last, Offset: st.Size()}
	}
	l.readPos = l.cursor
	return nil
}

// scanSegment reads valid records from offset start and returns where they end, how many there are
// and when the first was logged.
func scanSegment(path string, start int64) (end, n int64, first time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, first, err
	}
	defer f.Close()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return 0, 0, first, err
	}
	r := bufio.NewReader(f)
	end = start
	for {
		payload, err := readRecord(r)
		if err != nil {
			return end, n, first, nil // EOF or a torn tail: the valid part ends here
		}
		if n == 0 {
			if e, err := decodeEntry(payload); err == nil {
				first = e.Logged
			}
		}
		n++
		end += recordHeader + int64(len(payload))
	}
}

func readRecord(r io.Reader) ([]byte, error) {
	var h [recordHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n > 1<<30 {
		return nil, fmt.Errorf("record length %d", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(h[4:]) {
		return nil, errors.New("record checksum mismatch")
	}
	return payload, nil
}

// Append stores e durably (fsync) and returns; ErrReplayLogFull when the log holds its limit.
func (l *FileLog) Append(ctx context.Context, e *Entry) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if e.Logged.IsZero() {
		e.Logged = time.Now()
	}
	payload, err := encodeEntry(e)
	if err != nil {
		return err
	}
	if l.size.Load()+int64(len(payload)) > l.maxBytes {
		return fmt.Errorf("%w: %d bytes waiting in %s (limit %d); the follower side has been failing for %s",
			ErrReplayLogFull, l.size.Load(), l.dir, l.maxBytes, time.Since(l.oldestTime()).Round(time.Second))
	}
	req := appendReq{payload: payload, logged: e.Logged, done: make(chan error, 1)}
	select {
	case l.appends <- req:
	case <-l.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed to the writer the append completes regardless of ctx: waiting for it keeps the
	// answer true.
	return <-req.done
}

func (l *FileLog) oldestTime() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.oldest
}

// writer is the single goroutine that appends and fsyncs, in groups.
func (l *FileLog) writer() {
	defer close(l.stopped)
	l.mu.Lock()
	seg := l.durable.Segment
	l.mu.Unlock()
	f, err := os.OpenFile(l.segPath(seg), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	var off int64
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			off = st.Size()
		}
	}
	var group []appendReq
	for {
		var req appendReq
		select {
		case req = <-l.appends:
		case <-l.stop:
			if f != nil {
				f.Close()
			}
			return
		}
		group = append(group[:0], req)
	drain:
		for len(group) < 4096 {
			select {
			case r := <-l.appends:
				group = append(group, r)
			default:
				break drain
			}
		}
		if err != nil { // the segment could not be opened: every append fails, loudly
			for _, r := range group {
				r.done <- fmt.Errorf("dualwrite: replay log segment: %w", err)
			}
			continue
		}
		buf := make([]byte, 0, 64*len(group))
		for _, r := range group {
			var h [recordHeader]byte
			binary.BigEndian.PutUint32(h[:4], uint32(len(r.payload)))
			binary.BigEndian.PutUint32(h[4:], crc32.Checksum(r.payload, crcTable))
			buf = append(buf, h[:]...)
			buf = append(buf, r.payload...)
		}
		_, werr := f.Write(buf)
		if werr == nil {
			werr = f.Sync()
		}
		if werr != nil {
			// Nothing of this group is acknowledged; cut the file back so no half record stays.
			_ = f.Truncate(off)
			for _, r := range group {
				r.done <- fmt.Errorf("dualwrite: replay log write: %w", werr)
			}
			continue
		}
		off += int64(len(buf))
		l.mu.Lock()
		l.durable = Pos{Segment: seg, Offset: off}
		if l.backlog.Load() == 0 {
			l.oldest = group[0].logged
		}
		l.mu.Unlock()
		l.size.Add(int64(len(buf)))
		l.backlog.Add(int64(len(group)))
		for _, r := range group {
			r.done <- nil
		}
		if off >= l.segBytes { // rotate
			f.Close()
			seg++
			off = 0
			f, err = os.OpenFile(l.segPath(seg), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			l.mu.Lock()
			l.segments = append(l.segments, seg)
			l.durable = Pos{Segment: seg}
			l.mu.Unlock()
		}
	}
}

// Pending returns up to max durable entries after the last one handed out.
func (l *FileLog) Pending(max int) ([]Record, error) {
	l.mu.Lock()
	from, to := l.readPos, l.durable
	l.mu.Unlock()
	var out []Record
	for len(out) < max && (from.Segment < to.Segment || (from.Segment == to.Segment && from.Offset < to.Offset)) {
		f, err := os.Open(l.segPath(from.Segment))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && from.Segment < to.Segment {
				from = Pos{Segment: from.Segment + 1}
				continue
			}
			return out, err
		}
		if _, err := f.Seek(from.Offset, io.SeekStart); err != nil {
			f.Close()
			return out, err
		}
		r := bufio.NewReader(f)
		limit := int64(-1)
		if from.Segment == to.Segment {
			limit = to.Offset
		}
		for len(out) < max && (limit < 0 || from.Offset < limit) {
			payload, err := readRecord(r)
			if err != nil {
				break
			}
			e, err := decodeEntry(payload)
			from.Offset += recordHeader + int64(len(payload))
			if err != nil {
				f.Close()
				return out, fmt.Errorf("dualwrite: replay log record at %s:%d cannot be decoded: %w",
					l.segPath(from.Segment), from.Offset, err)
			}
			out = append(out, Record{Entry: e, Pos: from})
		}
		f.Close()
		if len(out) < max && from.Segment < to.Segment {
			from = Pos{Segment: from.Segment + 1}
		}
	}
	l.mu.Lock()
	l.readPos = from
	l.mu.Unlock()
	return out, nil
}

// Done records that everything up to pos has landed, persists the cursor and removes segments
// wholly replayed.
func (l *FileLog) Done(pos Pos) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var freed int64
	n := int64(0)
	// Count entries and bytes between the old cursor and pos by reading their headers.
	cur := l.cursor
	for cur.Segment < pos.Segment || (cur.Segment == pos.Segment && cur.Offset < pos.Offset) {
		f, err := os.Open(l.segPath(cur.Segment))
		if err != nil {
			cur = Pos{Segment: cur.Segment + 1}
			continue
		}
		f.Seek(cur.Offset, io.SeekStart)
		r := bufio.NewReader(f)
		for cur.Segment < pos.Segment || cur.Offset < pos.Offset {
			var h [recordHeader]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				break
			}
			sz := int64(binary.BigEndian.Uint32(h[:4]))
			if _, err := r.Discard(int(sz)); err != nil {
				break
			}
			cur.Offset += recordHeader + sz
			freed += recordHeader + sz
			n++
		}
		f.Close()
		if cur.Segment < pos.Segment {
			cur = Pos{Segment: cur.Segment + 1}
		}
	}
	tmp := filepath.Join(l.dir, "cursor.tmp")
	if err := writeSync(tmp, fmt.Sprintf("%d %d\n", pos.Segment, pos.Offset)); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, "cursor")); err != nil {
		return err
	}
	l.cursor = pos
	l.size.Add(-freed)
	l.backlog.Add(-n)
	keep := l.segments[:0]
	for _, s := range l.segments {
		if s < pos.Segment {
			os.Remove(l.segPath(s))
			continue
		}
		keep = append(keep, s)
	}
	l.segments = keep
	l.oldest = time.Time{}
	if l.backlog.Load() > 0 {
		l.oldest = l.loggedAt(pos)
	}
	return nil
}

// loggedAt returns when the record at pos (or the next segment's first) was appended.
func (l *FileLog) loggedAt(pos Pos) time.Time {
	for i := 0; i < 2; i++ {
		if f, err := os.Open(l.segPath(pos.Segment)); err == nil {
			f.Seek(pos.Offset, io.SeekStart)
			payload, err := readRecord(bufio.NewReader(f))
			f.Close()
			if err == nil {
				if e, err := decodeEntry(payload); err == nil {
					return e.Logged
				}
			}
		}
		pos = Pos{Segment: pos.Segment + 1}
	}
	return time.Now()
}

func writeSync(path, content string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Backlog returns the entries not yet replayed and when the oldest of them was appended.
func (l *FileLog) Backlog() (int64, time.Time) {
	return l.backlog.Load(), l.oldestTime()
}

// Close stops the writer; entries not yet replayed stay on disk for the next session.
func (l *FileLog) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.stop)
	<-l.stopped
	return nil
}
