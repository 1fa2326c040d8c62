package forklift

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/globalcloud/islands/internal/codec"
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// stmt is one CQL statement with its values; size estimates its bytes for batch splitting.
type stmt struct {
	text string
	args []any
	size int
}

// stmtCache keeps statement texts by shape, so a copy of billions of rows builds each text once.
type stmtCache struct{ m sync.Map }

func (c *stmtCache) get(key string, build func() string) string {
	if v, ok := c.m.Load(key); ok {
		return v.(string)
	}
	s := build()
	c.m.Store(key, s)
	return s
}

type stamp struct {
	wt  int64
	ttl int32
}

// group is what one (writetime, ttl) pair writes in one row: simple cells in an INSERT, collection
// elements added in an UPDATE.
type group struct {
	simple []int // column indexes, ascending
	vals   []any
	adds   []int
	addVal []any
}

// statements turns a partition to write into CQL statements. Per row, cells that share a
// (writetime, TTL) go in one statement: an INSERT … USING TIMESTAMP t AND TTL ttl for simple cells
// and whole lists (which also writes the row marker), an UPDATE … SET c = c + ? for set and map
// elements. Deleted cells become DELETE or c = c - ? at their timestamp. A row with no cell at all
// is a key-only row: its marker is written at markerTS (its own timestamp is not readable by CQL);
// so is the marker of a row that must exist by it whatever cells it deletes (merge.Row.Marker).
// A row to delete whole (merge.Row.Deleted) is one row deletion, which also removes its marker,
// stamped at its columns' deletion timestamp or readAt, whichever is later (see rowDeleteTS).
// The partition's static row (merge.Row.Static) is written with the partition key alone, in
// statements of its own: never per row, and never in a row's INSERT, whose row marker would then
// take the statics' TTL.
func (t *table) statements(p *merge.Partition, markerTS, readAt int64) []stmt {
	var out []stmt
	for ri := range p.Rows {
		r := &p.Rows[ri]
		static := r.Static // the partition's statics: keyed by the partition key alone
		keyArgs := make([]any, 0, t.nkey+t.nck)
		for _, k := range p.Key {
			keyArgs = append(keyArgs, cql.Raw(k))
		}
		for _, k := range r.Clustering {
			keyArgs = append(keyArgs, cql.Raw(k))
		}
		if r.Deleted && !static {
			out = append(out, t.rowDeleteStmt(rowDeleteTS(r, markerTS, readAt), keyArgs))
			continue
		}
		groups := map[stamp]*group{}
		get := func(s stamp) *group {
			g := groups[s]
			if g == nil {
				g = &group{}
				groups[s] = g
			}
			return g
		}
		dels := map[int64][]int{} // writetime → simple columns to delete
		var lists []stmt          // list columns, each its statements in element order
		var rowCells int
		for ci := range r.Columns {
			c := &r.Columns[ci]
			if !c.Present {
				continue
			}
			idx := t.colIndex(c.Name, ci)
			if idx < 0 {
				continue
			}
			switch {
			case c.Kind == merge.Simple && (c.Cell.Deleted || c.Cell.Value == nil),
				c.Kind != merge.Simple && c.Cell.Deleted && len(c.Elems) == 0:
				// A present null is a deletion at its writetime, as CQL's INSERT of a null is:
				// skipping it would leave the destination's old value standing.
				dels[c.Cell.WriteTime] = append(dels[c.Cell.WriteTime], idx)
				rowCells++
			case c.Kind == merge.Simple:
				g := get(stamp{c.Cell.WriteTime, c.Cell.TTL})
				g.simple = append(g.simple, idx)
				g.vals = append(g.vals, cql.Raw(c.Cell.Value))
				rowCells++
			case c.Kind == merge.List:
				if len(c.Elems) == 0 {
					continue
				}
				lists = append(lists, t.listStmts(static, idx, c.Elems, keyArgs)...)
				rowCells++
			default: // set, map: element by element, grouped by (writetime, ttl)
				byStamp := map[stamp][]merge.Elem{}
				var order []stamp
				for _, e := range c.Elems {
					s := stamp{e.Cell.WriteTime, e.Cell.TTL}
					if e.Cell.Deleted {
						s = stamp{e.Cell.WriteTime, -1}
					}
					if _, ok := byStamp[s]; !ok {
						order = append(order, s)
					}
					byStamp[s] = append(byStamp[s], e)
				}
				for _, s := range order {
					es := byStamp[s]
					if s.ttl == -1 { // element deletions: c = c - {keys}
						keys := make([][]byte, len(es))
						for i, e := range es {
							keys[i] = e.Key
						}
						out = append(out, t.removeStmt(static, idx, s.wt, codec.JoinCollection(keys), keyArgs))
						continue
					}
					var val []byte
					if c.Kind == merge.Map {
						keys, vals := make([][]byte, len(es)), make([][]byte, len(es))
						for i, e := range es {
							keys[i], vals[i] = e.Key, e.Cell.Value
						}
						val = codec.JoinMap(keys, vals)
					} else {
						keys := make([][]byte, len(es))
						for i, e := range es {
							keys[i] = e.Key
						}
						val = codec.JoinCollection(keys)
					}
					g := get(s)
					g.adds = append(g.adds, idx)
					g.addVal = append(g.addVal, cql.Raw(val))
				}
				rowCells++
			}
		}
		if (rowCells == 0 || r.Marker) && !static {
			// A key-only row, or a row that must exist by its marker whatever cells its Write
			// deletes (merge.Row.Marker: the source row is key-only): its marker at markerTS,
			// as for every key-only row. A static row has no marker.
			out = append(out, t.insertStmt(static, nil, nil, stamp{markerTS, 0}, keyArgs))
		}
		if rowCells == 0 {
			continue
		}
		stamps := make([]stamp, 0, len(groups))
		for s := range groups {
			stamps = append(stamps, s)
		}
		sort.Slice(stamps, func(i, j int) bool {
			if stamps[i].wt != stamps[j].wt {
				return stamps[i].wt < stamps[j].wt
			}
			return stamps[i].ttl < stamps[j].ttl
		})
		for _, s := range stamps {
			g := groups[s]
			if len(g.simple) > 0 {
				out = append(out, t.insertStmt(static, g.simple, g.vals, s, keyArgs))
			}
			if len(g.adds) > 0 {
				out = append(out, t.addStmt(static, g.adds, g.addVal, s, keyArgs))
			}
		}
		out = append(out, lists...)
		for wt, cols := range dels {
			out = append(out, t.deleteStmt(static, cols, wt, keyArgs))
		}
	}
	return out
}

