package dualwrite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/globalcloud/islands/internal/recordlog"
)

// Durable withdrawals (hold.go says when an entry is withdrawn).
//
// Invariants:
//  1. A withdrawal is durable before it is reported: withdraw appends its record to DIR/withdrawn
//     (fsynced with its group, as every recordlog append) before it marks the entry, and the
//     session tells the caller the leader's refusal only once withdraw has returned (hold.go).
//  2. A withdrawal names its entry by the entry's position in DIR (segment, offset: never reused),
//     so it withdraws that entry and no other, whatever timestamp other entries carry.
//  3. Every reader of DIR passes a withdrawn entry without applying, counting or listing it:
//     Pending hands it out with SetAside (its position only, so that Done passes it), and
//     PendingEntries (`islands replay inspect`), backlogFor (Open's and SetPhase's authority
//     checks), Backlog and the oldest entry's age skip it. OpenFileLog reads DIR/withdrawn before
//     any of them runs, so a withdrawal survives Close, a crash and the next process.
//  4. Pending and withdraw are serialised (pendMu): withdraw says exactly whether the entry had
//     already been handed out (then only the replayer's in-memory void, hold.go, can stop it: the
//     entry is in its hands) or will be passed by Pending (then no void is left in memory).
//  5. A withdrawal record is consumed (DIR/withdrawn's cursor passes it) only once DIR's cursor has
//     passed the entry it names, so it is read again at every open until then.
//  6. An entry whose append failed but may still be read back after a reopen (recordlog.ErrUncut:
//     the failed write could not be cut back) is withdrawn like any other, by the position its
//     error named (recordlog never gives that position to another record). Until a reopen reads
//     it back, the log does not hold it (recordlog.Log.Holds): the withdrawal is then recorded
//     durably but marks nothing, so that nothing is subtracted from the backlog for it, in this
//     process or in a later one where the record did not survive.
//
// A record of DIR/withdrawn: 0x01, the entry's segment (uvarint) and offset (uvarint, the position
// just after the entry, as recordlog.Append returned it), its side (str) and timestamp (varint)
// for diagnostics. A process of an earlier version ignores DIR/withdrawn: it replays a withdrawn
// entry (what every version did before the withdrawal was made durable), never loses one.
const voidV1 = 1

type voidKey struct {
	seg uint64
	off int64
}

func keyOf(p recordlog.Pos) voidKey { return voidKey{p.Segment, p.Offset} }

// passed reports whether the entry at k is at or before cursor (consumed).
func (k voidKey) passed(cursor recordlog.Pos) bool {
	return k.seg < cursor.Segment || (k.seg == cursor.Segment && k.off <= cursor.Offset)
}

type voidRec struct {
	at     recordlog.Pos // just after the withdrawal record in DIR/withdrawn
	target voidKey
}

// voids are a FileLog's withdrawn entries not yet passed by its cursor.
type voids struct {
	pendMu sync.Mutex // held by Pending for its whole run, and by withdraw while it marks (invariant 4)

	mu     sync.Mutex
	set    map[voidKey]struct{} // withdrawn entries after the cursor
	recs   []voidRec            // withdrawal records not yet consumed, in DIR/withdrawn's order
	handed voidKey              // just after the last entry Pending handed out
	adding int                  // withdraw calls between their append and their mark
}

func (v *voids) has(p recordlog.Pos) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.set[keyOf(p)]
	return ok
}

// gone reports whether a reader that started before the cursor's last move must pass the record
// at p: withdrawn, or passed by the cursor since (consumed: landed, or set aside before the cursor
// passed it). Checked in that order, a withdrawal forgotten meanwhile (pruneVoids runs after the
// cursor passed its entry) is still passed.
func (l *FileLog) gone(p recordlog.Pos) bool {
	return l.voids.has(p) || keyOf(p).passed(l.log.Cursor())
}

// after counts the withdrawn entries after cursor.
func (v *voids) after(cursor recordlog.Pos) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var n int64
	for k := range v.set {
		if !k.passed(cursor) {
			n++
		}
	}
	return n
}

// handedOut notes that Pending handed out every entry up to p. pendMu held.
func (v *voids) handedOut(p Pos) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := voidKey{p.Segment, p.Offset}
	if v.handed.seg < k.seg || (v.handed.seg == k.seg && v.handed.off < k.off) {
		v.handed = k
	}
}

func encodeVoid(k voidKey, e *Entry) []byte {
	b := []byte{voidV1}
	b = binary.AppendUvarint(b, k.seg)
	b = binary.AppendUvarint(b, uint64(k.off))
	b = binary.AppendUvarint(b, uint64(len(e.Side)))
	b = append(b, e.Side...)
	return binary.AppendVarint(b, e.Timestamp)
}

func decodeVoid(p []byte) (voidKey, error) {
	d := decoder{b: p}
	if v := d.byte(); d.err != nil || v != voidV1 {
		return voidKey{}, fmt.Errorf("%w: unknown withdrawal format", errCorrupt)
	}
	k := voidKey{seg: d.uvarint(), off: int64(d.uvarint())}
	return k, d.err
}

