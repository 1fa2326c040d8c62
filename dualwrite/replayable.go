package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// collection operations whose replay is not idempotent on a list column: an append or a prepend
// creates a new element each time it is applied (a replay after a timeout that did apply
// duplicates it), an element set or deleted by index hits another element once the list has
// changed, and a whole-list set (l = [...], or INSERT of the column) of a non-frozen list is
// Cassandra's "delete at timestamp-1, then append" (Lists.Setter): each element gets a fresh
// time-UUID cell path per application, so a second application with the same timestamp adds
// every element again. On a set, a map or a frozen<list> (one cell) the same syntax is
// idempotent, so the column's type decides.
type colOpKind int

const (
	opAppend colOpKind = iota
	opPrepend
	opIndexSet
	opIndexDelete
	opSetWhole
)

var colOpNames = [...]string{"list append (l = l + ? or l += ?)", "list prepend (l = ? + l)", "list element set by index (l[i] = ?)",
	"list element delete by index (DELETE l[i])", "whole-list write (l = ? or INSERT of l)"}

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
		ps := s.statement(st.Stmt)
		for _, ops := range [2][]colOp{ps.colOps, ps.wholeSets} {
			for _, c := range ops {
				if c.kind == opAppend && !c.list && op.counter {
					continue // c = c + n on a counter (resolveCounter): handled as uncertain, not a list
				}
				list := c.list
				if !list {
					kind, err := s.columnKind(op.ctx, phase.leader(), c.keyspace, c.table, c.column)
					if c.kind == opSetWhole && errors.Is(err, errNoSession) && s.execHook != nil {
						// Unit tests of pure logic have no schema: a column written whole is not a
						// list unless the test's withColumnKinds says so.
						continue
					}
					if err != nil {
						return fmt.Errorf("%w: %s: reading the type of column %s to know whether a %s can be replayed: %w",
							ErrNotIdempotent, errStmt(st.Stmt), c.column, colOpNames[c.kind], err)
					}
					list = kind == kindList
				}
				if list {
					if s.m != nil {
						s.m.refused.WithLabelValues(reasonNotIdempotent).Inc()
					}
					return fmt.Errorf("%w: %s is a %s on (non-frozen) list column %s, which duplicates or misplaces elements when "+
						"replayed after a failure in the %s phase; make the column a frozen<list> (one cell, idempotent), "+
						"a set or a map, or run it in primary-only/secondary-only", ErrNotIdempotent, errStmt(st.Stmt), colOpNames[c.kind], c.column, phase)
				}
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
	if lookup := s.cfg.columnKinds; lookup != nil {
		kind, err := lookup(ctx, ks, table, column)
		if err != nil {
			return kindOther, err
		}
		s.kinds.Store(key, kind)
		return kind, nil
	}
	// Every column of the table at once: a dual-phase write checks each column it writes (a
	// whole-list write is not idempotent), so one schema read per table, not one per column.
	kinds, err := s.schemaKinds(ctx, sd, ks, table)
	if err != nil {
		return kindOther, err
	}
	for c, k := range kinds {
		s.kinds.Store(schemaKey{sd, ks, table, c}, k)
	}
	s.kinds.Store(key, kinds[column]) // a column the schema does not have: kindOther
	return kinds[column], nil
}

// schemaKinds reads the kinds of a table's columns from system_schema.columns on side sd. A table
// named without its keyspace is looked up in every keyspace: a list in any of them counts
// (conservative).
func (s *Session) schemaKinds(ctx context.Context, sd side, ks, table string) (map[string]columnKind, error) {
	g := s.sides[sd].acquire()
	defer g.release()
	if g.sess == nil {
		return nil, errNoSession
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := g.sess.Query(`SELECT column_name, type FROM system_schema.columns WHERE table_name = ? ALLOW FILTERING`, table)
	if ks != "" {
		q = g.sess.Query(`SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`, ks, table)
	}
	it := q.WithContext(ctx).Iter()
	kinds := map[string]columnKind{}
	var col, typ string
	for it.Scan(&col, &typ) {
		switch t := strings.ToLower(typ); {
		case strings.HasPrefix(t, "list<"): // frozen<list<…>> is one cell: not a list here
			kinds[col] = kindList
		case t == "counter" && kinds[col] != kindList:
			kinds[col] = kindCounter
		}
	}
	return kinds, it.Close()
}
