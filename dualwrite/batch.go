package dualwrite

import (
	"context"
	"errors"

	"github.com/gocql/gocql"
)

// Batch groups writes that go to both sides as one batch each, with one client timestamp, shaped
// like *gocql.Batch. Build it with Session.NewBatch and run it with Session.ExecuteBatch.
type Batch struct {
	typ     gocql.BatchType
	stmts   []Stmt
	ctx     context.Context
	cons    *gocql.Consistency
	serial  *gocql.SerialConsistency
	ts      int64
	allowND bool
}

// NewBatch returns an empty batch of typ (gocql.LoggedBatch, UnloggedBatch or CounterBatch).
func (s *Session) NewBatch(typ gocql.BatchType) *Batch {
	return &Batch{typ: typ, ctx: context.Background()}
}

// Query adds a statement to the batch.
func (b *Batch) Query(stmt string, values ...any) {
	b.stmts = append(b.stmts, Stmt{Stmt: stmt, Values: values})
}

// WithContext sets the batch's context.
func (b *Batch) WithContext(ctx context.Context) *Batch { b.ctx = ctx; return b }

// SetConsistency sets the consistency on both sides.
func (b *Batch) SetConsistency(c gocql.Consistency) { b.cons = &c }

// SerialConsistency sets the serial consistency of a conditional batch.
func (b *Batch) SerialConsistency(c gocql.SerialConsistency) *Batch { b.serial = &c; return b }

// WithTimestamp sets the batch's client timestamp (µs) instead of the session's clock.
func (b *Batch) WithTimestamp(ts int64) *Batch { b.ts = ts; return b }

// AllowNonDeterministic lets the batch's statements call now(), uuid() and the like.
func (b *Batch) AllowNonDeterministic() *Batch { b.allowND = true; return b }

// Size returns the number of statements in the batch.
func (b *Batch) Size() int { return len(b.stmts) }

// ExecuteBatch runs b on the sides of the current phase, as gocql's Session.ExecuteBatch does.
func (s *Session) ExecuteBatch(b *Batch) error {
	if len(b.stmts) == 0 {
		return errEmptyBatch
	}
	_, err := s.write(s.batchOp(b, nil))
	return err
}

// MapExecuteBatchCAS runs a conditional batch: the authoritative side decides.
func (s *Session) MapExecuteBatchCAS(b *Batch, dest map[string]any) (applied bool, err error) {
	if len(b.stmts) == 0 {
		return false, errEmptyBatch
	}
	return s.write(s.batchOp(b, dest))
}

func (s *Session) batchOp(b *Batch, dest map[string]any) *writeOp {
	op := &writeOp{ctx: b.ctx, stmts: b.stmts, batch: true, batchType: b.typ, cons: b.cons, serial: b.serial,
		idempotent: true, ts: b.ts, counter: b.typ == gocql.CounterBatch, allowND: b.allowND, casDest: dest}
	for _, st := range b.stmts {
		if s.statement(st.Stmt).lwt {
			op.lwt = true
		}
	}
	return op
}

var errEmptyBatch = errors.New("dualwrite: empty batch: add statements with Batch.Query")