// loadVoids reads DIR/withdrawn (invariant 3).
func (l *FileLog) loadVoids() error {
	l.voids.set = map[voidKey]struct{}{}
	if l.wd == nil {
		return nil
	}
	cursor := l.log.Cursor()
	pos := l.wd.Cursor()
	for {
		recs, next, err := l.wd.ReadFrom(pos, 256)
		for _, r := range recs {
			k, derr := decodeVoid(r.Payload)
			if derr != nil {
				// Nothing to withdraw can be named: the entry it named replays (as before withdrawals
				// were durable). Its record is passed with the others.
				l.logger.Error("dualwrite: a withdrawal record cannot be decoded; the entry it named may be replayed",
					"dir", l.wd.Dir(), "pos", r.Pos.String(), "err", derr)
			}
			l.voids.recs = append(l.voids.recs, voidRec{at: r.Pos, target: k})
			// A withdrawal of a failed append's entry names it where it would be; it is marked
			// only if that entry was read back (invariant 6): else nothing is there to withdraw,
			// and a mark would be subtracted from the backlog for nothing.
			if derr == nil && !k.passed(cursor) && l.log.Holds(recordlog.Pos{Segment: k.seg, Offset: k.off}) {
				l.voids.set[k] = struct{}{}
			}
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		pos = next
	}
}

// withdraw records durably that the entry appended at pos (appendAt) must never be applied, then
// marks it; handedOut says whether Pending had already handed it out (invariant 4). e is the
// entry, for diagnostics.
func (l *FileLog) withdraw(ctx context.Context, pos Pos, e *Entry) (handedOut bool, err error) {
	if l.wd == nil {
		return false, recordlog.ErrReadOnly
	}
	k := voidKey{pos.Segment, pos.Offset}
	// Until it is in recs, a record just appended must not be passed by pruneVoids' commit.
	l.voids.mu.Lock()
	l.voids.adding++
	l.voids.mu.Unlock()
	at, err := l.wd.Append(ctx, encodeVoid(k, e))
	if err != nil {
		l.voids.mu.Lock()
		l.voids.adding--
		l.voids.mu.Unlock()
		if errors.Is(err, recordlog.ErrClosed) {
			return false, ErrClosed
		}
		return false, fmt.Errorf("dualwrite: %s: %w", l.wd.Dir(), err)
	}
	l.voids.pendMu.Lock()
	defer l.voids.pendMu.Unlock()
	cursor := l.log.Cursor()
	l.voids.mu.Lock()
	defer l.voids.mu.Unlock()
	l.voids.adding--
	// In DIR/withdrawn's order: concurrent withdrawals may mark in another order than they landed.
	i := len(l.voids.recs)
	for i > 0 && at.Segment < l.voids.recs[i-1].at.Segment ||
		i > 0 && at.Segment == l.voids.recs[i-1].at.Segment && at.Offset < l.voids.recs[i-1].at.Offset {
		i--
	}
	l.voids.recs = append(l.voids.recs, voidRec{})
	copy(l.voids.recs[i+1:], l.voids.recs[i:])
	l.voids.recs[i] = voidRec{at: at, target: k}
	if k.passed(cursor) {
		return false, nil // already passed (set aside meanwhile): nothing is left to withdraw
	}
	if !l.log.Holds(pos) {
		// A failed append's entry (recordlog.ErrUncut): this process never reads it (invariant 6);
		// the record above withdraws it if a later open reads it back.
		return false, nil
	}
	l.voids.set[k] = struct{}{}
	h := l.voids.handed
	return k.seg < h.seg || (k.seg == h.seg && k.off <= h.off), nil
}

// pruneVoids forgets the withdrawals whose entries the cursor has passed and consumes their
// records (invariant 5).
func (l *FileLog) pruneVoids() {
	cursor := l.log.Cursor()
	l.voids.mu.Lock()
	for k := range l.voids.set {
		if k.passed(cursor) {
			delete(l.voids.set, k)
		}
	}
	n := 0
	for l.voids.adding == 0 && n < len(l.voids.recs) && l.voids.recs[n].target.passed(cursor) {
		n++
	}
	var upto recordlog.Pos
	if n > 0 {
		upto = l.voids.recs[n-1].at
		l.voids.recs = append(l.voids.recs[:0], l.voids.recs[n:]...)
	}
	l.voids.mu.Unlock()
	if n > 0 && l.wd != nil {
		if err := l.wd.Commit(upto); err != nil {
			l.logger.Warn("dualwrite: consuming withdrawal records (they are read again at the next open)", "dir", l.wd.Dir(), "err", err)
		}
	}
}

// Withdrawn returns how many entries waiting in the log are withdrawn: kept for the follower
// before the leader answered, then refused by the leader; they are never replayed, and Backlog
// and PendingEntries leave them out.
func (l *FileLog) Withdrawn() int64 { return l.voids.after(l.log.Cursor()) }
