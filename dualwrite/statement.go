package dualwrite

import (
	"reflect"
	"slices"
	"strings"
)

// statement is what dualwrite needs to know about one CQL string, worked out once (on its
// tokens, cqllex.go) and cached.
type statement struct {
	read             bool             // SELECT: goes to the read side only
	notMutation      string           // the statement's kind ("TRUNCATE", "CREATE", …) when it is not a row mutation
	lwt              bool             // has an IF clause: the authoritative side decides
	nonDeterministic string           // the first non-deterministic function called, "" if none
	keyspace, table  string           // the table written (keyspace "" when the statement does not name one)
	increments       bool             // UPDATE … SET c = c + / - …: a counter update if the column is a counter
	incr             []incrOp         // those increments, to tell a counter from a collection
	colOps           []colOp          // operations that are not idempotent if their column is a list
	wholeSets        []colOp          // columns written whole (c = x, INSERT's columns): not idempotent on a non-frozen list
	ttl              ttlSpot          // where its (first) TTL is (valid when hasTTL)
	hasTTL           bool             //
	ttls             []ttlSpot        // every TTL, in order (a textual batch has one per statement)
	secondary        string           // the statement as sent to the secondary (keyspace map applied)
	tables           []tableName      // every table written, keyspace as in this text (a textual batch: each statement's)
	tbl              [2][]*tableState // per side, the session's knowledge of those tables, when this text is that side's form
}

// incrOp is one c = c + x or c = c - x of an UPDATE: a counter update if c is a counter column,
// else a collection operation.
type incrOp struct {
	keyspace, table string // of the statement it is in (a textual batch's statements each name theirs)
	column          string
	marker          int  // index of x among the bind markers, -1 when x is a literal
	number          bool // x is a number literal: only a counter can be incremented by one
	literal         bool // x is a collection literal ([…], {…}): never a counter
}

// counterByValue tells from the bound value alone whether this increment is a counter update:
// 1 yes (an integer), 0 no (a collection), -1 unknown (a string, a big.Int, nil…: the schema
// decides).
func (in incrOp) counterByValue(values []any) int {
	switch {
	case in.number:
		return 1
	case in.literal:
		return 0
	case in.marker < 0 || in.marker >= len(values) || values[in.marker] == nil:
		return -1
	}
	v := reflect.ValueOf(values[in.marker])
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return 1
	case reflect.Slice, reflect.Array, reflect.Map:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return -1 // a blob: not a collection
		}
		return 0
	}
	return -1
}

// nonDeterministicFuncs are CQL functions whose value depends on when or where they run: the
// native functions Cassandra marks impure (isPure() false). In Cassandra 5.0 these are now() and
// the NowFunction family of functions/TimeFcts.java under their CASSANDRA-18037 snake-case names
// (current_timestamp, current_date, current_time, current_timeuuid) and their legacy names
// without underscores (Cassandra's names are case-insensitive unquoted, so currentTimestamp
// too), and uuid() (UuidFcts.java). min_timeuuid/max_timeuuid, to_timestamp, floor … of a bound
// value are deterministic and allowed.
var nonDeterministicFuncs = map[string]bool{"now": true, "uuid": true,
	"currenttimestamp": true, "currentdate": true, "currenttime": true, "currenttimeuuid": true,
	"current_timestamp": true, "current_date": true, "current_time": true, "current_timeuuid": true}

// parseStatement analyses stmt on its tokens: nothing inside a literal, a quoted name or a
// comment is ever read as code. A textual BEGIN BATCH … APPLY BATCH is analysed statement by
// statement (splitDML; ';' optional), each column operation with its own statement's table (st's keyspace and table, the
// batch's target for the rest, are the first statement's).
func parseStatement(stmt string) statement {
	toks := lexCQL(stmt)
	var st statement
	if len(toks) == 0 {
		return st
	}
	if toks[0].is("select") {
		st.read = true
		return st
	}
	if !toks[0].is("insert") && !toks[0].is("update") && !toks[0].is("delete") && !toks[0].is("begin") {
		// TRUNCATE, USE, CREATE/ALTER/DROP …, GRANT/REVOKE, LIST …: nothing with a timestamp that
		// a replay could order against the writes that follow it (statementKind).
		st.notMutation = strings.ToUpper(stmt[toks[0].start:toks[0].end])
		return st
	}
	// markers[i]: bind markers among toks[:i], to find a TTL's or an operand's value.
	markers := make([]int, len(toks)+1)
	for i, t := range toks {
		markers[i+1] = markers[i]
		if t.kind == tokMarker {
			markers[i+1]++
		}
	}
	for i, t := range toks {
		// A quoted name is the same function ("now" is now), but only called as the native one is,
		// with no argument: "now"(1) is a function of the keyspace's own.
		quotedNative := t.kind == tokQuoted && i+2 < len(toks) && toks[i+2].punct(")")
		if st.nonDeterministic == "" && (t.kind == tokIdent || quotedNative) && nonDeterministicFuncs[t.text] && i+1 < len(toks) && toks[i+1].punct("(") {
			st.nonDeterministic = stmt[t.start:t.end] + "()"
		}
		if (t.is("using") || t.is("and")) && i+2 < len(toks) && toks[i+1].is("ttl") &&
			(toks[i+2].kind == tokNumber || toks[i+2].kind == tokMarker) {
			v := toks[i+2]
			sp := ttlSpot{start: v.start, end: v.end, bind: -1}
			if v.kind == tokMarker {
				sp.bind = markers[i+2]
			}
			if !st.hasTTL {
				st.ttl, st.hasTTL = sp, true
			}
			st.ttls = append(st.ttls, sp)
		}
	}
	for _, r := range splitDML(toks) {
		st.parseDML(toks[r[0]:r[1]], markers[r[0]:])
	}
	return st
}

