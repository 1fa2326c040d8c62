package dualwrite

import (
	"context"
	"strconv"

	"github.com/gocql/gocql"
)

// Query is a statement with its values, shaped like *gocql.Query: configure it with the same
// chained methods, then Exec a write or Iter/Scan/MapScan a read. Writes go to the sides of the
// session's phase with one client timestamp; reads go to the phase's read side.
type Query struct {
	s          *Session
	stmt       string
	values     []any
	ctx        context.Context
	cons       *gocql.Consistency
	serial     *gocql.SerialConsistency
	idempotent bool
	pageSize   int
	pageState  []byte
	ts         int64
	allowND    bool
}

// Query returns a query of stmt with values, as gocql.Session.Query does.
func (s *Session) Query(stmt string, values ...any) *Query {
	return &Query{s: s, stmt: stmt, values: values, ctx: context.Background()}
}

// WithContext sets the context of the request on both sides.
func (q *Query) WithContext(ctx context.Context) *Query { q.ctx = ctx; return q }

// Consistency sets the consistency level used on both sides.
func (q *Query) Consistency(c gocql.Consistency) *Query { q.cons = &c; return q }

// SerialConsistency sets the serial consistency of a conditional write.
func (q *Query) SerialConsistency(c gocql.SerialConsistency) *Query { q.serial = &c; return q }

// Idempotent marks the query idempotent for gocql's retry policies (plain writes with a client
// timestamp always are).
func (q *Query) Idempotent(v bool) *Query { q.idempotent = v; return q }

// PageSize sets the page size of a read.
func (q *Query) PageSize(n int) *Query { q.pageSize = n; return q }

// PageState resumes a read from a page state returned by Iter.PageState.
func (q *Query) PageState(state []byte) *Query { q.pageState = state; return q }

// WithTimestamp sets the client timestamp (µs) instead of the session's clock; both sides get it.
func (q *Query) WithTimestamp(ts int64) *Query { q.ts = ts; return q }

// AllowNonDeterministic lets this statement call now(), uuid() and the like, accepting that the
// two sides store different values.
func (q *Query) AllowNonDeterministic() *Query { q.allowND = true; return q }

// Bind replaces the query's values.
func (q *Query) Bind(values ...any) *Query { q.values = values; return q }

// String returns the statement and its values, for logs.
func (q *Query) String() string { return "[dualwrite query " + strconv.Quote(q.stmt) + "]" }

func (q *Query) op() *writeOp {
	st := q.s.statement(q.stmt)
	op := &writeOp{ctx: q.ctx, cons: q.cons, serial: q.serial,
		idempotent: q.idempotent, ts: q.ts, lwt: st.lwt, allowND: q.allowND}
	op.one[0] = Stmt{Stmt: q.stmt, Values: q.values}
	op.stmts = op.one[:]
	return op
}

// Exec runs a write on the sides of the current phase (a read runs on the read side).
func (q *Query) Exec() error {
	if q.s.statement(q.stmt).read {
		return q.Iter().Close()
	}
	_, err := q.s.write(q.op())
	return err
}

// MapScanCAS runs a conditional write: the authoritative side decides, and when it did not
// apply, dest receives its current values, as gocql's MapScanCAS does. The follower runs the same
// statement; a different outcome is counted and logged, never replayed.
func (q *Query) MapScanCAS(dest map[string]any) (applied bool, err error) {
	op := q.op()
	op.casDest = dest
	return q.s.write(op)
}

// Iter runs a read on the read side of the current phase (and, sampled, the shadow comparison).
// Run writes with Exec; Iter on a write runs it as Exec does and returns an Iter that only
// reports its error.
func (q *Query) Iter() *Iter {
	if !q.s.statement(q.stmt).read {
		return &Iter{err: q.Exec()}
	}
	phase := q.s.Phase()
	sd := phase.leader()
	if phase == PrimaryOnly {
		sd = primarySide
	}
	gq := q.s.sides[sd].session().Query(q.s.forSide(sd, q.stmt), q.values...).WithContext(q.ctx)
	if q.cons != nil {
		gq = gq.Consistency(*q.cons)
	}
	if q.pageSize > 0 {
		gq = gq.PageSize(q.pageSize)
	}
	if q.pageState != nil {
		gq = gq.PageState(q.pageState)
	}
	q.s.maybeShadow(q, phase)
	return &Iter{it: gq.Iter()}
}

// Scan reads the first row into dest, as gocql's Query.Scan does.
func (q *Query) Scan(dest ...any) error {
	it := q.Iter()
	if it.err != nil {
		return it.err
	}
	if !it.Scan(dest...) {
		if err := it.Close(); err != nil {
			return err
		}
		return gocql.ErrNotFound
	}
	return it.Close()
}

// MapScan reads the first row into m, as gocql's Query.MapScan does.
func (q *Query) MapScan(m map[string]any) error {
	it := q.Iter()
	if it.err != nil {
		return it.err
	}
	if !it.MapScan(m) {
		if err := it.Close(); err != nil {
			return err
		}
		return gocql.ErrNotFound
	}
	return it.Close()
}
