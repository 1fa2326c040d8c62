package migration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Change moves migration name to phase to: it reads the current state at SERIAL, checks the step
// (CheckStep; force overrides, and is recorded in changed_by), and applies it with the epoch LWT.
// by names who changes it (the operator). It returns the new state; ErrConflict when another
// change won.
func Change(ctx context.Context, st *Store, name, to, by string, force bool) (State, error) {
	// A SERIAL read contends with a concurrent change's Paxos round and may time out; it writes
	// nothing, so it is retried (a few times, with jitter).
	var cur State
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if cur, err = st.Get(ctx, name, serialRead); err == nil || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(100+rand.IntN(200)) * time.Millisecond):
		}
	}
	from, expect := cur.Phase, cur.Epoch
	if errors.Is(err, ErrNotFound) {
		from, expect = "", -1
	} else if err != nil {
		return State{}, err
	}
	if err := CheckStep(from, to, force); err != nil {
		return cur, err
	}
	if force {
		by += " (forced)"
	}
	return st.compareAndSet(ctx, name, expect, from, to, by, time.Now().UTC())
}

// Fleet is what the heartbeats say about a migration at one moment.
type Fleet struct {
	State State `json:"migration"`
	// Live are the instances whose heartbeat is recent (within StaleAfter).
	Live []Heartbeat `json:"live"`
	// Stale are the instances whose heartbeat row has not expired but is older than StaleAfter
	// (paused, overloaded or cut off): they still count as live for Wait and ForkliftGate.
	Stale []Heartbeat `json:"stale"`
	// Partial is set when the heartbeats could only be read from the local datacenter: instances
	// of other regions may be missing or out of date.
	Partial string `json:"partial,omitempty"`
	// HandedOff is the replay backlog instances handed off to the control keyspace (dualwrite's
	// WithHandoff), per side it must land on, not adopted yet; HandoffError says why it could not
	// be read (then it counts as unknown: Wait does not return).
	HandedOff    map[string]int64 `json:"handed_off"`
	HandoffError string           `json:"handoff_error,omitempty"`
}

// All returns the live and stale instances together.
func (f Fleet) All() []Heartbeat { return append(append([]Heartbeat(nil), f.Live...), f.Stale...) }

// DefaultStaleAfter is how old a heartbeat is before Status lists its instance as stale.
const DefaultStaleAfter = 5 * time.Second

// fleetSource is what Status, Wait and ForkliftGate read of the control keyspace: *Store in
// production; the unit tests give a fake that follows its consistency semantics.
type fleetSource interface {
	Get(ctx context.Context, name string, c gocql.Consistency) (State, error)
	Heartbeats(ctx context.Context, name string, c gocql.Consistency) ([]Heartbeat, error)
	// handedOff is the shared store's handed-off backlog per side (internal/handoff).
	handedOff(ctx context.Context, name string) (map[string]int64, error)
	// fleetConsistency is the fleet-wide read of the heartbeats (Store.ReadConsistency).
	fleetConsistency() gocql.Consistency
}

// Status reads the migration and its instances. Heartbeats are read at st.ReadConsistency; when
// that fails and allowPartial is set, at LOCAL_ONE, with Fleet.Partial saying so.
func Status(ctx context.Context, st *Store, name string, staleAfter time.Duration, allowPartial bool) (Fleet, error) {
	return status(ctx, st, name, staleAfter, allowPartial)
}

func status(ctx context.Context, st fleetSource, name string, staleAfter time.Duration, allowPartial bool) (Fleet, error) {
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	s, err := st.Get(ctx, name, gocql.LocalQuorum)
	if err != nil {
		if !allowPartial || errors.Is(err, ErrNotFound) {
			return Fleet{}, err
		}
		if s, err = st.Get(ctx, name, gocql.LocalOne); err != nil {
			return Fleet{}, err
		}
	}
	f := Fleet{State: s}
	hs, err := st.Heartbeats(ctx, name, st.fleetConsistency())
	if err != nil {
		if !allowPartial {
			return f, err
		}
		var perr error
		if hs, perr = st.Heartbeats(ctx, name, gocql.LocalOne); perr != nil {
			return f, err
		}
		f.Partial = fmt.Sprintf("heartbeats read from the local datacenter only (%v)", err)
	}
	if f.HandedOff, err = st.handedOff(ctx, name); err != nil {
		f.HandoffError = err.Error()
	}
	f.split(hs, staleAfter)
	return f, nil
}

// split files hs under Live and Stale.
func (f *Fleet) split(hs []Heartbeat, staleAfter time.Duration) {
	now := time.Now()
	for _, h := range hs {
		if now.Sub(h.Updated) > staleAfter {
			f.Stale = append(f.Stale, h)
		} else {
			f.Live = append(f.Live, h)
		}
	}
}

