package forklift

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrConfig: the configuration is malformed or incomplete; the message names the key.
	ErrConfig = errors.New("forklift: invalid configuration")
	// ErrTableNotFound: a configured keyspace or table does not exist on one side.
	ErrTableNotFound = errors.New("forklift: table not found")
	// ErrIncompatibleSchema: the two sides' tables differ in a way a copy cannot bridge.
	ErrIncompatibleSchema = errors.New("forklift: incompatible schema")
	// ErrAccess: a cluster refused the credentials, the TLS setup, or a permission; the error
	// also matches the cqlconn cause (cqlconn.ErrBadCredentials, cqlconn.ErrPermission…).
	ErrAccess = errors.New("forklift: access refused")
	// ErrUnreachable: a cluster could not be connected to.
	ErrUnreachable = errors.New("forklift: cluster unreachable")
	// ErrDifferences: verify found real differences (missing or mismatched cells).
	ErrDifferences = errors.New("forklift: source and destination differ")
	// ErrRangesChanged: --resume with a range split that does not match the checkpoints.
	ErrRangesChanged = errors.New("forklift: token ranges differ from the checkpoints")
	// ErrInterrupted: the run was stopped (context cancelled) before it finished; checkpoints hold.
	ErrInterrupted = errors.New("forklift: interrupted")
	// ErrUnknownResolver: a table names a resolver merge does not know.
	ErrUnknownResolver = errors.New("forklift: unknown resolver")
)
