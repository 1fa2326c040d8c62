package dualwrite

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/globalcloud/islands/internal/private"
)

// The replay directory's reserve: space held back for the records that must be written whatever
// the free space at that moment — a withdrawal (the leader refused a write whose entry was kept
// for the follower ahead of its answer: hold.go) and an uncertain record (a counter update or a
// conditional write whose outcome on a side is unknown: write.go).
//
// Invariants:
//  1. A writable FileLog keeps DIR/reserve: a file of zeros actually written (not sparse) and
//     fsynced, of reserveTarget bytes (maxReserve, at most 1/16 of the file system, whole pages,
//     at least one page); nothing ever reads it.
//  2. A withdrawal's space is promised before the entry it may withdraw is appended: the session
//     keeps an entry ahead of the leader's answer only with a promise in hand (promise; returned
//     once the withdrawal is recorded or not needed), and the promises never exceed half the
//     reserve (withdrawalCost each: a record is about 50 bytes), the other half covering the new
//     segment files the records may need. Without a promise the write takes the path that keeps
//     the entry after the leader has answered, which never needs a withdrawal.
//  3. A withdrawal or an uncertain record whose append fails for lack of space (ENOSPC, EDQUOT)
//     frees part of the reserve (release: half of it, at least a page; truncated and fsynced, since
//     ext4 reuses freed blocks only once their release is committed) and is tried again, until
//     the reserve is spent. refill writes the reserve back up, at most once per reserveRefill,
//     from the replayer's progress (Done), which frees consumed segments.
//  4. Space freed is the file system's: another writer (this log's own appends for a follower,
//     another process) may take it first. So a withdrawal still failing once the reserve is spent
//     is retried until it is durable while the session is open (the caller waits for it as long as
//     its context allows, and is told when it stopped waiting before, or the session closed
//     first: hold.go); an uncertain record still failing is kept in memory and the caller is told
//     the write failed (write.go). Either way no caller is answered as if the record were durable.
//
// On a copy-on-write file system (btrfs, ZFS) freeing blocks may itself need space: the reserve
// then helps less, and invariant 4 is what holds.
type fileReserve struct {
	mu       sync.Mutex
	f        *os.File // nil: none (read-only log, or it could not be created)
	size     int64    // bytes written and fsynced
	target   int64
	lastFill time.Time

	promised atomic.Int64 // bytes promised to withdrawals
	budget   atomic.Int64 // what may be promised: half of size
}

const (
	reserveName    = "reserve"
	maxReserve     = 256 << 10
	reservePage    = 4096
	withdrawalCost = 64
	reserveRefill  = time.Second
)

// openReserve creates or opens dir's reserve and fills it up to its target (invariant 1). A
// reserve that cannot be made whole (the disk is already full) is kept as large as it could be
// made; one that cannot be opened at all is reported through err, and the log runs without.
func openReserve(dir string) (*fileReserve, error) {
	r := &fileReserve{target: reservePage}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil {
		total := int64(st.Blocks) * int64(st.Bsize)
		r.target = max(reservePage, min(maxReserve, total/16)/reservePage*reservePage)
	}
	f, err := private.OpenFile(filepath.Join(dir, reserveName), os.O_RDWR)
	if err != nil {
		return r, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return r, err
	}
	r.f, r.size = f, fi.Size()
	if r.size > r.target { // a larger file system's target, or a crash in a refill
		if err := r.truncate(r.target); err != nil {
			return r, err
		}
	}
	r.budget.Store(r.size / 2)
	return r, r.fill()
}

// fill writes the reserve up to its target, keeping what could be written. mu held or exclusive.
func (r *fileReserve) fill() error {
	if r.f == nil || r.size >= r.target {
		return nil
	}
	zeros := make([]byte, reservePage)
	n := r.size
	var err error
	for n < r.target && err == nil {
		var w int
		w, err = r.f.WriteAt(zeros[:min(int64(len(zeros)), r.target-n)], n)
		n += int64(w)
	}
	if err == nil {
		err = r.f.Sync()
	}
	if err != nil {
		// What this call wrote is cut off: the reserve is what was durable before it.
		n = r.size
		if terr := r.f.Truncate(n); terr == nil {
			_ = r.f.Sync()
		}
	}
	r.size = n
	r.budget.Store(n / 2)
	return err
}

// truncate makes the reserve n bytes long, durably (invariant 3). mu held or exclusive.
func (r *fileReserve) truncate(n int64) error {
	if err := r.f.Truncate(n); err != nil {
		return err
	}
	err := r.f.Sync()
	r.size = n
	r.budget.Store(n / 2)
	return err
}

// promise reserves a withdrawal's space (invariant 2); false when none is left to promise.
func (r *fileReserve) promise() bool {
	if r == nil {
		return false
	}
	if r.promised.Add(withdrawalCost) > r.budget.Load() {
		r.promised.Add(-withdrawalCost)
		return false
	}
	return true
}

// unpromise returns a promise.
func (r *fileReserve) unpromise() {
	if r != nil {
		r.promised.Add(-withdrawalCost)
	}
}

// release frees part of the reserve for a record that failed for lack of space (invariant 3):
// false when nothing is left to free.
func (r *fileReserve) release() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil || r.size == 0 {
		return false
	}
	if err := r.truncate(r.size / 2 / reservePage * reservePage); err != nil {
		return false
	}
	r.lastFill = time.Now() // no refill right away: the space is for the record being retried
	return true
}

// refill writes the reserve back up to its target when it was spent, at most once per
// reserveRefill.
func (r *fileReserve) refill() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil || r.size >= r.target || time.Since(r.lastFill) < reserveRefill {
		return
	}
	r.lastFill = time.Now()
	_ = r.fill()
}

func (r *fileReserve) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// noSpace reports whether err says the file system (or the user's quota) is full.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// reserver is a ReplayLog with a reserve of space (FileLog: DIR/reserve).
type reserver interface {
	promiseWithdrawal() bool
	unpromiseWithdrawal()
	releaseReserve() bool
}

func (l *FileLog) promiseWithdrawal() bool { return l.res.promise() }
func (l *FileLog) unpromiseWithdrawal()    { l.res.unpromise() }
func (l *FileLog) releaseReserve() bool    { return l.res.release() }