// rowDeleteTS is the timestamp of the deletion of a whole row r (merge.Row.Deleted): the newest
// of its columns' deletion timestamp (above every cell of the row the resolver read), markerTS and
// readAt, the microsecond the destination's version of the row was read at.
//
// Why readAt: a row deletion at T removes the row's marker only if the marker's timestamp is ≤ T
// (Cassandra shadows a row's liveness info, as its cells, with a deletion at a timestamp ≥ its
// own), and CQL cannot read a marker's timestamp (WRITETIME refuses primary key columns; a key-only
// row has no cell at all). Nothing read bounds it: an INSERT (pk, ck) at 9 over a row whose cells
// were written at 5 leaves cells at 5 and a marker at 9, and a deletion at the cells' 5 + 1 leaves
// a row of nulls. What bounds it is the clock: the destination only returned the row because its
// marker had been applied, so a marker stamped by a real clock was stamped before readAt. A marker
// stamped later than readAt (a writer's clock ahead of this host's, or an explicit future USING
// TIMESTAMP) survives; verify reports the row again and a repair run later deletes it. Writes
// stamped after readAt are never touched: an application write made after the read still stands.
func rowDeleteTS(r *merge.Row, markerTS, readAt int64) int64 {
	ts := max(markerTS, readAt)
	for _, c := range r.Columns {
		if c.Present {
			ts = max(ts, c.Cell.WriteTime)
		}
	}
	return ts
}

// listStmts writes a list whole, each element with its own TTL. A list element's cell path is a
// timeuuid the destination's coordinator mints, so a copy can only set the list and append to it:
// "l = [first run]" then "l = l + [run]" for each further run of consecutive elements sharing a
// TTL, in element order (appends made later get later paths, so the order holds; the statements
// go out in this order, in one batch or one after another). All are stamped with the list's newest
// element writetime T, as forklift has always written lists: "l = ?" deletes the elements older
// than T (a collection tombstone at T − 1), which is whole-list last-write-wins, the rule of merge
// and verify for lists; a per-element writetime below T − 1 would fall under that tombstone.
func (t *table) listStmts(static bool, col int, elems []merge.Elem, keyArgs []any) []stmt {
	var wt int64
	live := make([]merge.Elem, 0, len(elems))
	for _, e := range elems {
		if !e.Cell.Deleted {
			live = append(live, e)
			wt = max(wt, e.Cell.WriteTime)
		}
	}
	var out []stmt
	for i := 0; i < len(live); {
		j := i + 1
		for j < len(live) && live[j].Cell.TTL == live[i].Cell.TTL {
			j++
		}
		vals := make([][]byte, 0, j-i)
		for _, e := range live[i:j] {
			vals = append(vals, e.Cell.Value)
		}
		s := stamp{wt, live[i].Cell.TTL}
		v := []any{cql.Raw(codec.JoinCollection(vals))}
		if i == 0 {
			out = append(out, t.setStmt(static, col, v, s, keyArgs))
		} else {
			out = append(out, t.addStmt(static, []int{col}, v, s, keyArgs))
		}
		i = j
	}
	return out
}

// setStmt sets one column (a list, whole) at s.
func (t *table) setStmt(static bool, col int, vals []any, s stamp, keyArgs []any) stmt {
	text := t.stmts.get(shapeKey(static, "L", []int{col}), func() string {
		return "UPDATE " + t.dstName + " USING TIMESTAMP ? AND TTL ? SET " + cql.Quote(t.cols[col].Name) + " = ? WHERE " + t.keyWhere(static)
	})
	args := make([]any, 0, len(keyArgs)+len(vals)+2)
	args = append(args, s.wt, int(s.ttl))
	args = append(args, vals...)
	args = append(args, keyArgs...)
	return stmt{text: text, args: args, size: argSize(args)}
}

