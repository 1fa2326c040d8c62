package recordlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/globalcloud/islands/internal/private"
)

// Errors callers can test with errors.Is.
var (
	// ErrClosed: the log was closed before the append was written.
	ErrClosed = errors.New("recordlog: closed")
	// ErrFull: the records not yet consumed would exceed Options.MaxBytes.
	ErrFull = errors.New("recordlog: full")
	// ErrTooLarge: the payload exceeds Options.MaxRecord.
	ErrTooLarge = errors.New("recordlog: record too large")
	// ErrLocked: another Log (in this or another process) has the directory open for writing.
	ErrLocked = errors.New("recordlog: directory in use by another process")
	// ErrReadOnly: the log was opened with Options.ReadOnly.
	ErrReadOnly = errors.New("recordlog: opened read-only")
	// ErrBadPosition: Commit was given a position outside the log's unconsumed records.
	ErrBadPosition = errors.New("recordlog: position outside the log")
)

const (
	// DefaultSegmentBytes is the size after which a segment is closed and the next one started.
	DefaultSegmentBytes = 16 << 20
	// DefaultMaxRecord bounds one record's payload.
	DefaultMaxRecord = 64 << 20
	maxGroupBytes    = 4 << 20
	maxGroupRecords  = 4096
	cursorName       = "cursor"
	lockName         = "LOCK"
	segSuffix        = ".seg"
)

// Options configure a Log; the zero value is usable.
type Options struct {
	// SegmentBytes: a segment larger than this is closed and the next append starts a new one
	// (default DefaultSegmentBytes).
	SegmentBytes int64
	// MaxBytes bounds the bytes (headers included) of records not yet consumed; an append beyond it
	// fails with ErrFull (0 = unbounded).
	MaxBytes int64
	// MaxRecord bounds one payload (default DefaultMaxRecord); a longer header is read as corrupt.
	MaxRecord int
	// ReadOnly opens without the directory lock, never truncates, creates or deletes anything, and
	// refuses Append and Commit: for inspecting a log another process may be writing.
	ReadOnly bool
	// Logger reports recovery (truncated tails, corrupt segments) and a directory open to other
	// users (nil = quiet, except that warning: it goes to slog.Default(); see internal/private).
	Logger *slog.Logger
}

// Pos is the position just after a record: Commit(pos) consumes that record and every earlier one.
// Seq is the record's ordinal since Open, meaningful only within one Log value.
type Pos struct {
	Segment uint64
	Offset  int64
	Seq     int64
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

func (p Pos) before(q Pos) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}

// Record is one payload read back, with the position just after it.
type Record struct {
	Payload []byte
	Pos     Pos
}

// Stats describe the log at one moment.
type Stats struct {
	Records  int64 // durable records not yet consumed (after the cursor)
	Bytes    int64 // their size on disk, headers included
	Unread   int64 // of them, records after the read position
	Segments int   // segment files
	Corrupt  int64 // invalid tails found (recovery or reads) and skipped or truncated
}

// segment is one segment file from the cursor's on; end is where its valid, durable records end.
type segment struct {
	num      uint64
	end      int64
	firstSeq int64 // Seq of the position at offset start (0 or the cursor's offset)
	count    int64 // valid records from start to end
	start    int64
}

type request struct {
	payload []byte
	done    chan result
}

type result struct {
	pos Pos
	err error
}

// Log is a crash-safe append-only log of records; see the package documentation for the format
// and the invariants. It is safe for concurrent use; one Log per directory.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger
	lock   *os.File

	reqs      chan *request
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	reserved  atomic.Int64 // bytes handed to the writer and not yet durable

	readMu sync.Mutex // serialises Read and Peek against Rewind

	mu       sync.Mutex // guards the fields below
	segs     []segment
	cursor   Pos
	readPos  Pos
	pending  int64 // durable bytes after the cursor
	corrupt  int64
	needNew  bool // the writer must start a new segment (none yet, rotated, or retired)
	writeSeg uint64

	cursorFile *os.File // written in place (two slots), never replaced: see writeCursor
	cursorGen  uint64   // generation of the cursor last written

	owner int // uid owning dir: every file opened in it must be owned by it (openPrivate)
}

// openPrivate opens an existing file of the log (a segment, the cursor) with flag: never through
// a symlink, never one owned by another user than the directory's (invariant 8). A file planted
// by another user in a directory open to them would otherwise receive the records (member data),
// or feed its own records to the consumer.
func (l *Log) openPrivate(path string, flag int) (*os.File, error) {
	f, err := private.OpenOwned(path, flag, l.owner)
	if errors.Is(err, private.ErrNotOurs) {
		return nil, fmt.Errorf("recordlog: %w; then make %s private (chmod 700) or give the log a directory of its own", err, l.dir)
	}
	return f, err
}

