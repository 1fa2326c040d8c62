package dualwrite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/globalcloud/islands/internal/recordlog"
)

// FileLog is the durable ReplayLog: three crash-safe record logs (internal/recordlog) in one
// directory, created 0700:
//
//	DIR/            entries waiting for replay (segments, cursor, LOCK)
//	DIR/deadletter/ entries that can never land as they are (table altered, value rejected):
//	                set aside by the replayer so the others drain; see `islands replay`
//	DIR/uncertain/  writes whose outcome on a side is unknown and that must not be replayed
//	                blindly (counter updates, non-idempotent statements): for a person to reconcile
//
// Each record is one Entry in the encoding of entrycodec.go (values with their types, so NULL and
// an empty blob stay apart; each statement's absolute TTL expiry). Appends are group-committed
// (one fsync per burst) and durable when Append returns nil; a torn, zero-filled or corrupt tail
// left by a crash is cut off on open. One process at a time: the directory is locked.
type FileLog struct {
	dir    string
	log    *recordlog.Log
	dead   *recordlog.Log
	unc    *recordlog.Log
	logger *slog.Logger
	max    int64

	mu     sync.Mutex
	oldest time.Time // Logged of the oldest entry not yet Done (zero: none or unknown)
}

// FileLogOption configures OpenFileLog.
type FileLogOption func(*fileLogConfig)

type fileLogConfig struct {
	logger       *slog.Logger
	readOnly     bool
	segmentBytes int64
}

// FileLogLogger reports recovery (cut tails, corrupt records) and dead-lettered entries.
func FileLogLogger(l *slog.Logger) FileLogOption { return func(c *fileLogConfig) { c.logger = l } }

// FileLogReadOnly opens the log for inspection: no lock, nothing created, truncated or consumed;
// Append, Done and the dead-letter operations fail. For `islands replay inspect` beside a running
// process.
func FileLogReadOnly() FileLogOption { return func(c *fileLogConfig) { c.readOnly = true } }

func fileLogSegmentBytes(n int64) FileLogOption { return func(c *fileLogConfig) { c.segmentBytes = n } }

const (
	// DefaultReplayLimit bounds a replay log: 1 GiB of follower writes waiting.
	DefaultReplayLimit = 1 << 30
	deadLetterDir      = "deadletter"
	uncertainDir       = "uncertain"
)

// OpenFileLog opens (creating if needed) the replay log in dir, holding at most maxBytes of
// entries not yet replayed (0 = DefaultReplayLimit).
func OpenFileLog(dir string, maxBytes int64, opts ...FileLogOption) (*FileLog, error) {
	var cfg fileLogConfig
	for _, o := range opts {
		o(&cfg)
	}
	if maxBytes <= 0 {
		maxBytes = DefaultReplayLimit
	}
	l := &FileLog{dir: dir, logger: cfg.logger, max: maxBytes}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	// cfg.logger as given: recordlog is quiet with nil, except for a directory open to others.
	ro := recordlog.Options{ReadOnly: cfg.readOnly, Logger: cfg.logger, SegmentBytes: cfg.segmentBytes}
	legacy := false
	if !cfg.readOnly {
		var err error
		if legacy, err = moveLegacy(dir, cfg.logger); err != nil {
			return nil, fmt.Errorf("dualwrite: replay log %s: %w", dir, err)
		}
	}
	main := ro
	main.MaxBytes = maxBytes
	var err error
	if l.log, err = recordlog.Open(dir, main); err != nil {
		return nil, fmt.Errorf("dualwrite: replay log: %w", err)
	}
	for _, side := range []struct {
		into **recordlog.Log
		name string
	}{{&l.dead, deadLetterDir}, {&l.unc, uncertainDir}} {
		sub := filepath.Join(dir, side.name)
		if cfg.readOnly {
			if _, err := os.Stat(sub); errors.Is(err, os.ErrNotExist) {
				continue // nothing set aside yet
			}
		}
		if *side.into, err = recordlog.Open(sub, ro); err != nil {
			l.Close()
			return nil, fmt.Errorf("dualwrite: replay log: %w", err)
		}
	}
	if legacy {
		if err := l.importLegacy(); err != nil {
			l.Close()
			return nil, fmt.Errorf("dualwrite: replay log %s: importing the previous format: %w", dir, err)
		}
	}
	l.refreshOldest()
	return l, nil
}

