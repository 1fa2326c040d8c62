package migration

import "errors"

// Errors callers can test with errors.Is.
var (
	// ErrUnknownPhase: a phase name that is not one of Phases.
	ErrUnknownPhase = errors.New("migration: unknown phase")
	// ErrSkippedStep: the change skips a phase (or starts a new migration elsewhere than
	// primary-only) and was not forced.
	ErrSkippedStep = errors.New("migration: phase change skips a step")
	// ErrSamePhase: the migration is already in that phase (force publishes a new epoch anyway).
	ErrSamePhase = errors.New("migration: already in that phase")
	// ErrConflict: another change won the lightweight transaction; the error names the state it set.
	ErrConflict = errors.New("migration: changed concurrently")
	// ErrNotFound: no migration of that name in the control keyspace.
	ErrNotFound = errors.New("migration: not found")
	// ErrNotApplied: Wait ended before every live instance had applied the epoch; the error names
	// the instances that had not.
	ErrNotApplied = errors.New("migration: not applied by every live instance")
	// ErrNotDualWriting: ForkliftGate found live instances that do not write both sides yet; the
	// error names them.
	ErrNotDualWriting = errors.New("migration: not every live instance dual-writes")
	// ErrUnavailable: the control keyspace could not be read or written at the consistency needed.
	ErrUnavailable = errors.New("migration: control keyspace unavailable")
)