// colIndex finds the column's index in t.cols; hint is where it usually is.
func (t *table) colIndex(name string, hint int) int {
	if hint < len(t.cols) && t.cols[hint].Name == name {
		return hint
	}
	for i, c := range t.cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// colType is the CQL type of the column named name ("" when the table has none), hint its
// usual index in t.cols. A row's column index is never an index into t.cols by itself: a table
// with static columns keeps its statics in the static row and only the regular columns in the
// other rows (splitStatic), so every lookup of a row's column in t.cols goes by name.
func (t *table) colType(name string, hint int) string {
	if i := t.colIndex(name, hint); i >= 0 {
		return t.cols[i].Type
	}
	return ""
}

func shapeKey(static bool, kind string, cols []int) string {
	var b strings.Builder
	if static {
		b.WriteByte('S')
	}
	b.WriteString(kind)
	for _, c := range cols {
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(c))
	}
	return b.String()
}

// keyNames are the key columns a statement names: the partition key for the static row (statics
// are set per partition; Cassandra refuses a clustering key with them), else the whole primary key.
func (t *table) keyNames(static bool) []string {
	if static {
		return t.src.PartitionKeyNames()
	}
	return t.src.KeyNames()
}

func (t *table) keyWhere(static bool) string {
	var where []string
	for _, n := range t.keyNames(static) {
		where = append(where, cql.Quote(n)+" = ?")
	}
	return strings.Join(where, " AND ")
}

func argSize(args []any) int {
	n := 16
	for _, a := range args {
		if r, ok := a.(cql.Raw); ok {
			n += len(r) + 4
		} else {
			n += 12
		}
	}
	return n
}

func (t *table) insertStmt(static bool, cols []int, vals []any, s stamp, keyArgs []any) stmt {
	text := t.stmts.get(shapeKey(static, "I", cols), func() string {
		names := cql.QuoteAll(t.keyNames(static))
		for _, c := range cols {
			names = append(names, cql.Quote(t.cols[c].Name))
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
		return "INSERT INTO " + t.dstName + " (" + strings.Join(names, ", ") + ") VALUES (" + marks + ") USING TIMESTAMP ? AND TTL ?"
	})
	args := make([]any, 0, len(keyArgs)+len(vals)+2)
	args = append(args, keyArgs...)
	args = append(args, vals...)
	args = append(args, s.wt, int(s.ttl))
	return stmt{text: text, args: args, size: argSize(args)}
}

func (t *table) addStmt(static bool, cols []int, vals []any, s stamp, keyArgs []any) stmt {
	text := t.stmts.get(shapeKey(static, "A", cols), func() string {
		var set []string
		for _, c := range cols {
			q := cql.Quote(t.cols[c].Name)
			set = append(set, q+" = "+q+" + ?")
		}
		return "UPDATE " + t.dstName + " USING TIMESTAMP ? AND TTL ? SET " + strings.Join(set, ", ") + " WHERE " + t.keyWhere(static)
	})
	args := make([]any, 0, len(keyArgs)+len(vals)+2)
	args = append(args, s.wt, int(s.ttl))
	args = append(args, vals...)
	args = append(args, keyArgs...)
	return stmt{text: text, args: args, size: argSize(args)}
}

func (t *table) removeStmt(static bool, col int, wt int64, keys []byte, keyArgs []any) stmt {
	text := t.stmts.get(shapeKey(static, "R", []int{col}), func() string {
		q := cql.Quote(t.cols[col].Name)
		return "UPDATE " + t.dstName + " USING TIMESTAMP ? SET " + q + " = " + q + " - ? WHERE " + t.keyWhere(static)
	})
	args := append([]any{wt, cql.Raw(keys)}, keyArgs...)
	return stmt{text: text, args: args, size: argSize(args)}
}

func (t *table) rowDeleteStmt(wt int64, keyArgs []any) stmt {
	text := t.stmts.get("X", func() string {
		return "DELETE FROM " + t.dstName + " USING TIMESTAMP ? WHERE " + t.keyWhere(false)
	})
	args := append([]any{wt}, keyArgs...)
	return stmt{text: text, args: args, size: argSize(args)}
}

func (t *table) deleteStmt(static bool, cols []int, wt int64, keyArgs []any) stmt {
	sort.Ints(cols)
	text := t.stmts.get(shapeKey(static, "D", cols), func() string {
		var names []string
		for _, c := range cols {
			names = append(names, cql.Quote(t.cols[c].Name))
		}
		return "DELETE " + strings.Join(names, ", ") + " FROM " + t.dstName + " USING TIMESTAMP ? WHERE " + t.keyWhere(static)
	})
	args := append([]any{wt}, keyArgs...)
	return stmt{text: text, args: args, size: argSize(args)}
}