// splitDML returns the token ranges [start, end) of the INSERT, UPDATE and DELETE statements of
// toks: one for a single statement, one per statement of a textual BEGIN BATCH … APPLY BATCH.
// Every statement decision on a batch (its LWT, TTLs, list operations, the tables its columns
// belong to) reads the statements this one splitter finds.
//
// Cassandra's grammar makes the ';' between a batch's statements optional (Parser.g,
// batchStatement: `( s=batchStatementObjective ';'? )*`), so a statement starts at each INSERT,
// UPDATE or DELETE keyword outside brackets, and ends at the next one, at a ';', or at APPLY.
// The three are reserved words (a column of that name must be quoted), and the lexer never
// yields a keyword from inside a literal, a quoted name or a comment, so no statement is hidden
// and none is invented.
func splitDML(toks []token) [][2]int {
	var out [][2]int
	start, depth := -1, 0
	end := func(i int) {
		if start >= 0 {
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	for i, t := range toks {
		if t.kind == tokPunct {
			switch t.text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			case ";":
				end(i)
			}
			continue
		}
		if depth > 0 {
			continue
		}
		switch {
		case t.is("insert") || t.is("update") || t.is("delete"):
			end(i)
			start = i
		case t.is("apply") && i+1 < len(toks) && toks[i+1].is("batch"):
			end(i)
		}
	}
	end(len(toks))
	return out
}

// parseDML adds what one INSERT, UPDATE or DELETE (toks) says; markers[k] counts the bind markers
// before toks[k] in the whole statement.
func (st *statement) parseDML(toks []token, markers []int) {
	// Each operation found is on this statement's own table, whatever the batch's first one is:
	// its column's type is looked up there.
	var ks, table string
	nOps, nIncr, nSets := len(st.colOps), len(st.incr), len(st.wholeSets)
	defer func() {
		for i := nOps; i < len(st.colOps); i++ {
			st.colOps[i].keyspace, st.colOps[i].table = ks, table
		}
		for i := nSets; i < len(st.wholeSets); i++ {
			st.wholeSets[i].keyspace, st.wholeSets[i].table = ks, table
		}
		for i := nIncr; i < len(st.incr); i++ {
			st.incr[i].keyspace, st.incr[i].table = ks, table
		}
	}()
	target := -1
	switch {
	case toks[0].is("insert"):
		if len(toks) > 1 && toks[1].is("into") {
			target = 2
		}
	case toks[0].is("update"):
		target = 1
	case toks[0].is("delete"):
		from := indexAtDepth0(toks, 1, func(t token) bool { return t.is("from") })
		if from < 0 {
			return
		}
		for k := 1; k+1 < from; k++ {
			if toks[k].name() && toks[k+1].punct("[") {
				st.colOps = append(st.colOps, colOp{column: toks[k].text, kind: opIndexDelete})
			}
		}
		target = from + 1
	}
	if target < 0 || target >= len(toks) || !toks[target].name() {
		return
	}
	ks, after := toks[target].text, target+1
	if target+2 < len(toks) && toks[target+1].punct(".") && toks[target+2].name() {
		table, after = toks[target+2].text, target+3
	} else {
		ks, table = "", ks
	}
	if st.table == "" {
		st.keyspace, st.table = ks, table
	}
	if n := (tableName{ks, table}); !slices.Contains(st.tables, n) {
		st.tables = append(st.tables, n)
	}
	for k := after; k < len(toks); k++ {
		if toks[k].is("if") {
			st.lwt = true
			break
		}
	}
	if toks[0].is("insert") {
		// INSERT INTO t (c1, c2, …) VALUES …: each column is written whole. (INSERT … JSON names
		// no column: not seen here.)
		if after < len(toks) && toks[after].punct("(") {
			for k := after + 1; k < len(toks) && !toks[k].punct(")"); k++ {
				if toks[k].name() {
					st.wholeSets = append(st.wholeSets, colOp{column: toks[k].text, kind: opSetWhole})
				}
			}
		}
		return
	}
	if !toks[0].is("update") {
		return
	}
	set := indexAtDepth0(toks, after, func(t token) bool { return t.is("set") })
	if set < 0 {
		return
	}
	end := indexAtDepth0(toks, set+1, func(t token) bool { return t.is("where") || t.is("if") })
	if end < 0 {
		end = len(toks)
	}
	for a := set + 1; a < end; {
		b := indexAtDepth0(toks[:end], a, func(t token) bool { return t.punct(",") })
		if b < 0 {
			b = end
		}
		st.assignment(toks[a:b], markers[a:])
		a = b + 1
	}
}

// assignment adds what one column operation of an UPDATE's SET says. Cassandra's grammar
// (Parser.g, columnOperation) has exactly these forms:
//
//	c = x            set the value (idempotent)
//	c = x + c        prepend (a list; Cassandra refuses it on anything else)
//	c = c + x        add: a counter increment, a list append, a set or map union
//	c = c - x        subtract: a counter decrement, a list, set or map discard
//	c += x, c -= x   the shorthand of the two above (Cassandra 4.0+)
//	c[k] = x         set a list element by index, or a map entry by key
//	c.f = x          set a field of a UDT (idempotent)
func (st *statement) assignment(a []token, markers []int) {
	if len(a) < 2 || !a[0].name() {
		return
	}
	col := a[0].text
	switch {
	case a[1].punct("["):
		st.colOps = append(st.colOps, colOp{column: col, kind: opIndexSet})
		return
	case a[1].punct("+=") || a[1].punct("-="):
		st.increment(col, a[1].text[:1], a, 2, markers)
		return
	case !a[1].punct("="):
		return // c.f = x, or not a column operation at all
	}
	rhs := a[2:]
	if len(rhs) >= 3 && rhs[0].name() && rhs[0].text == col && (rhs[1].punct("+") || rhs[1].punct("-")) {
		st.increment(col, rhs[1].text, a, 4, markers)
		return
	}
	if n := len(rhs); n >= 3 && rhs[n-1].name() && rhs[n-1].text == col && rhs[n-2].punct("+") {
		st.colOps = append(st.colOps, colOp{column: col, kind: opPrepend, list: rhs[0].punct("[")})
		return
	}
	if len(rhs) == 1 && rhs[0].is("null") {
		return // c = null deletes the column: a tombstone, idempotent
	}
	// c = x: the whole column; on a non-frozen list a set of fresh elements (only the schema
	// tells: a list literal is also how a frozen<list> is written).
	st.wholeSets = append(st.wholeSets, colOp{column: col, kind: opSetWhole})
}

// increment adds c = c ± x (or c += x, c -= x) on column col, sign "+" or "-", whose operand x
// starts at a[x]: a counter update if col is a counter, else a collection operation (an append
// when sign is "+" and x is not a set or map literal).
func (st *statement) increment(col, sign string, a []token, x int, markers []int) {
	if x >= len(a) {
		return
	}
	xt := a[x]
	if xt.punct("-") && x+1 < len(a) && a[x+1].kind == tokNumber {
		xt = a[x+1] // c = c + -1
	}
	st.increments = true
	in := incrOp{column: col, marker: -1, number: xt.kind == tokNumber, literal: xt.punct("[") || xt.punct("{")}
	if xt.kind == tokMarker {
		in.marker = markers[x]
	}
	st.incr = append(st.incr, in)
	if sign == "+" && !xt.punct("{") && xt.kind != tokNumber {
		st.colOps = append(st.colOps, colOp{column: col, kind: opAppend, list: xt.punct("[")})
	}
}

// tableName is a table as a statement names it (keyspace "" when it names none).
type tableName struct{ keyspace, table string }

// indexAtDepth0 returns the index of the first token from i that match accepts outside any
// brackets, or -1.
func indexAtDepth0(toks []token, i int, match func(token) bool) int {
	depth := 0
	for ; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tokPunct {
			switch t.text {
			case "(", "[", "{":
				depth++
				continue
			case ")", "]", "}":
				depth--
				continue
			}
		}
		if depth <= 0 && match(t) {
			return i
		}
	}
	return -1
}

// mapKeyspaces rewrites the keyspace names of stmt that appear in m (keyspace-qualified names
// such as island.profiles), leaving literals, quoted text and comments alone.
func mapKeyspaces(stmt string, m map[string]string) string {
	if len(m) == 0 {
		return stmt
	}
	toks := lexCQL(stmt)
	var out strings.Builder
	last := 0
	for k := 0; k+2 < len(toks); k++ {
		if !toks[k].name() || !toks[k+1].punct(".") || !toks[k+2].name() {
			continue
		}
		to, ok := m[toks[k].text]
		if !ok {
			k += 2
			continue
		}
		out.WriteString(stmt[last:toks[k].start])
		out.WriteString(to)
		last = toks[k].end
		k += 2
	}
	if last == 0 {
		return stmt
	}
	out.WriteString(stmt[last:])
	return out.String()
}