// judged is the fleet as Wait and ForkliftGate judge it: the heartbeats at the fleet-wide
// consistency (invariant 4, no partial read), the handed-off backlog, and only then the
// migration's row at SERIAL, the consistency its changes commit at. The row is thus the latest
// committed change and at least as new as every epoch a heartbeat got from it: a LOCAL_QUORUM
// read may lag the LWT (committed at QUORUM across the datacenters, missing the local replica) and
// show the epoch before the one waited for — with its phases, so a change of authority would look
// like none and the backlog owed to the new authority would not count (invariant 8).
func judged(ctx context.Context, st fleetSource, name string) (Fleet, error) {
	hs, err := st.Heartbeats(ctx, name, st.fleetConsistency())
	if err != nil {
		return Fleet{}, err
	}
	var f Fleet
	if f.HandedOff, err = st.handedOff(ctx, name); err != nil {
		f.HandoffError = err.Error()
	}
	if f.State, err = st.Get(ctx, name, serialRead); err != nil {
		return Fleet{}, err
	}
	f.split(hs, DefaultStaleAfter)
	return f, nil
}

// owesAuthority is the handed-off backlog the shared store holds for the side the row's phase
// makes authoritative (the side every instance that applied it reads), 1 when it cannot be read.
// It is judged on the target phase alone, never on the change that led to it: the backlog may have
// been handed off after that change (an instance still at an older epoch closed once a `set`
// without --wait, or whose wait timed out, had moved authority), and a change that keeps the
// authority (dual-flipped → secondary-only, a forced re-publish of the same phase) leaves it owed.
func (f Fleet) owesAuthority() int64 {
	if f.HandoffError != "" {
		return 1
	}
	return f.HandedOff[Authority(f.State.Phase)]
}

// Behind returns the instances of f that have not applied epoch (stale ones included): those
// below it, those ahead of it (invariant 7: a heartbeat newer than the row applied none of
// the row's epochs; it refuses them as older than its own and keeps its phase), and, when epoch
// is f.State's, those at epoch in another phase than the row's (otherHistory).
func (f Fleet) Behind(epoch int64) []Heartbeat {
	var out []Heartbeat
	for _, h := range f.All() {
		if h.Epoch < epoch || aheadOfRow(h, epoch) || (epoch == f.State.Epoch && otherHistory(h, f.State)) {
			out = append(out, h)
		}
	}
	return out
}

// aheadOfRow is invariant 7's rule, shared by Wait (Behind) and ForkliftGate: a heartbeat whose
// epoch is newer than the migration's row (rowEpoch, read after the heartbeats) shows an instance
// that applied an epoch the row no longer has: the row went back (a control keyspace restored from
// a backup). Its watcher refuses every epoch older than its own, so it has applied none of the
// row's, whatever its epoch compares as.
func aheadOfRow(h Heartbeat, rowEpoch int64) bool { return h.Epoch > rowEpoch }

// otherHistory is invariant 7's rule for an epoch the row has in another phase: an epoch is the
// pair (number, phase). A heartbeat at the row's epoch (or the one before it, previous_phase) in
// another phase than the row gives it applied that number of another history (the control
// keyspace was restored from a backup and set forward to the instance's epoch): its watcher
// refuses the row's pair and keeps its phase, so it has applied none of the row's epochs either.
func otherHistory(h Heartbeat, s State) bool {
	switch {
	case h.Epoch == s.Epoch:
		return h.Phase != s.Phase
	case h.Epoch == s.Epoch-1 && s.PreviousPhase != "":
		return h.Phase != s.PreviousPhase
	}
	return false
}

