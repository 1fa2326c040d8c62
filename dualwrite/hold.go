package dualwrite

import (
	"errors"
	"sync"
)

// Holds on entries kept ahead of the leader's answer.
//
// Invariant: an entry appended for the follower before the leader has answered (keepAhead: the
// follower-down path and the ¾-budget early append) is held from before its append until the
// leader answers. While held, the replayer does not apply it (errHeld: a transient failure, tried
// again after its backoff). When the leader accepted the write, or failed it without refusing
// (it may have applied), the hold is released and the entry replays as usual. When the leader
// refused the write outright, the caller is told the write failed and the authoritative side never
// has it: the entry is voided, and the replayer passes it without applying it ("withdrawn: leader
// refused"). A write the caller was told failed never reaches the follower through the log.
//
// Holds live in memory: after a crash between the append and the leader's answer the entry
// replays (the leader's outcome is unknown then, and replaying is the convergent choice). Entries
// are identified by side and timestamp; two writes given the same client timestamp by the caller
// share a hold (a void then withdraws one entry of that side and timestamp).
type holds struct {
	mu sync.Mutex
	m  map[holdKey]*holdState
}

type holdKey struct {
	side side
	ts   int64
}

type holdState struct {
	held int // writes whose leader has not answered yet
	void int // entries to withdraw (their leader refused)
}

// errHeld is the replay failure of an entry whose write's leader has not answered yet.
var errHeld = errors.New("dualwrite: replay entry held until the leader answers its write")

// hold marks the entry of side sd with timestamp ts as waiting for its leader.
func (h *holds) hold(sd side, ts int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[holdKey]*holdState)
	}
	k := holdKey{sd, ts}
	st := h.m[k]
	if st == nil {
		st = &holdState{}
		h.m[k] = st
	}
	st.held++
}

// release ends a hold: the entry replays (void false) or is withdrawn (void true).
func (h *holds) release(sd side, ts int64, void bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := holdKey{sd, ts}
	st := h.m[k]
	if st == nil {
		return
	}
	st.held--
	if void {
		st.void++
	}
	if st.held == 0 && st.void == 0 {
		delete(h.m, k)
	}
}

// check says what the replayer does with an entry of side sd and timestamp ts: errHeld (wait),
// withdrawn true (pass it without applying; consumes one void), or neither (apply it).
func (h *holds) check(sd side, ts int64) (withdrawn bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := holdKey{sd, ts}
	st := h.m[k]
	switch {
	case st == nil:
		return false, nil
	case st.void > 0:
		st.void--
		if st.held == 0 && st.void == 0 {
			delete(h.m, k)
		}
		return true, nil
	case st.held > 0:
		return false, errHeld
	}
	return false, nil
}
