package dualwrite

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// collection operations whose replay is not idempotent on a list column: an append or a prepend
// creates a new element each time it is applied (a replay after a timeout that did apply
// duplicates it), and an element set or deleted by index hits another element once the list has
// changed. On a set or a map the same syntax is idempotent, so the column's type decides.
type colOpKind int

const (
	opAppend colOpKind = iota
	opPrepend
	opIndexSet
	opIndexDelete
)

var colOpNames = [...]string{"list append (l = l + ? or l += ?)", "list prepend (l = ? + l)", "list element set by index (l[i] = ?)", "list element delete by index (DELETE l[i])"}

// colOp is one such operation of a statement, on column (as written, unquoted).
type colOp struct {
	keyspace, table string // of the statement it is in (a textual batch's statements each name theirs)
	column          string
	kind            colOpKind
	list            bool // the operand is a list literal: a list whatever the schema says
}

// columnKind is what the schema says about a column, as far as replay is concerned.
type columnKind int

const (
	kindOther columnKind = iota
	kindList
	kindCounter
)

// resolveCounter decides whether op is a counter update (never stamped, never replayed: a failed
// side is uncertain). An increment c = c ± x is a counter update when x is an integer (nothing else
// can add one) or, when the value does not tell (a string, a big.Int, a pointer to either), when
// the leader's schema says c is a counter column; the batch type alone never decides against it.
// In the dual phases a schema that cannot be read refuses the write: replaying a counter update
// would count it twice.
func (s *Session) resolveCounter(op *writeOp, phase Phase) error {
	if op.counter || op.lwt {
		return nil
	}
	for _, st := range op.stmts {
		ps := s.statement(st.Stmt)
		for _, in := range ps.incr {
			switch in.counterByValue(st.Values) {
			case 1:
				op.counter = true
				return nil
			case 0:
				continue
			}
			if !phase.follows() {
				continue // one side: counter-ness only decides the timestamp; no schema lookup per write
			}
			kind, err := s.columnKind(op.ctx, phase.leader(), in.keyspace, in.table, in.column)
			if err != nil {
				return fmt.Errorf("%w: %s: reading the type of column %s to know whether it is a counter (never replayed): %w",
					ErrNotIdempotent, errStmt(st.Stmt), in.column, err)
			}
			if kind == kindCounter {
				op.counter = true
				return nil
			}
		}
	}
	return nil
}

// checkReplayable refuses, in the dual phases, a write that could only be replayed blindly: a
// list append, prepend or index operation. The column's type is read once from the leader's
// schema (system_schema.columns) and cached.
func (s *Session) checkReplayable(op *writeOp, phase Phase) error {
	if !phase.follows() {
		return nil
	}
	for _, st := range op.stmts {
		for _, c := range s.statement(st.Stmt).colOps {
			if c.kind == opAppend && !c.list && op.counter {
				continue // c = c + n on a counter (resolveCounter): handled as uncertain, not a list
			}
			list := c.list
			if !list {
				kind, err := s.columnKind(op.ctx, phase.leader(), c.keyspace, c.table, c.column)
				if err != nil {
					return fmt.Errorf("%w: %s: reading the type of column %s to know whether %s can be replayed: %w",
						ErrNotIdempotent, errStmt(st.Stmt), c.column, colOpNames[c.kind], err)
				}
				list = kind == kindList
			}
			if list {
				if s.m != nil {
					s.m.refused.WithLabelValues(reasonNotIdempotent).Inc()
				}
				return fmt.Errorf("%w: %s is a %s on list column %s, which duplicates or misplaces elements when "+
					"replayed after a failure in the %s phase; write the whole list (SET %s = ?) or use a set or a map "+
					"(idempotent), or run it in primary-only/secondary-only", ErrNotIdempotent, errStmt(st.Stmt), colOpNames[c.kind], c.column, phase, c.column)
			}
		}
	}
	return nil
}

type schemaKey struct {
	sd                      side
	keyspace, table, column string
}

// columnKind returns the kind of column of table ks.table (ks "": not named in the statement) on
// side sd, from the cache or the schema. The table is the one of the statement the column is
// written in: in a textual batch, each statement's own.
func (s *Session) columnKind(ctx context.Context, sd side, ks, table, column string) (columnKind, error) {
	if ks != "" && sd == secondarySide {
		if to, ok := s.cfg.keyspaces[ks]; ok {
			ks = to
		}
	}
	key := schemaKey{sd, ks, table, column}
	if v, ok := s.kinds.Load(key); ok {
		return v.(columnKind), nil
	}
	lookup := s.cfg.columnKinds
	if lookup == nil {
		lookup = func(ctx context.Context, ks, table, column string) (columnKind, error) {
			return s.schemaKind(ctx, sd, ks, table, column)
		}
	}
	kind, err := lookup(ctx, ks, table, column)
	if err != nil {
		return kindOther, err
	}
	s.kinds.Store(key, kind)
	return kind, nil
}

// schemaKind reads a column's type from system_schema.columns on side sd. A table named without
// its keyspace is looked up in every keyspace: a list in any of them counts (conservative).
func (s *Session) schemaKind(ctx context.Context, sd side, ks, table, column string) (columnKind, error) {
	g := s.sides[sd].acquire()
	defer g.release()
	if g.sess == nil {
		return kindOther, errNoSession
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := g.sess.Query(`SELECT type FROM system_schema.columns WHERE table_name = ? AND column_name = ? ALLOW FILTERING`, table, column)
	if ks != "" {
		q = g.sess.Query(`SELECT type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?`, ks, table, column)
	}
	it := q.WithContext(ctx).Iter()
	kind := kindOther
	var typ string
	for it.Scan(&typ) {
		switch t := strings.ToLower(typ); {
		case strings.HasPrefix(t, "list<"):
			kind = kindList
		case t == "counter" && kind != kindList:
			kind = kindCounter
		}
	}
	return kind, it.Close()
}