// Dir returns the log's directory.
func (l *FileLog) Dir() string { return l.dir }

// Append stores e durably (fsync with its group) and returns; ErrReplayLogFull when the log holds
// its limit, ErrUnencodable when a value cannot be stored. The wait is bounded by ctx; when ctx
// ends first the entry may or may not be kept (a replay of it is harmless).
func (l *FileLog) Append(ctx context.Context, e *Entry) error {
	if e.Logged.IsZero() {
		e.Logged = time.Now()
	}
	payload, err := encodeEntry(e)
	if err != nil {
		return err
	}
	if _, err := l.log.Append(ctx, payload); err != nil {
		switch {
		case errors.Is(err, recordlog.ErrFull):
			n, oldest := l.Backlog()
			return fmt.Errorf("%w: %d entries waiting in %s (limit %d bytes); the follower side has been failing for %s",
				ErrReplayLogFull, n, l.dir, l.max, time.Since(oldest).Round(time.Second))
		case errors.Is(err, recordlog.ErrClosed):
			return ErrClosed
		}
		return fmt.Errorf("dualwrite: replay log append: %w", err)
	}
	l.mu.Lock()
	if l.oldest.IsZero() {
		l.oldest = e.Logged
	}
	l.mu.Unlock()
	return nil
}

// Pending returns up to max durable entries after the last one handed out. An entry that cannot be
// decoded (written by a newer version, or corrupt past its checksum) is moved to the dead-letter
// log, never handed out again and again.
func (l *FileLog) Pending(max int) ([]Record, error) {
	var out []Record
	for len(out) < max {
		before := l.log.ReadPos()
		recs, err := l.log.Read(max - len(out))
		for _, r := range recs {
			e, derr := decodeEntry(r.Payload)
			if derr != nil {
				l.logger.Error("dualwrite: replay log entry cannot be decoded; dead-lettered", "dir", l.dir, "pos", r.Pos.String(), "err", derr)
				if l.dead != nil {
					if _, err := l.dead.Append(context.Background(), encodeAside(time.Now(), derr.Error(), r.Payload)); err != nil {
						// Read moved past the rest of the batch: go back to just before this entry,
						// so that nothing after it is passed by a Done without being handed out.
						l.log.Seek(before)
						return out, fmt.Errorf("dualwrite: dead-lettering an undecodable entry: %w", err)
					}
				}
				before = r.Pos
				continue
			}
			out = append(out, Record{Entry: e, Pos: Pos{Segment: r.Pos.Segment, Offset: r.Pos.Offset, Seq: r.Pos.Seq}})
			before = r.Pos
		}
		if err != nil {
			return out, fmt.Errorf("dualwrite: replay log: %w", err)
		}
		if len(recs) == 0 {
			break
		}
	}
	return out, nil
}

// Done records that every entry up to and including the one at pos has landed (or been set
// aside), durably, and frees what is wholly replayed.
func (l *FileLog) Done(pos Pos) error {
	if err := l.log.Commit(recordlog.Pos{Segment: pos.Segment, Offset: pos.Offset, Seq: pos.Seq}); err != nil {
		return fmt.Errorf("dualwrite: replay log: %w", err)
	}
	l.refreshOldest()
	return nil
}

func (l *FileLog) refreshOldest() {
	var oldest time.Time
	if r, ok, _ := l.log.Peek(); ok {
		if e, err := decodeEntry(r.Payload); err == nil {
			oldest = e.Logged
		}
	}
	l.mu.Lock()
	l.oldest = oldest
	l.mu.Unlock()
}

