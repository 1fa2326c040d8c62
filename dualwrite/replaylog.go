package dualwrite

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math/big"
	"time"

	"github.com/gocql/gocql"
)

// Entry is one follower write kept for replay: everything needed to apply it again exactly as it
// was first sent, with its original client timestamp.
type Entry struct {
	Side        string // "primary" or "secondary": the side it must land on
	Timestamp   int64  // client timestamp (µs) of the original write
	Batch       bool   // Stmts form one batch of BatchType
	BatchType   gocql.BatchType
	Consistency gocql.Consistency
	Stmts       []Stmt
	Logged      time.Time // when it was appended, for the backlog's age
}

// Stmt is one statement of an Entry, already mapped to the side's keyspace.
type Stmt struct {
	Stmt   string
	Values []any
}

// Record is an Entry read back from a ReplayLog with its position, for Done.
type Record struct {
	Entry Entry
	Pos   Pos
}

// Pos is a position in a ReplayLog; Done(pos) marks everything up to and including pos replayed.
type Pos struct {
	Segment uint64
	Offset  int64
}

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

func init() {
	// Value types applications commonly bind, so they can travel inside Entry.Values. An
	// application binding another type registers it with gob.Register; until then such a write
	// fails with ErrUnencodable instead of being lost.
	for _, v := range []any{
		time.Time{}, gocql.UUID{}, &big.Int{}, time.Duration(0),
		map[string]string{}, map[string]int{}, map[string]int64{}, map[string]bool{}, map[string]float64{},
		map[int]string{}, map[gocql.UUID]string{}, []gocql.UUID{}, []time.Time{}, map[string][]byte{},
	} {
		gob.Register(v)
	}
}

func encodeEntry(e *Entry) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnencodable, err)
	}
	return buf.Bytes(), nil
}

func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	err := gob.NewDecoder(bytes.NewReader(b)).Decode(&e)
	return e, err
}
