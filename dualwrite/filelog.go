package dualwrite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
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
//	DIR/withdrawn/  withdrawals: entries of DIR that must never be applied (kept for the follower
//	                before the leader answered, and the leader refused the write: hold.go), each
//	                named by its position in DIR; every reader of DIR passes them (withdrawn.go)
//	DIR/reserve     zeros: space held back so that a withdrawal or an uncertain record can be
//	                written on a full disk (reserve.go)
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
	wd     *recordlog.Log // DIR/withdrawn (withdrawn.go)
	logger *slog.Logger
	max    int64

	mu     sync.Mutex
	oldest time.Time // Logged of the oldest entry not yet Done (zero: none or unknown)

	// deadAhead: undecodable entries the hand-off dead-lettered before Pending read them
	// (deadLetterUnread), so that Pending passes them without dead-lettering them twice. Guarded
	// by voids.pendMu.
	deadAhead map[Pos]bool

	asideMu sync.Mutex             // serialises appends to the aside logs and their rewrites
	lastID  map[*recordlog.Log]int // per aside log: the highest ID ever given (never reused)

	voids voids // withdrawn entries not yet passed (withdrawn.go)

	res *fileReserve // DIR/reserve (reserve.go); nil when read-only
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
	withdrawnDir       = "withdrawn"
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
	main := ro
	main.MaxBytes = maxBytes
	var err error
	if l.log, err = recordlog.Open(dir, main); err != nil {
		return nil, fmt.Errorf("dualwrite: replay log: %w", err)
	}
	for _, side := range []struct {
		into **recordlog.Log
		name string
	}{{&l.dead, deadLetterDir}, {&l.unc, uncertainDir}, {&l.wd, withdrawnDir}} {
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
	l.lastID = map[*recordlog.Log]int{}
	for _, rl := range []*recordlog.Log{l.dead, l.unc} {
		if rl == nil {
			continue
		}
		v, err := scanAside(rl)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("dualwrite: replay log: %w", err)
		}
		l.lastID[rl] = v.lastID
	}
	if err := l.loadVoids(); err != nil {
		l.Close()
		return nil, fmt.Errorf("dualwrite: replay log: %w", err)
	}
	if !cfg.readOnly {
		var rerr error
		if l.res, rerr = openReserve(dir); rerr != nil {
			l.logger.Warn("dualwrite: the replay directory's reserve could not be made whole; entries are kept ahead of "+
				"the leader's answer only while withdrawals fit in what there is", "dir", dir, "reserve", l.res.size,
				"want", l.res.target, "err", rerr)
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
	_, err := l.appendAt(ctx, e)
	return err
}

// appendAt is Append that also returns the entry's position (for withdraw). When the append
// failed but its record may still be read back after a reopen (recordlog.ErrUncut), the
// position is where it would be.
func (l *FileLog) appendAt(ctx context.Context, e *Entry) (Pos, error) {
	if e.Logged.IsZero() {
		e.Logged = time.Now()
	}
	payload, err := encodeEntry(e)
	if err != nil {
		return Pos{}, err
	}
	pos, err := l.log.Append(ctx, payload)
	if err != nil {
		switch {
		case errors.Is(err, recordlog.ErrFull):
			n, oldest := l.Backlog()
			return Pos{}, fmt.Errorf("%w: %d entries waiting in %s (limit %d bytes); the follower side has been failing for %s",
				ErrReplayLogFull, n, l.dir, l.max, time.Since(oldest).Round(time.Second))
		case errors.Is(err, recordlog.ErrClosed):
			return Pos{}, ErrClosed
		}
		var ue *recordlog.UncutError
		if errors.As(err, &ue) {
			// Not kept, as far as this process is concerned, but it may be read back after a
			// reopen, there: the position lets the caller withdraw it (hold.go).
			return ue.At, fmt.Errorf("dualwrite: replay log append: %w", err)
		}
		return Pos{}, fmt.Errorf("dualwrite: replay log append: %w", err)
	}
	l.mu.Lock()
	if l.oldest.IsZero() {
		l.oldest = e.Logged
	}
	l.mu.Unlock()
	return pos, nil
}

// Pending returns up to max durable entries after the last one handed out. An entry that cannot be
// decoded (written by a newer version, or corrupt past its checksum) is moved to the dead-letter
// log, never handed out again and again: its Record comes with SetAside (its position only), so
// that Done passes it. A withdrawn entry (withdrawn.go) is handed out the same way: position only.
func (l *FileLog) Pending(max int) (out []Record, err error) {
	l.voids.pendMu.Lock()
	defer l.voids.pendMu.Unlock()
	defer func() {
		if n := len(out); n > 0 {
			l.voids.handedOut(out[n-1].Pos)
		}
	}()
	for len(out) < max {
		before := l.log.ReadPos()
		recs, err := l.log.Read(max - len(out))
		for _, r := range recs {
			if l.voids.has(r.Pos) {
				out = append(out, Record{Pos: r.Pos, SetAside: true})
				before = r.Pos
				continue
			}
			e, derr := decodeEntry(r.Payload)
			if derr != nil && l.deadAhead[r.Pos] {
				delete(l.deadAhead, r.Pos) // the hand-off dead-lettered it already
				out = append(out, Record{Pos: r.Pos, SetAside: true})
				before = r.Pos
				continue
			}
			if derr != nil {
				l.logger.Error("dualwrite: replay log entry cannot be decoded; dead-lettered", "dir", l.dir, "pos", r.Pos.String(), "err", derr)
				if l.dead != nil {
					if err := l.asideRaw(l.dead, derr.Error(), r.Payload); err != nil {
						// Read moved past the rest of the batch: go back to just before this entry,
						// so that nothing after it is passed by a Done without being handed out.
						l.log.Seek(before)
						return out, fmt.Errorf("dualwrite: dead-lettering an undecodable entry: %w", err)
					}
				}
				out = append(out, Record{Pos: r.Pos, SetAside: true})
				before = r.Pos
				continue
			}
			e.at = r.Pos
			out = append(out, Record{Entry: e, Pos: r.Pos})
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

// reread returns up to max records after the one at after, read independently of Pending
// (rereader): withdrawn and undecodable ones with SetAside.
func (l *FileLog) reread(after Pos, max int) ([]Record, error) {
	recs, _, err := l.log.ReadFrom(after, max)
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		pos := r.Pos
		if l.gone(r.Pos) {
			out = append(out, Record{Pos: pos, SetAside: true})
			continue
		}
		e, derr := decodeEntry(r.Payload)
		if derr != nil {
			out = append(out, Record{Pos: pos, SetAside: true})
			continue
		}
		e.at = pos
		out = append(out, Record{Entry: e, Pos: pos})
	}
	if err != nil {
		return out, fmt.Errorf("dualwrite: replay log: %w", err)
	}
	return out, nil
}

// rewind makes Pending hand out again, from the cursor, the entries it handed out that no Done
// passed: a replayer that stops (a session closed, or refused at open) leaves them for the next
// one on the same FileLog value.
func (l *FileLog) rewind() {
	l.voids.pendMu.Lock()
	defer l.voids.pendMu.Unlock()
	l.log.Rewind()
}

// Done records that every entry up to and including the one at pos has landed (or been set
// aside), durably, and frees what is wholly replayed.
func (l *FileLog) Done(pos Pos) error {
	if err := l.log.Commit(pos); err != nil {
		return fmt.Errorf("dualwrite: replay log: %w", err)
	}
	l.pruneVoids()
	l.refreshOldest()
	l.res.refill() // consumed segments were freed: the reserve, if spent, is made whole again
	return nil
}

// refreshOldest notes when the oldest entry not yet Done (withdrawn ones passed) was appended.
func (l *FileLog) refreshOldest() {
	var oldest time.Time
	pos := l.log.Cursor()
scan:
	for {
		recs, next, _ := l.log.ReadFrom(pos, 16)
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if l.gone(r.Pos) {
				continue
			}
			if e, err := decodeEntry(r.Payload); err == nil {
				oldest = e.Logged
			}
			break scan
		}
		pos = next
	}
	l.mu.Lock()
	l.oldest = oldest
	l.mu.Unlock()
}

// Backlog returns the entries not yet replayed and when the oldest of them was appended.
func (l *FileLog) Backlog() (int64, time.Time) {
	// The stats before the cursor: a Done in between makes this count more, never less.
	n := l.log.Stats().Records
	n = max(0, n-l.voids.after(l.log.Cursor()))
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
	l.asideMu.Lock()
	defer l.asideMu.Unlock()
	id := l.lastID[into] + 1
	if _, err := into.Append(ctx, encodeAside(id, time.Now(), msg, payload)); err != nil {
		if errors.Is(err, recordlog.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("dualwrite: %s: %w", into.Dir(), err)
	}
	l.lastID[into] = id
	return nil
}

// asideRaw sets aside the bytes of an entry that cannot be decoded.
func (l *FileLog) asideRaw(into *recordlog.Log, cause string, payload []byte) error {
	l.asideMu.Lock()
	defer l.asideMu.Unlock()
	id := l.lastID[into] + 1
	if _, err := into.Append(context.Background(), encodeAside(id, time.Now(), cause, payload)); err != nil {
		return err
	}
	l.lastID[into] = id
	return nil
}

// Aside is an entry set aside from replay, with why and when.
type Aside struct {
	ID    int    // from 1, for `islands replay --id`: given once, never to another entry of the same store
	Entry Entry  // the entry (zero when Raw could not be decoded)
	Raw   []byte // the entry's bytes when they could not be decoded
	Cause string
	At    time.Time
	pos   recordlog.Pos
}

// An aside log holds records of two kinds, told by their first byte:
//
//	1 (first format)  when (unix ns), cause, the entry's bytes: its ID is its position among the
//	                  first-format records (as `islands replay` showed it then)
//	2                 ID, when, cause, the entry's bytes
//	3                 a high-water mark: the highest ID ever given, kept when the entry that had it
//	                  was dropped, so that no ID is given twice
//
// A rewrite (retry, drop) appends the records it keeps, with their IDs, and a mark, then moves the
// cursor past the old ones: a rewrite cut short leaves some records twice, and a listing keeps the
// first record of each ID, so nothing is listed twice.
const (
	asideV1   = 1
	asideV2   = 2
	asideMark = 3
)

// encodeAside frames an entry set aside: kind 2, ID, when (unix ns), cause, the entry's bytes.
func encodeAside(id int, at time.Time, cause string, entry []byte) []byte {
	b := []byte{asideV2}
	b = binary.AppendUvarint(b, uint64(id))
	b = binary.AppendVarint(b, at.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(cause)))
	b = append(b, cause...)
	return append(b, entry...)
}

func encodeMark(id int) []byte { return binary.AppendUvarint([]byte{asideMark}, uint64(id)) }

// decodeAside decodes a record of kind 1 or 2 (ID 0 for kind 1: its position gives it).
func decodeAside(p []byte) (Aside, error) {
	d := decoder{b: p}
	var a Aside
	switch d.byte() {
	case asideV1:
	case asideV2:
		a.ID = int(d.uvarint())
	default:
		return Aside{Raw: p}, fmt.Errorf("%w: unknown dead-letter format", errCorrupt)
	}
	a.At, a.Cause = time.Unix(0, d.varint()), d.str()
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

// asideView is an aside log as read: its entries (the first record of each ID), the highest ID
// ever given, and the position after the last record.
type asideView struct {
	entries []Aside
	lastID  int
	end     recordlog.Pos
	any     bool // the log holds records (end is valid)
}

// scanAside reads every record of an aside log without consuming it, from its own position:
// listings running at once (and the reader) never disturb each other.
func scanAside(rl *recordlog.Log) (asideView, error) {
	var v asideView
	if rl == nil {
		return v, nil
	}
	seen := map[int]bool{}
	v1 := 0
	pos := rl.Cursor()
	for {
		recs, next, err := rl.ReadFrom(pos, 256)
		for _, r := range recs {
			v.end, v.any = r.Pos, true
			if len(r.Payload) > 0 && r.Payload[0] == asideMark {
				d := decoder{b: r.Payload[1:]}
				if id := int(d.uvarint()); d.err == nil {
					v.lastID = max(v.lastID, id)
				}
				continue
			}
			a, _ := decodeAside(r.Payload)
			if a.ID == 0 {
				v1++
				a.ID = v1
			}
			v.lastID = max(v.lastID, a.ID)
			if seen[a.ID] {
				continue // a copy left by a rewrite cut short
			}
			seen[a.ID] = true
			a.pos = r.Pos
			v.entries = append(v.entries, a)
		}
		if err != nil {
			return v, err
		}
		if len(recs) == 0 {
			sort.Slice(v.entries, func(i, j int) bool { return v.entries[i].ID < v.entries[j].ID })
			return v, nil
		}
		pos = next
	}
}

// readAside lists an aside log's entries in ID order (oldest first).
func readAside(rl *recordlog.Log) ([]Aside, error) {
	v, err := scanAside(rl)
	return v.entries, err
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

// backlogFor counts the entries waiting for replay that are for side sd, reading the whole
// backlog from its own position (the replayer's is left alone). An entry that cannot be decoded
// counts for every side: nobody knows whose it is.
func (l *FileLog) backlogFor(sd side) (int64, error) { return l.countFor(sd, false) }

// ackedBacklogFor is backlogFor without the Unacked entries (writes whose caller was told they
// failed).
func (l *FileLog) ackedBacklogFor(sd side) (int64, error) { return l.countFor(sd, true) }

func (l *FileLog) countFor(sd side, ackedOnly bool) (int64, error) {
	var n int64
	pos := l.log.Cursor()
	for {
		recs, next, err := l.log.ReadFrom(pos, 256)
		for _, r := range recs {
			if l.gone(r.Pos) {
				continue
			}
			e, derr := decodeEntry(r.Payload)
			if derr != nil || (entrySide(&e) == sd && !(ackedOnly && e.Unacked)) {
				n++
			}
		}
		if err != nil {
			return n, fmt.Errorf("dualwrite: replay log: %w", err)
		}
		if len(recs) == 0 {
			return n, nil
		}
		pos = next
	}
}

// PendingEntries returns up to max entries waiting for replay, without handing them out.
// It reads from its own position: the replayer's is left alone.
func (l *FileLog) PendingEntries(max int) ([]Record, error) {
	var out []Record
	pos := l.log.Cursor()
	for len(out) < max {
		recs, next, err := l.log.ReadFrom(pos, max-len(out))
		for _, r := range recs {
			if l.gone(r.Pos) {
				continue // withdrawn: never replayed
			}
			e, derr := decodeEntry(r.Payload)
			if derr != nil {
				continue // Pending dead-letters it
			}
			out = append(out, Record{Entry: e, Pos: r.Pos})
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
// (retry) or dropped; the others are appended again to the aside log with their IDs, then a mark
// of the highest ID given; then the aside log's cursor passes every record that was there. Cut
// short, it leaves records twice in the aside log, never an entry listed twice (scanAside keeps
// the first record of an ID) nor lost.
func (l *FileLog) rewriteAside(ctx context.Context, rl *recordlog.Log, ids []int, retry bool) (int, error) {
	if rl == nil {
		return 0, nil
	}
	l.asideMu.Lock()
	defer l.asideMu.Unlock()
	v, err := scanAside(rl)
	if err != nil || len(v.entries) == 0 {
		return 0, err
	}
	byID := map[int]bool{}
	for _, a := range v.entries {
		byID[a.ID] = true
	}
	chosen := map[int]bool{}
	for _, id := range ids {
		if !byID[id] {
			return 0, fmt.Errorf("dualwrite: no entry %d set aside in %s (%d are)", id, rl.Dir(), len(v.entries))
		}
		chosen[id] = true
	}
	// Retries first: until the cursor moves, every entry is still set aside.
	moved := 0
	for _, a := range v.entries {
		if len(ids) > 0 && !chosen[a.ID] {
			continue
		}
		if retry {
			if a.Raw != nil {
				return 0, fmt.Errorf("dualwrite: entry %d cannot be decoded (%s); drop it instead", a.ID, a.Cause)
			}
			e := a.Entry
			if err := l.Append(ctx, &e); err != nil {
				return 0, err
			}
		}
		moved++
	}
	for _, a := range v.entries {
		if len(ids) > 0 && !chosen[a.ID] {
			if _, err := rl.Append(ctx, encodeAside(a.ID, a.At, a.Cause, entryBytes(a))); err != nil {
				return 0, err
			}
		}
	}
	lastID := max(v.lastID, l.lastID[rl])
	if _, err := rl.Append(ctx, encodeMark(lastID)); err != nil {
		return 0, err
	}
	if err := rl.Commit(v.end); err != nil {
		return 0, err
	}
	l.lastID[rl] = lastID
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
	l.res.close()
	for _, rl := range []*recordlog.Log{l.log, l.dead, l.unc, l.wd} {
		if rl != nil {
			rl.Close()
		}
	}
	return nil
}