// Open opens (creating if needed) the log in dir and recovers it: see the package invariants.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.MaxRecord <= 0 {
		opts.MaxRecord = DefaultMaxRecord
	}
	l := &Log{dir: dir, opts: opts, logger: opts.Logger, reqs: make(chan *request, 1024),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("recordlog: %w", err)
		}
		private.CheckDir(dir, opts.Logger)
	} else {
		if err := private.MkdirAll(dir, opts.Logger); err != nil {
			return nil, fmt.Errorf("recordlog: creating %s: %w", dir, err)
		}
	}
	// Invariant 8: the directory is ours (or, read-only, whoever's it is) and every file read or
	// written in it is owned by its owner and no symlink (openPrivate).
	owner, err := private.DirOwner(dir, !opts.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("recordlog: log directory: %w", err)
	}
	l.owner = owner
	if !opts.ReadOnly {
		f, err := private.OpenFile(filepath.Join(dir, lockName), os.O_RDWR)
		if err != nil {
			return nil, fmt.Errorf("recordlog: lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
		}
		l.lock = f
	}
	if err := l.recover(); err != nil {
		l.unlock()
		return nil, fmt.Errorf("recordlog: recovering %s: %w", dir, err)
	}
	if !opts.ReadOnly {
		if err := l.openCursorFile(); err != nil {
			// Not fatal: writeCursor tries again; a full disk may refuse the padding.
			l.logger.Warn("recordlog: cannot reserve the cursor's space", "dir", dir, "err", err)
		}
	}
	if opts.ReadOnly {
		close(l.stopped)
	} else {
		go l.writer()
	}
	return l, nil
}

func (l *Log) unlock() {
	if l.lock != nil {
		l.lock.Close() // releases the flock
		l.lock = nil
	}
}

func (l *Log) segPath(n uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%016d%s", n, segSuffix))
}

