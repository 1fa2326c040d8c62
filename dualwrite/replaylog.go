package dualwrite

import (
	"context"
	"time"

	"github.com/globalcloud/islands/internal/recordlog"
	"github.com/gocql/gocql"
)

// Entry is one follower write kept for replay: everything needed to apply it again exactly as it
// was first sent, with its original client timestamp.
type Entry struct {
	Side        string // "primary" or "secondary": the side it must land on
	Timestamp   int64  // client timestamp (µs) of the original write
	Batch       bool   // Stmts form one batch of BatchType
	BatchType   gocql.BatchType
	Consistency gocql.Consistency // the caller's; the zero value (ANY) means unset: replay uses LOCAL_QUORUM
	Stmts       []Stmt
	Logged      time.Time // when it was appended, for the backlog's age
	// Unacked: the write's caller was told it failed (its leader failed): the entry replays all
	// the same, so that both sides converge, but a side lacking it breaks no promise, so it does
	// not hold the primary's authority when a session opens in a primary-led phase.
	Unacked bool

	at Pos // where Pending found it (zero: unknown), so a withdrawal in memory names it alone (hold.go)
}

// Stmt is one statement of an Entry, already mapped to the side's keyspace.
type Stmt struct {
	Stmt   string
	Values []any
	// Expiry is the absolute expiry (µs since the epoch) of a USING TTL statement, filled in when
	// the entry is appended (the entry's Timestamp + the TTL); replay sends the TTL remaining then.
	// 0: no TTL.
	Expiry int64

	// enc is Values as the entry codec writes them (their count, then each), when the write
	// encoded them before it was sent (Async: encodeValues); nil: encodeEntry encodes Values.
	// Values are detached from the caller and never changed once enc is set.
	enc []byte
}

// Record is an Entry read back from a ReplayLog with its position, for Done.
//
// A record Pending has already set aside itself (an entry it cannot decode, moved to its
// dead-letter log) is still handed out, with SetAside true and an empty Entry: the replayer does
// not apply it, but its position must be passed by Done like any other, or the cursor would stop
// before it and the backlog never reach 0.
type Record struct {
	Entry    Entry
	Pos      Pos
	SetAside bool
}

// Pos is a position in a ReplayLog; Done(pos) marks everything up to and including pos replayed.
// Seq is the entry's ordinal in the log value that handed it out (bookkeeping of Done).
//
// It is an alias of the record log's position (internal/recordlog), not a copy: a FileLog hands
// out and takes back recordlog's positions as they are, so the two can never drift apart or need
// converting; a ReplayLog of one's own (MemLog) fills the same three fields as it likes.
type Pos = recordlog.Pos

// ReplayLog keeps follower writes that did not land until they do. Append must be durable when it
// returns nil: that is what lets the caller's write be acknowledged. Pending returns entries after
// the last Done in append order; entries may be handed out again after a crash (at-least-once),
// which is harmless because each carries its original timestamp.
type ReplayLog interface {
	Append(ctx context.Context, e *Entry) error
	Pending(max int) ([]Record, error)
	Done(pos Pos) error
	// Backlog returns the number of entries not yet Done and when the oldest was appended.
	Backlog() (entries int64, oldest time.Time)
	Close() error
}

// DeadLetterLog is a ReplayLog that can set aside an entry that can never land as it is (the side
// refuses it), so that the entries behind it drain. The replayer calls DeadLetter before Done
// passes the entry. FileLog (DIR/deadletter) and MemLog are DeadLetterLogs.
type DeadLetterLog interface {
	DeadLetter(ctx context.Context, rec Record, cause error) error
}

// DeadLetterCounter is a DeadLetterLog that can say how many entries it holds for a side.
// SetPhase counts them as that side's backlog: a side does not become authoritative while writes
// acknowledged for it wait in the dead-letter log (an operator retries or drops them first).
// FileLog and MemLog are DeadLetterCounters; a DeadLetterLog that is not one is not counted.
type DeadLetterCounter interface {
	DeadLettersFor(side string) (int64, error)
}

// UncertainLog is a ReplayLog that durably keeps writes whose outcome on a side is unknown and that
// must never be replayed blindly (a counter update, a non-idempotent statement that timed out):
// e as the side should have received it (Side, Timestamp, Stmts mapped to its keyspace) and the
// error seen. FileLog (DIR/uncertain) and MemLog are UncertainLogs.
type UncertainLog interface {
	RecordUncertain(ctx context.Context, e *Entry, cause error) error
}

// withdrawer is a ReplayLog that can withdraw an entry for good (FileLog durably, MemLog in
// memory): appendAt is Append returning the entry's position, and withdraw records that the entry
// at pos must never be applied, saying whether Pending had already handed it out (withdrawn.go).
// With a ReplayLog that is not one, a withdrawal lives in the session's memory only (hold.go).
type withdrawer interface {
	appendAt(ctx context.Context, e *Entry) (Pos, error)
	withdraw(ctx context.Context, pos Pos, e *Entry) (handedOut bool, err error)
}
