package dualwrite

import (
	"context"
	"sync"
	"time"
)

// MemLog is a ReplayLog in memory, for unit tests and for applications that accept losing the
// backlog in a crash. It keeps what a FileLog keeps, without durability.
type MemLog struct {
	mu        sync.Mutex
	entries   []Entry
	base      int64 // position of entries[0]
	read      int64
	closed    bool
	dead      []Aside
	uncertain []Aside
	voids     map[int64]bool // positions (Offset) of withdrawn entries not yet done (withdrawn.go)
}

// NewMemLog returns an empty in-memory replay log.
func NewMemLog() *MemLog { return &MemLog{} }

// Append keeps a copy of e.
func (m *MemLog) Append(ctx context.Context, e *Entry) error {
	_, err := m.appendAt(ctx, e)
	return err
}

// appendAt is Append that also returns the entry's position (for withdraw).
func (m *MemLog) appendAt(_ context.Context, e *Entry) (Pos, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Pos{}, ErrClosed
	}
	if e.Logged.IsZero() {
		e.Logged = time.Now()
	}
	b, err := encodeEntry(e) // same contract as the file log, and the same entry back
	if err != nil {
		return Pos{}, err
	}
	back, err := decodeEntry(b)
	if err != nil {
		return Pos{}, err
	}
	m.entries = append(m.entries, back)
	return Pos{Offset: m.base + int64(len(m.entries))}, nil
}

// withdraw marks the entry at pos as never to be applied, as FileLog's does (without
// durability); handedOut says whether Pending had handed it out already.
func (m *MemLog) withdraw(_ context.Context, pos Pos, _ *Entry) (handedOut bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pos.Offset <= m.base {
		return false, nil // done already
	}
	if m.voids == nil {
		m.voids = map[int64]bool{}
	}
	m.voids[pos.Offset] = true
	return pos.Offset <= m.read, nil
}

// Pending returns up to max entries after those already handed out.
func (m *MemLog) Pending(max int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for m.read-m.base < int64(len(m.entries)) && len(out) < max {
		if m.voids[m.read+1] {
			out = append(out, Record{Pos: Pos{Offset: m.read + 1}, SetAside: true})
		} else {
			e := m.entries[m.read-m.base]
			e.at = Pos{Offset: m.read + 1}
			out = append(out, Record{Entry: e, Pos: e.at})
		}
		m.read++
	}
	return out, nil
}

// reread returns up to limit records after the one at after (rereader).
func (m *MemLog) reread(after Pos, limit int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for off := max(after.Offset, m.base) + 1; off-m.base <= int64(len(m.entries)) && len(out) < limit; off++ {
		if m.voids[off] {
			out = append(out, Record{Pos: Pos{Offset: off}, SetAside: true})
			continue
		}
		e := m.entries[off-m.base-1]
		e.at = Pos{Offset: off}
		out = append(out, Record{Entry: e, Pos: e.at})
	}
	return out, nil
}

// rewind makes Pending hand out again the entries no Done passed (FileLog.rewind).
func (m *MemLog) rewind() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read = m.base
}

// Done drops entries up to pos.
func (m *MemLog) Done(pos Pos) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := pos.Offset - m.base; n > 0 && n <= int64(len(m.entries)) {
		m.entries = m.entries[n:]
		m.base = pos.Offset
	}
	for p := range m.voids {
		if p <= m.base {
			delete(m.voids, p)
		}
	}
	return nil
}

// Backlog returns the entries not yet done and the oldest one's append time.
func (m *MemLog) Backlog() (int64, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(len(m.entries)) - int64(len(m.voids))
	for i := range m.entries {
		if !m.voids[m.base+int64(i)+1] {
			return n, m.entries[i].Logged
		}
	}
	return 0, time.Time{}
}

// backlogFor counts the entries not yet done that are for side sd.
func (m *MemLog) backlogFor(sd side) (int64, error) { return m.countFor(sd, false) }

// ackedBacklogFor is backlogFor without the Unacked entries.
func (m *MemLog) ackedBacklogFor(sd side) (int64, error) { return m.countFor(sd, true) }

func (m *MemLog) countFor(sd side, ackedOnly bool) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for i := range m.entries {
		if !m.voids[m.base+int64(i)+1] && entrySide(&m.entries[i]) == sd && !(ackedOnly && m.entries[i].Unacked) {
			n++
		}
	}
	return n, nil
}

// DeadLetter keeps rec aside (see DeadLetters).
func (m *MemLog) DeadLetter(_ context.Context, rec Record, cause error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = append(m.dead, Aside{ID: len(m.dead) + 1, Entry: rec.Entry, Cause: errString(cause), At: time.Now()})
	return nil
}

// DeadLettersFor returns how many entries for side ("primary" or "secondary") are set aside.
func (m *MemLog) DeadLettersFor(side string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, a := range m.dead {
		if a.Entry.Side == side {
			n++
		}
	}
	return n, nil
}

// RecordUncertain keeps e as uncertain (see UncertainEntries).
func (m *MemLog) RecordUncertain(_ context.Context, e *Entry, cause error) error {
	if _, err := encodeEntry(e); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uncertain = append(m.uncertain, Aside{ID: len(m.uncertain) + 1, Entry: *e, Cause: errString(cause), At: time.Now()})
	return nil
}

// DeadLetters returns the entries set aside by DeadLetter.
func (m *MemLog) DeadLetters() []Aside {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Aside(nil), m.dead...)
}

// UncertainEntries returns the entries kept by RecordUncertain.
func (m *MemLog) UncertainEntries() []Aside {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Aside(nil), m.uncertain...)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Close makes further appends fail.
func (m *MemLog) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}