// recover reads the cursor, scans the segments from it and cuts the newest one's invalid tail.
func (l *Log) recover() error {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var nums []uint64
	for _, e := range names {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })

	cur, gen, err := l.readCursor(filepath.Join(l.dir, cursorName))
	l.cursorGen = gen
	if errors.Is(err, private.ErrNotOurs) {
		return err
	}
	if err != nil {
		l.logger.Error("recordlog: cursor unreadable; reading from the oldest segment (records are delivered again)",
			"dir", l.dir, "err", err)
		cur = Pos{}
		l.corrupt++
	}
	// Segments wholly before the cursor were consumed; a crash between the cursor's rename and
	// their removal leaves them behind.
	for len(nums) > 0 && nums[0] < cur.Segment {
		if !l.opts.ReadOnly {
			if err := os.Remove(l.segPath(nums[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		nums = nums[1:]
	}
	if len(nums) == 0 || nums[0] != cur.Segment {
		// The cursor's segment is gone (or there is no cursor): read from the oldest segment.
		next := uint64(1)
		if len(nums) > 0 {
			next = nums[0]
		} else if cur.Segment > 0 {
			next = cur.Segment + 1
		}
		cur = Pos{Segment: next}
	}
	l.cursor = cur
	var seq int64
	for i, n := range nums {
		start := int64(0)
		if n == cur.Segment {
			start = cur.Offset
		}
		end, count, size, err := l.scanSegment(l.segPath(n), start, l.opts.MaxRecord)
		if err != nil {
			return err
		}
		if n == cur.Segment && end < start {
			end = start
		}
		if size > end {
			l.corrupt++
			if i == len(nums)-1 {
				l.logger.Warn("recordlog: cutting an invalid tail (a crash in mid-append, never acknowledged)",
					"segment", l.segPath(n), "valid_bytes", end, "cut_bytes", size-end)
				if !l.opts.ReadOnly {
					if err := l.truncateSync(l.segPath(n), end); err != nil {
						return err
					}
				}
			} else {
				l.logger.Error("recordlog: corrupt records in a sealed segment; skipping the rest of it",
					"segment", l.segPath(n), "valid_bytes", end, "skipped_bytes", size-end)
			}
		}
		l.segs = append(l.segs, segment{num: n, start: start, end: end, firstSeq: seq, count: count})
		seq += count
		l.pending += end - start
	}
	if len(l.segs) == 0 {
		l.needNew = true
		l.writeSeg = cur.Segment - 1 // the writer creates cur.Segment
		l.segs = nil
	} else {
		l.writeSeg = l.segs[len(l.segs)-1].num
		if l.segs[len(l.segs)-1].end >= l.opts.SegmentBytes {
			l.needNew = true
		}
	}
	l.cursor.Seq = 0
	l.readPos = l.cursor
	return nil
}

// scanSegment returns where the valid records from start end, how many there are, and the file size.
func (l *Log) scanSegment(path string, start int64, maxRecord int) (end, count, size int64, err error) {
	f, err := l.openPrivate(path, os.O_RDONLY)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	size = st.Size()
	if start > size {
		return start, 0, size, nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, start, size-start), 64<<10)
	end = start
	for {
		p, err := readRecord(r, maxRecord)
		if err == io.EOF || errors.Is(err, errInvalid) {
			return end, count, size, nil
		}
		if err != nil {
			return 0, 0, 0, err
		}
		end += headerSize + int64(len(p))
		count++
	}
}

func (l *Log) truncateSync(path string, size int64) error {
	f, err := l.openPrivate(path, os.O_WRONLY)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

const (
	cursorMagic   = "recordlog-cursor v1"
	cursorMagicV2 = "recordlog-cursor v2"
	cursorSlot    = 128 // bytes per slot; a v1 line is shorter, so slot 1 never overlaps it
	cursorBytes   = 2 * cursorSlot
)

// readCursor returns the newest valid cursor of the file at path: either slot of a v2 file, or a
// v1 line in slot 0 (generation 0). A file without a valid one is an error (reading starts at the
// oldest segment); no file is the zero position.
func (l *Log) readCursor(path string) (Pos, uint64, error) {
	f, err := l.openPrivate(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, 0, nil
	}
	if err != nil {
		return Pos{}, 0, err
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return Pos{}, 0, err
	}
	var best Pos
	var bestGen uint64
	found := false
	var firstErr error
	for slot := 0; slot*cursorSlot < len(b) && slot < 2; slot++ {
		line := b[slot*cursorSlot : min(len(b), (slot+1)*cursorSlot)]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if len(bytes.Trim(line, "\x00")) == 0 {
			continue // reserved, never written
		}
		p, gen, err := parseCursor(string(line))
		if err != nil {
			if firstErr == nil && slot == 0 {
				firstErr = err
			}
			continue
		}
		if !found || gen > bestGen {
			best, bestGen, found = p, gen, true
		}
	}
	if !found {
		if firstErr == nil && len(bytes.Trim(b, "\x00")) > 0 {
			firstErr = fmt.Errorf("cursor %q: not a cursor file", b)
		}
		return Pos{}, 0, firstErr
	}
	return best, bestGen, nil
}

// parseCursor parses one cursor line: v1 "MAGIC SEG OFF CRC\n" (generation 0) or v2
// "MAGIC GEN SEG OFF CRC\n".
func parseCursor(line string) (Pos, uint64, error) {
	var p Pos
	var gen uint64
	var sum uint32
	if rest, ok := strings.CutPrefix(line, cursorMagicV2+" "); ok {
		if _, err := fmt.Sscanf(rest, "%d %d %d %d\n", &gen, &p.Segment, &p.Offset, &sum); err != nil {
			return Pos{}, 0, fmt.Errorf("cursor %q: %w", line, err)
		}
		if sum != cursorSumV2(gen, p) || p.Offset < 0 {
			return Pos{}, 0, fmt.Errorf("cursor %q: checksum mismatch", line)
		}
		return p, gen, nil
	}
	rest, ok := strings.CutPrefix(line, cursorMagic+" ")
	if !ok {
		return Pos{}, 0, fmt.Errorf("cursor %q: not a cursor file", line)
	}
	if _, err := fmt.Sscanf(rest, "%d %d %d\n", &p.Segment, &p.Offset, &sum); err != nil {
		return Pos{}, 0, fmt.Errorf("cursor %q: %w", line, err)
	}
	if sum != cursorSum(p) || p.Offset < 0 {
		return Pos{}, 0, fmt.Errorf("cursor %q: checksum mismatch", line)
	}
	return p, 0, nil
}

func cursorSum(p Pos) uint32 {
	return crc32Update([]byte(fmt.Sprintf("%d %d", p.Segment, p.Offset)))
}

func cursorSumV2(gen uint64, p Pos) uint32 {
	return crc32Update([]byte(fmt.Sprintf("%d %d %d", gen, p.Segment, p.Offset)))
}

// openCursorFile opens the cursor file for writing in place and makes sure it spans both slots,
// so that recording progress never needs a new block: on a full disk the cursor can still move
// and free the consumed segments (invariant 5).
func (l *Log) openCursorFile() error {
	path := filepath.Join(l.dir, cursorName)
	_, statErr := os.Stat(path)
	f, err := private.OpenFile(path, os.O_RDWR)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil && st.Size() < cursorBytes {
		pad := make([]byte, cursorBytes-st.Size())
		if _, err = f.WriteAt(pad, st.Size()); err == nil {
			err = f.Sync()
		}
		if err == nil && statErr != nil {
			err = syncDir(l.dir)
		}
	}
	if err != nil {
		f.Close()
		return err
	}
	l.cursorFile = f
	_ = os.Remove(filepath.Join(l.dir, cursorName+".tmp")) // left by the first format's rename
	return nil
}

// writeCursor records p durably: the next generation is written over the older of the two slots
// and fsynced. A torn write spoils only that slot; the other holds the previous cursor (records
// are then delivered again: at-least-once).
func (l *Log) writeCursor(p Pos) error {
	if l.cursorFile == nil {
		if err := l.openCursorFile(); err != nil {
			return err
		}
	}
	gen := l.cursorGen + 1
	line := fmt.Sprintf("%s %d %d %d %d\n", cursorMagicV2, gen, p.Segment, p.Offset, cursorSumV2(gen, p))
	buf := make([]byte, cursorSlot)
	copy(buf, line)
	if _, err := l.cursorFile.WriteAt(buf, int64(gen%2)*cursorSlot); err != nil {
		return err
	}
	if err := l.cursorFile.Sync(); err != nil {
		return err
	}
	l.cursorGen = gen
	return nil
}

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
	_, err := f.WriteAt(buf, last.end)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		// Nothing of the group is acknowledged. Cut the file back (best effort) and retire the
		// segment: after a failed fsync the kernel may have dropped the dirty pages. A segment
		// that holds no acknowledged record not yet consumed has nothing to lose: it is used
		// again (a full disk must not leave one empty segment per failed append).
		_ = f.Truncate(last.end)
		f.Close()
		*fp = nil
		retire := last.end > last.start
		if retire {
			l.mu.Lock()
			l.needNew = true
			l.mu.Unlock()
		}
		l.logger.Error("recordlog: write failed", "segment", f.Name(), "retired", retire, "err", err)
		fail(fmt.Errorf("recordlog: writing %s: %w", f.Name(), err))
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

// Commit records durably that every record up to pos (a position Read or Append returned) is
// consumed, and removes the segments wholly before it.
func (l *Log) Commit(pos Pos) error {
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cursor.before(pos) {
		return nil // already consumed
	}
	i := l.segIndex(pos.Segment)
	if i < 0 || pos.Offset > l.segs[i].end || pos.Offset < l.segs[i].start ||
		pos.Seq < l.segs[i].firstSeq || pos.Seq > l.segs[i].firstSeq+l.segs[i].count {
		return fmt.Errorf("%w: %s", ErrBadPosition, pos)
	}
	// A position at the end of a sealed segment is the start of the next one.
	cur := pos
	if cur.Offset == l.segs[i].end && i+1 < len(l.segs) {
		cur = Pos{Segment: l.segs[i+1].num, Offset: l.segs[i+1].start, Seq: pos.Seq}
		i++
	}
	if err := l.writeCursor(cur); err != nil {
		return fmt.Errorf("recordlog: writing the cursor in %s: %w", l.dir, err)
	}
	var freed int64
	for _, s := range l.segs[:i] {
		freed += s.end - s.start
		if err := os.Remove(l.segPath(s.num)); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("recordlog: removing a consumed segment", "segment", l.segPath(s.num), "err", err)
		}
	}
	freed += cur.Offset - l.segs[i].start
	l.segs = append(l.segs[:0], l.segs[i:]...)
	l.segs[0].count -= cur.Seq - l.segs[0].firstSeq
	l.segs[0].start, l.segs[0].firstSeq = cur.Offset, cur.Seq
	l.pending -= freed
	l.cursor = cur
	if l.readPos.before(cur) {
		l.readPos = cur
	}
	return nil
}

// Stats returns the log's counts now.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Bytes: l.pending, Segments: len(l.segs), Corrupt: l.corrupt}
	if n := len(l.segs); n > 0 {
		end := l.segs[n-1].firstSeq + l.segs[n-1].count
		st.Records = end - l.cursor.Seq
		st.Unread = end - l.readPos.Seq
	}
	return st
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Close stops the writer (appends still queued fail with ErrClosed, invariant 7) and releases the
// directory. Records not yet consumed stay for the next Open.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		<-l.stopped
		l.mu.Lock()
		if l.cursorFile != nil {
			l.cursorFile.Close()
			l.cursorFile = nil
		}
		l.mu.Unlock()
		l.unlock()
	})
	return nil
}