// Backlog returns the entries not yet replayed and when the oldest of them was appended.
func (l *FileLog) Backlog() (int64, time.Time) {
	n := l.log.Stats().Records
	l.mu.Lock()
	defer l.mu.Unlock()
	if n == 0 {
		return 0, time.Time{}
	}
	return n, l.oldest
}

// DeadLetter sets rec aside in DIR/deadletter with the reason it can never land; the replayer
// calls it before Done passes rec.
func (l *FileLog) DeadLetter(ctx context.Context, rec Record, cause error) error {
	return l.aside(ctx, l.dead, &rec.Entry, cause)
}

// RecordUncertain keeps e in DIR/uncertain: a write whose outcome on e.Side is unknown and that is
// never replayed blindly (a counter update, a non-idempotent statement that timed out).
func (l *FileLog) RecordUncertain(ctx context.Context, e *Entry, cause error) error {
	return l.aside(ctx, l.unc, e, cause)
}

func (l *FileLog) aside(ctx context.Context, into *recordlog.Log, e *Entry, cause error) error {
	if into == nil {
		return recordlog.ErrReadOnly
	}
	if e.Logged.IsZero() {
		e.Logged = time.Now()
	}
	payload, err := encodeEntry(e)
	if err != nil {
		return err
	}
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	if _, err := into.Append(ctx, encodeAside(time.Now(), msg, payload)); err != nil {
		if errors.Is(err, recordlog.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("dualwrite: %s: %w", into.Dir(), err)
	}
	return nil
}

// Aside is an entry set aside from replay, with why and when.
type Aside struct {
	ID    int    // position among those set aside, from 1, for `islands replay --id`
	Entry Entry  // the entry (zero when Raw could not be decoded)
	Raw   []byte // the entry's bytes when they could not be decoded
	Cause string
	At    time.Time
	pos   recordlog.Pos
}

// encodeAside frames an entry set aside: version, when (unix ns), cause, the entry's bytes.
func encodeAside(at time.Time, cause string, entry []byte) []byte {
	b := []byte{1}
	b = binary.AppendVarint(b, at.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(cause)))
	b = append(b, cause...)
	return append(b, entry...)
}

func decodeAside(p []byte) (Aside, error) {
	d := decoder{b: p}
	if d.byte() != 1 {
		return Aside{Raw: p}, fmt.Errorf("%w: unknown dead-letter format", errCorrupt)
	}
	a := Aside{At: time.Unix(0, d.varint()), Cause: d.str()}
	if d.err != nil {
		return Aside{Raw: p}, d.err
	}
	e, err := decodeEntry(d.b)
	if err != nil {
		a.Raw = d.b
		return a, nil
	}
	a.Entry = e
	return a, nil
}

// readAside reads every record of an aside log without consuming it, from its own position:
// listings running at once (and the reader) never disturb each other.
func readAside(rl *recordlog.Log) ([]Aside, error) {
	if rl == nil {
		return nil, nil
	}
	var out []Aside
	pos := rl.Cursor()
	for {
		recs, next, err := rl.ReadFrom(pos, 256)
		for _, r := range recs {
			a, _ := decodeAside(r.Payload)
			a.ID = len(out) + 1
			a.pos = r.Pos
			out = append(out, a)
		}
		if err != nil {
			return out, err
		}
		if len(recs) == 0 {
			return out, nil
		}
		pos = next
	}
}

// DeadLetters returns the entries set aside as never landing, oldest first.
func (l *FileLog) DeadLetters() ([]Aside, error) { return readAside(l.dead) }

// DeadLettersFor returns how many dead-lettered entries are for side ("primary" or
// "secondary"); one that cannot be decoded counts for both.
func (l *FileLog) DeadLettersFor(side string) (int64, error) {
	all, err := readAside(l.dead)
	var n int64
	for _, a := range all {
		if a.Raw != nil || a.Entry.Side == side {
			n++
		}
	}
	return n, err
}

