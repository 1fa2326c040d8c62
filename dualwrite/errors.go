package dualwrite

import "errors"

// Errors callers can test with errors.Is.
var (
	// ErrNonDeterministic: the statement calls a function (now(), uuid() …) whose value would differ
	// between the two sides. Compute the value in the application, or opt in with
	// Query.AllowNonDeterministic / WithAllowNonDeterministic if the difference is acceptable.
	ErrNonDeterministic = errors.New("dualwrite: statement calls a non-deterministic function")
	// ErrFollower: under Strict, the follower side did not accept the write (the authoritative side
	// may hold it).
	ErrFollower = errors.New("dualwrite: follower side failed")
	// ErrReplayLogFull: a follower write could not be kept for replay because the replay log reached
	// its size limit; the caller's write is reported failed rather than silently diverging.
	ErrReplayLogFull = errors.New("dualwrite: replay log full")
	// ErrNoReplayLog: the policy needs a replay log and none was configured.
	ErrNoReplayLog = errors.New("dualwrite: no replay log configured")
	// ErrClosed: the session was closed.
	ErrClosed = errors.New("dualwrite: session closed")
	// ErrFollowerBudget: the follower did not answer within the follower budget; the write was kept
	// in the replay log (it appears wrapped in logs, not returned to callers).
	ErrFollowerBudget = errors.New("dualwrite: follower did not answer within its budget")
	// ErrAuthorityBacklog: SetPhase would make a side authoritative while the replay log still
	// holds writes it may be missing.
	ErrAuthorityBacklog = errors.New("dualwrite: replay log not drained for the side gaining authority")
	// ErrPhaseControlled: SetPhase or SetPhaseWait on a session opened WithMigration: its phase
	// belongs to the migration's control keyspace (`islands migration set`), and a phase set by the
	// application would run writes in a phase the fleet's heartbeats do not show.
	ErrPhaseControlled = errors.New("dualwrite: the phase is set by the migration control plane")
	// ErrNotIdempotent: in a dual phase, a statement whose replay would not be idempotent (list
	// append/prepend, list element set/delete by index, a whole-list write of a non-frozen list) is refused: a follower failure could only
	// be replayed blindly, duplicating or misplacing elements.
	ErrNotIdempotent = errors.New("dualwrite: statement cannot be replayed safely")
	// ErrNotReplayable: in a dual phase, a statement that is not a row mutation (TRUNCATE, USE, a
	// schema change, a grant …) is refused: it carries no timestamp, so a copy kept for a side
	// that missed it would, replayed later, undo or reorder the acknowledged writes that followed
	// it (a TRUNCATE replayed after newer writes erases them). Run it on each side with your own
	// gocql session (a TRUNCATE with the writers stopped and the replay backlog drained). In the
	// single-side phases it goes to that side only and is never kept for replay.
	ErrNotReplayable = errors.New("dualwrite: statement is not a row mutation and cannot be dual-written")
	// ErrMigrationStateFile: Open (WithMigration) refuses the MigrationStateFile: it belongs to
	// another migration, or is in the old format (no migration name) and records an epoch ahead of
	// the migration's. The error names the file and what to do.
	ErrMigrationStateFile = errors.New("dualwrite: the migration state file is not this migration's")
	// ErrNoKeyspace: a side's ClusterConfig names a Keyspace that does not exist on that cluster
	// (gocql itself only says "no connections were made when creating the session").
	ErrNoKeyspace = errors.New("dualwrite: keyspace does not exist")
	// ErrUnknownPhase and ErrUnknownPolicy: a name in config that is not one of ours.
	ErrUnknownPhase  = errors.New("dualwrite: unknown phase")
	ErrUnknownPolicy = errors.New("dualwrite: unknown policy")
	// ErrUnencodable: a value of this write cannot be stored in the replay log, which keeps each
	// bound value with its Go type so it marshals to the same bytes on replay: a value that only
	// the application's own gocql.Marshaler or UDTMarshaler can marshal, or a struct with
	// unexported fields (bind its CQL form instead: the error names the type). The write is
	// reported failed instead of being lost on the follower: under Async (which answers before
	// the follower) before either side is sent it; under PrimaryAuthoritative when the follower
	// failed and the entry had to be kept.
	ErrUnencodable = errors.New("dualwrite: value cannot be stored in the replay log")
)
