package dualwrite

import (
	"errors"
	"fmt"
)

// What an instance owes: the one notion that Close's leaving of the fleet and the authority checks
// (SetPhase's pendingFor, Open's openAuthority) share.
//
// Invariants:
//   - An instance owes a side every write it acknowledged (or whose outcome is unknown) that the
//     side may lack and that only this instance holds: its replay backlog for the side, its dead
//     letters for it and its uncertain writes for it, on disk or kept in memory when no store
//     could keep them. owedTo(sd) is that count, and owedHere sums it over both sides: a write
//     counted by the authority check that holds the flip back is counted at Close too.
//   - Close deletes the instance's heartbeat (leaves the fleet) only when it owes nothing, or when
//     the hand-off confirmed that everything it owed is in the shared store (closeHandoff returned
//     nil; then what is still counted here is a second copy of a stored write, whose local removal
//     failed). Otherwise the row is written a last time and left to expire (watcher.leave): a
//     `set --wait` sees the instance behind the epoch, or its owed writes in the store, never
//     neither.
//   - A hand-off that could not store something owed (the replay backlog, a dead letter, an
//     uncertain write, or an uncertain write kept in memory only, which it cannot store at all)
//     returns an error: it never reports success over a write left on this instance only.

// owedHere returns what this instance owes each side (indexed by side), as the authority checks
// count it (owedTo): replay backlog, dead letters and uncertain writes. A store that cannot be
// read counts as one. Without a replay log (Strict) only the uncertain writes kept in memory
// remain.
func (s *Session) owedHere() [2]int64 {
	return [2]int64{primarySide: s.owedTo(primarySide), secondarySide: s.owedTo(secondarySide)}
}

// errOwedInMemory: uncertain writes kept in this process's memory only (their store could not
// keep them): no hand-off can store them, so a hand-off that leaves them reports this.
var errOwedInMemory = errors.New("uncertain writes kept in this process's memory only cannot be handed off")

// unstorable returns errOwedInMemory, with the counts, when the session holds uncertain writes in
// memory only (Session.Uncertain lists them), nil otherwise.
func (s *Session) unstorable() error {
	p, q := s.uncertainInMemoryFor(primarySide), s.uncertainInMemoryFor(secondarySide)
	if p+q == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d for the primary, %d for the secondary", errOwedInMemory, p, q)
}