// UncertainEntries returns the writes recorded as uncertain, oldest first.
func (l *FileLog) UncertainEntries() ([]Aside, error) { return readAside(l.unc) }

// PendingEntries returns up to max entries waiting for replay, without handing them out.
// It reads from its own position: the replayer's is left alone.
func (l *FileLog) PendingEntries(max int) ([]Record, error) {
	var out []Record
	pos := l.log.Cursor()
	for len(out) < max {
		recs, next, err := l.log.ReadFrom(pos, max-len(out))
		for _, r := range recs {
			e, derr := decodeEntry(r.Payload)
			if derr != nil {
				continue // Pending dead-letters it
			}
			out = append(out, Record{Entry: e, Pos: Pos{Segment: r.Pos.Segment, Offset: r.Pos.Offset, Seq: r.Pos.Seq}})
		}
		if err != nil {
			return out, fmt.Errorf("dualwrite: replay log: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		pos = next
	}
	return out, nil
}

// RetryDeadLetters moves the dead-lettered entries whose IDs are given (all when ids is empty)
// back to the replay log, and returns how many moved. A crash in the middle may leave an entry in
// both places, never in neither (replaying twice is harmless).
func (l *FileLog) RetryDeadLetters(ctx context.Context, ids []int) (int, error) {
	return l.rewriteAside(ctx, l.dead, ids, true)
}

// DropDeadLetters removes the dead-lettered entries whose IDs are given (all when ids is empty).
func (l *FileLog) DropDeadLetters(ctx context.Context, ids []int) (int, error) {
	return l.rewriteAside(ctx, l.dead, ids, false)
}

// DropUncertain removes the uncertain entries whose IDs are given (all when ids is empty), once a
// person has reconciled them.
func (l *FileLog) DropUncertain(ctx context.Context, ids []int) (int, error) {
	return l.rewriteAside(ctx, l.unc, ids, false)
}

// rewriteAside takes the selected entries out of an aside log: each is appended to the replay log
// (retry) or dropped; the others are appended again to the aside log; then the aside log's cursor
// passes every record that was there.
func (l *FileLog) rewriteAside(ctx context.Context, rl *recordlog.Log, ids []int, retry bool) (int, error) {
	if rl == nil {
		return 0, nil
	}
	all, err := readAside(rl)
	if err != nil || len(all) == 0 {
		return 0, err
	}
	chosen := map[int]bool{}
	for _, id := range ids {
		if id < 1 || id > len(all) {
			return 0, fmt.Errorf("dualwrite: no entry %d set aside in %s (there are %d)", id, rl.Dir(), len(all))
		}
		chosen[id] = true
	}
	moved := 0
	for _, a := range all {
		if len(ids) > 0 && !chosen[a.ID] {
			if _, err := rl.Append(ctx, encodeAside(a.At, a.Cause, entryBytes(a))); err != nil {
				return moved, err
			}
			continue
		}
		if retry {
			if a.Raw != nil {
				return moved, fmt.Errorf("dualwrite: entry %d cannot be decoded (%s); drop it instead", a.ID, a.Cause)
			}
			e := a.Entry
			if err := l.Append(ctx, &e); err != nil {
				return moved, err
			}
		}
		moved++
	}
	if err := rl.Commit(all[len(all)-1].pos); err != nil {
		return moved, err
	}
	return moved, nil
}

func entryBytes(a Aside) []byte {
	if a.Raw != nil {
		return a.Raw
	}
	b, _ := encodeEntry(&a.Entry)
	return b
}

// Close stops the writers; entries not yet replayed stay on disk for the next session.
func (l *FileLog) Close() error {
	for _, rl := range []*recordlog.Log{l.log, l.dead, l.unc} {
		if rl != nil {
			rl.Close()
		}
	}
	return nil
}