// names lists instances as "name (region, epoch E phase P, heartbeat 3s ago)".
func names(hs []Heartbeat) string {
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s, epoch %d %s, heartbeat %s ago", h.Instance, h.Region, h.Epoch, h.Phase,
			time.Since(h.Updated).Truncate(100*time.Millisecond))
		if h.LastError != "" {
			fmt.Fprintf(&b, ", last error: %s", h.LastError)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Wait polls (every poll, default 200ms) until every live instance of the migration has applied
// epoch (invariant 3: acknowledged after its barrier, which also means the new authority had no
// replay backlog when it switched) and the handed-off backlog owes the epoch's authority nothing
// (whatever the phase before it: owesAuthority). Each poll reads the heartbeats, then the row at
// SERIAL (judged, invariant 8): Wait judges by the change it waits for, never by a lagging
// replica's older one. When ctx ends first it returns ErrNotApplied naming the instances that had
// not (or the backlog still owed), or ErrUnavailable when the heartbeats could not be read at
// st.ReadConsistency. It never counts an unreadable region as an empty one (invariant 4), nor an
// unreadable backlog as an empty one.
func Wait(ctx context.Context, st *Store, name string, epoch int64, poll time.Duration) (Fleet, error) {
	return wait(ctx, st, name, epoch, poll)
}

func wait(ctx context.Context, st fleetSource, name string, epoch int64, poll time.Duration) (Fleet, error) {
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	var last Fleet
	var lastErr error
	for {
		f, err := judged(ctx, st, name)
		switch {
		case err == nil && f.State.Epoch > epoch:
			return f, fmt.Errorf("%w: epoch %d was superseded by epoch %d (%s, by %s) while waiting",
				ErrConflict, epoch, f.State.Epoch, f.State.Phase, f.State.ChangedBy)
		case err == nil && f.State.Epoch < epoch:
			// The latest committed change is older than the one waited for: the row went back
			// (a control keyspace restored from a backup). Nothing is judged on it.
			last, lastErr = f, fmt.Errorf("the migration's row (read at SERIAL) shows epoch %d (%s), older than epoch %d: "+
				"the control keyspace went back", f.State.Epoch, f.State.Phase, epoch)
		case err == nil && len(f.Behind(epoch)) == 0 && f.owesAuthority() == 0:
			return f, nil
		case err == nil:
			last, lastErr = f, nil
		case ctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("%w: epoch %d of %q: the fleet could not be judged: %w", ErrNotApplied, epoch, name, lastErr)
			}
			b := last.Behind(epoch)
			if len(b) == 0 {
				return last, fmt.Errorf("%w: epoch %d (%s) of %q: every live instance applied it, but the handed-off backlog still owes the %s side %d writes (%s)",
					ErrNotApplied, epoch, last.State.Phase, name, Authority(last.State.Phase), last.owesAuthority(), orNone(last.HandoffError))
			}
			return last, fmt.Errorf("%w: epoch %d (%s) of %q: %d of %d live instances have not applied it: %s",
				ErrNotApplied, epoch, last.State.Phase, name, len(b), len(last.All()), names(b))
		case <-time.After(poll):
		}
	}
}

// ForkliftGate returns nil when every live instance of the migration (stale ones included)
// provably writes both sides — the condition for forklift to copy — and otherwise
// ErrNotDualWriting naming the ones that may not. Heartbeats are read at st.ReadConsistency only
// (invariant 4), and then the migration's row at SERIAL, so the row is at least as new as every
// epoch a heartbeat shows. An instance is judged by the epoch it applied, not only by its phase
// (see forkliftReady).
func ForkliftGate(ctx context.Context, st *Store, name string) (Fleet, error) {
	f, err := judged(ctx, st, name)
	if err != nil {
		return f, err
	}
	return f, forkliftReady(name, f)
}

// forkliftReady is ForkliftGate's decision on the fleet it read. An instance acknowledges an
// epoch after it switched to it (invariant 3), and reads the current epoch, not each in turn: one
// whose heartbeat shows epoch e may already be switching to any epoch in (e, E], E the current
// one, and write in that epoch's phase until it acknowledges it. So it writes both sides now only
// if its phase and the phase of every epoch in (e, E] do. The row holds the phases of E and E-1
// (previous_phase): an instance more than two epochs behind, or at an epoch the row does not
// know yet, may write one side only (the migration went back to primary-only and forward again
// while its heartbeat still says dual) and blocks the copy until it acknowledges a recent epoch.
func forkliftReady(name string, f Fleet) error {
	e := f.State.Epoch
	if !DualWrites(f.State.Phase) {
		return fmt.Errorf("%w: migration %q is %s (epoch %d): set it to dual first (islands migration set %s dual --wait 2m)",
			ErrNotDualWriting, name, f.State.Phase, e, name)
	}
	floor := e // the oldest epoch an instance may show: every phase after it is known to dual-write
	if DualWrites(f.State.PreviousPhase) {
		floor = e - 2
	}
	var not, behind []Heartbeat
	for _, h := range f.All() {
		switch {
		case !DualWrites(h.Phase):
			not = append(not, h)
		case h.Epoch < floor || aheadOfRow(h, e) || otherHistory(h, f.State):
			behind = append(behind, h)
		}
	}
	if len(not) > 0 {
		return fmt.Errorf("%w: migration %q: %d of %d live instances do not write both sides yet: %s",
			ErrNotDualWriting, name, len(not), len(f.All()), names(not))
	}
	if len(behind) > 0 {
		return fmt.Errorf("%w: migration %q is %s at epoch %d (before it %s): %d of %d live instances last acknowledged an "+
			"epoch whose later phases are not all known to write both sides, so they may be writing one side only: %s "+
			"(wait for them: islands migration status %s)",
			ErrNotDualWriting, name, f.State.Phase, e, orNone(f.State.PreviousPhase), len(behind), len(f.All()), names(behind), name)
	}
	return nil
}
