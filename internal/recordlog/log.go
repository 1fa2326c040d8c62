package recordlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	// ErrUncut: an append failed and the failed write could not be cut back durably, so its
	// record may be read back after a reopen (invariant 6); the error is an *UncutError saying
	// where.
	ErrUncut = errors.New("recordlog: failed append not cut back")
)

// UncutError is the error of an Append whose write or fsync failed and whose record could not be
// cut back durably (invariant 6): this process never reads it, but a later Open may, at exactly
// At, a position no other record ever takes. errors.Is(err, ErrUncut) holds, and so does
// errors.Is(err, cause) for the write's error and the cut-back's.
type UncutError struct {
	At  Pos   // the position just after the record, had it been written
	Err error // what failed: the write or fsync, and the cut-back
}

func (e *UncutError) Error() string {
	return fmt.Sprintf("%v (not cut back: the record may be read back at %s after a reopen)", e.Err, e.At)
}

// Unwrap returns ErrUncut and the cause.
func (e *UncutError) Unwrap() []error { return []error{ErrUncut, e.Err} }

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

	// fault, when set (tests only), is called before each file operation of the writer ("write",
	// "sync", "truncate", "cutsync"); an error it returns is that operation's.
	fault atomic.Pointer[func(op string) error]
}

// Holds reports whether the log holds a record ending at p, for a position this Log or an earlier
// one returned (Append, UncutError.At, Read): p is in a segment not yet consumed, within its
// valid records. A failed append's position (UncutError.At) is held only when its record survived
// into a later Open: positions are never reused (invariant 6), so the answer stays the same for
// the life of the Log.
func (l *Log) Holds(p Pos) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.segIndex(p.Segment)
	return i >= 0 && p.Offset > l.segs[i].start && p.Offset <= l.segs[i].end
}

// do runs a file operation of the writer, through the test fault hook when one is set.
func (l *Log) do(op string, fn func() error) error {
	if fault := l.fault.Load(); fault != nil {
		if err := (*fault)(op); err != nil {
			return err
		}
	}
	return fn()
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
		f, err := private.OpenLock(filepath.Join(dir, lockName))
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
