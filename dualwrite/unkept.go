package dualwrite

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Async follower copies the replay log could not keep ("unkept").
//
// Under Async the caller is answered once the leader took the write; its follower copy runs later
// and, when it fails, is appended to the replay log. When that append fails too (the log reached
// its limit: ErrReplayLogFull; the disk is full; an I/O error), the copy is an acknowledged write
// the follower lacks that nothing durable remembers.
//
// Invariants:
//  1. Such a copy is never dropped while the session is open: it is held in memory (unkept) until
//     an append of it is durable, and is appended again (rekeep) as the log makes room: from
//     10 ms to 1 s apart, and at once when an append fails for lack of space after part of the
//     replay directory's reserve was freed for it (reserve.go, invariant 3: the same mechanism as
//     an uncertain record's).
//  2. While held it counts against its side's authority exactly as an in-memory uncertain write
//     does: SetPhase, SetPhaseWait (pendingFor) and Open's checks (owedTo) count it, so authority
//     never moves to a side that lacks it. A copy leaves the count only after its append is
//     durable (then it is in the backlog): readers read the count before the backlog, so one
//     being appended is seen in one or the other.
//  3. The memory is bounded: once the session holds asyncQueue copies (WithAsyncQueue's size), new
//     follower copies are kept synchronously while the caller waits, as a queue overflow is: a
//     full log then fails the caller's write with ErrReplayLogFull, as under PrimaryAuthoritative.
//  4. Close (after draining the async queue, whose copies may land here too) gives held copies
//     the follower budget, at least unkeptCloseWait, to be appended while the replayer still
//     runs; each copy still held then is lost for its side: logged at error one by one (side,
//     statement, key hash, timestamp) with what to do, counted (Stats.AsyncLost,
//     islands_dualwrite_async_lost_total). Nothing is lost silently.
//
// Every copy held is counted (Stats.AsyncUnkept, islands_dualwrite_async_unkept_total) and logged
// at error when it is first held; islands_dualwrite_async_unkept_entries is how many are held now.
type unkeptCopies struct {
	mu      sync.Mutex
	entries []*Entry
	running bool            // a rekeep loop runs
	n       [2]atomic.Int64 // held, per side
}

// unkeptCloseWait is the least Close waits for held copies to be appended (invariant 4).
const unkeptCloseWait = time.Second

// holdUnkept holds e, an async follower copy whose append failed with kerr (invariant 1), and
// starts the rekeep loop if none runs. The async workers call it before Close waits for bgWG.
func (s *Session) holdUnkept(e *Entry, ferr, kerr error) {
	sd := entrySide(e)
	u := &s.unkept
	u.mu.Lock()
	u.entries = append(u.entries, e)
	u.n[sd].Add(1)
	start := !u.running
	u.running = true
	u.mu.Unlock()
	s.stats.asyncUnkept.Add(1)
	if s.m != nil {
		s.m.asyncUnkept.Inc()
	}
	s.logger.Error("dualwrite: an acknowledged async follower copy failed and the replay log could not keep it; held in "+
		"memory and appended again when the log has room. It holds the side's authority (SetPhase refuses to make it "+
		"authoritative) until then, and is lost for that side if the process ends first: bring the side back so the "+
		"replayer drains the log, raise the replay log's limit or free disk space",
		"side", sd.String(), "stmt", firstStmt(e), "timestamp", e.Timestamp, "err", ferr, "replay_log_err", kerr)
	if start {
		s.bgWG.Add(1)
		go s.rekeepLoop()
	}
}

// unkeptFor counts the copies held for side sd.
func (s *Session) unkeptFor(sd side) int64 { return s.unkept.n[sd].Load() }

// unkeptHeld counts the copies held for both sides.
func (s *Session) unkeptHeld() int64 { return s.unkept.n[0].Load() + s.unkept.n[1].Load() }

// rekeepLoop appends the held copies until none is left or the session's background context ends
// (Close, once it has given them their time: invariant 4).
func (s *Session) rekeepLoop() {
	defer s.bgWG.Done()
	backoff := 10 * time.Millisecond
	for {
		if s.rekeep() {
			return
		}
		sleep(s.bgCtx, backoff)
		if s.bgCtx.Err() != nil {
			s.unkept.mu.Lock()
			s.unkept.running = false
			s.unkept.mu.Unlock()
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}

// rekeep appends held copies, oldest first, until one fails; true when none is left (the loop
// then ends, under the lock that a new holdUnkept takes to decide whether to start one).
func (s *Session) rekeep() bool {
	u := &s.unkept
	for {
		u.mu.Lock()
		if len(u.entries) == 0 {
			u.running = false
			u.mu.Unlock()
			return true
		}
		e := u.entries[0]
		u.mu.Unlock()
		if err := s.appendMustLand(e); err != nil {
			return false
		}
		u.mu.Lock()
		u.entries = u.entries[1:]
		u.mu.Unlock()
		u.n[entrySide(e)].Add(-1) // after the append is durable (invariant 2)
		s.logger.Warn("dualwrite: an async follower copy held in memory is now kept in the replay log",
			"side", e.Side, "stmt", firstStmt(e), "timestamp", e.Timestamp)
	}
}

// appendMustLand appends e, freeing part of the replay directory's reserve and trying again while
// the append fails for lack of space (reserve.go, invariant 3).
func (s *Session) appendMustLand(e *Entry) error {
	r, _ := s.log.(reserver)
	for {
		err := s.appended(s.log.Append(context.Background(), e))
		if err == nil || !noSpace(err) || r == nil || !r.releaseReserve() {
			return err
		}
	}
}

// waitUnkept gives held copies until the later of the follower budget and unkeptCloseWait to be
// appended, then reports each one still held as lost (invariant 4). Close calls it after the
// async workers have ended and before it cancels the background context.
func (s *Session) waitUnkept() {
	if s.unkeptHeld() == 0 {
		return
	}
	deadline := time.Now().Add(max(s.cfg.budget, unkeptCloseWait))
	for s.unkeptHeld() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// reportUnkeptLost logs and counts the copies still held once the rekeep loop has ended (Close).
func (s *Session) reportUnkeptLost() {
	u := &s.unkept
	u.mu.Lock()
	lost := u.entries
	u.entries = nil
	u.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	var per [2]int
	for _, e := range lost {
		sd := entrySide(e)
		per[sd]++
		u.n[sd].Add(-1)
		s.logger.Error("dualwrite: an acknowledged async follower copy could not be kept in the replay log before the "+
			"session closed: the side lacks this write",
			"side", e.Side, "stmt", firstStmt(e), "key_hash", keyHash(e.Stmts[0].Values), "timestamp", e.Timestamp)
	}
	s.stats.asyncLost.Add(int64(len(lost)))
	if s.m != nil {
		s.m.asyncLost.Add(float64(len(lost)))
	}
	s.logger.Error(fmt.Sprintf("dualwrite: %d acknowledged async follower copies were lost at Close (the replay log was "+
		"full or unwritable): the primary side lacks %d of them and the secondary side %d. Before making a side that "+
		"lacks writes authoritative, copy the tables named above to it again (forklift run, then forklift verify); "+
		"choose PrimaryAuthoritative, or a larger replay log limit, where losing them matters",
		len(lost), per[primarySide], per[secondarySide]), "lost", len(lost))
}
