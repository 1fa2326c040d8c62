package viewinghistory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/globalcloud/islands/merge"
)

// Registered under Name at init, so a program that links this package (a blank import is enough)
// selects the resolver from forklift's YAML like a built-in.
func init() { merge.Register(Name, New) }

// Name is the resolver's name in merge's registry and in forklift's YAML (resolver: viewing-history).
const Name = "viewing-history"

// viewingHistory merges a member's viewing history per title by the largest watched position and
// caps it to the newest N entries.
//
// Expected table shape: partition key = the member; one row per viewing entry; the title is either a
// clustering component (option title-key: its index) or a regular column (option title); the
// position (e.g. seconds watched, bigint) and the time (e.g. watched_at, timestamp) are regular
// columns. The recommended table is
//
//	CREATE TABLE viewing_history (member_id bigint, title_id bigint, position bigint,
//	    watched_at timestamp, PRIMARY KEY (member_id, title_id))   -- title-key: 0
//
// A title held in a regular column (option title) lets several rows share a title; they collapse to
// one. Limit of that mode: where one row's title differs between the sides, the version of the row
// that stands decides its title and the other is forgotten.
//
// The rule, applied to the union of both sides' rows (or the source alone when the destination has
// none): where one clustering key is on both sides, its version with the larger (position, time)
// stands (the destination's on a tie); per title, the entry with the largest position (then the
// latest time) is kept, carrying the latest time seen for the title on either side, and every other
// entry of the title is removed; then the titles, most recently watched first, are capped at cap and
// the rest removed. merge.Decide writes the decision under merge's timestamp rule. Positions and
// times compare in their columns' CQL type order (merge.ValueOrder), bound to the table's schema by
// WithColumnTypes (forklift does); unbound, as the recommended bigint and timestamp (signed
// integers); a missing value is smaller than any. Carrying the title's latest time makes the rule converge: run
// again over what it wrote, it writes nothing.
type viewingHistory struct {
	title    string // regular column holding the title, or ""
	titleKey int    // clustering component holding the title, when title == ""
	position string
	time     string
	cap      int

	posOrder, timeOrder func(a, b []byte) int // merge.ValueOrder of the columns' types
}

// vhOptions are viewing-history's YAML options.
type vhOptions struct {
	Title    string `json:"title"`
	TitleKey *int   `json:"title-key"`
	Position string `json:"position"`
	Time     string `json:"time"`
	Cap      *int   `json:"cap"`
}

// New returns the viewing-history resolver for its YAML options: title (a regular column) or
// title-key (a clustering component's index), exactly one; position, time (regular columns) and cap
// (how many titles to keep, ≥ 1). A bad option is an error wrapping merge.ErrBadOption.
func New(opts map[string]any) (merge.Resolver, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("viewinghistory: %s: %w", fmt.Sprintf(format, a...), merge.ErrBadOption)
	}
	var o vhOptions
	b, err := json.Marshal(opts)
	if err != nil {
		return nil, bad("options: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, bad("option %q must be a%s %s, got %s", te.Field, vhArticle(te.Type.String()), te.Type, te.Value)
		}
		return nil, bad("options: %v", err)
	}
	v := viewingHistory{title: o.Title, titleKey: -1, position: o.Position, time: o.Time}
	switch {
	case (o.TitleKey != nil) == (o.Title != ""):
		return nil, bad("exactly one of option %q (a column) or %q (a clustering index) is required", "title", "title-key")
	case o.TitleKey != nil && (*o.TitleKey < 0 || *o.TitleKey > 63):
		return nil, bad("option %q must be in [0, 63], got %d", "title-key", *o.TitleKey)
	case o.Position == "":
		return nil, bad("option %q is required", "position")
	case o.Time == "":
		return nil, bad("option %q is required", "time")
	case o.Cap == nil || *o.Cap < 1:
		return nil, bad("option %q is required, an integer ≥ 1", "cap")
	}
	if o.TitleKey != nil {
		v.titleKey = *o.TitleKey
	}
	v.cap = *o.Cap
	v.posOrder, _ = merge.ValueOrder("bigint")
	v.timeOrder, _ = merge.ValueOrder("timestamp")
	return v, nil
}

// WithColumnTypes implements merge.Typed: positions and times in their columns' type order. A
// column the table lacks wraps merge.ErrMissingColumn; a type with no order, merge.ErrBadOption.
func (v viewingHistory) WithColumnTypes(types map[string]string) (merge.Resolver, error) {
	for _, c := range []struct {
		name  string
		order *func(a, b []byte) int
	}{{v.position, &v.posOrder}, {v.time, &v.timeOrder}} {
		typ, ok := types[c.name]
		if !ok {
			return nil, fmt.Errorf("viewinghistory: column %q is not a column of the table: %w", c.name, merge.ErrMissingColumn)
		}
		order, err := merge.ValueOrder(typ)
		if err != nil {
			return nil, fmt.Errorf("viewinghistory: column %q: %w", c.name, err)
		}
		*c.order = order
	}
	return v, nil
}

// WithSchema implements merge.Shaped: the options checked against the table's shape when forklift
// opens a job, each error naming the option. title-key must index one of the clustering columns;
// title, position and time must be regular columns (a key column is never among a row's
// columns: every row would fail, and only at the first partition). Then WithColumnTypes.
func (v viewingHistory) WithSchema(s merge.Schema) (merge.Resolver, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("viewinghistory: %s: %w", fmt.Sprintf(format, a...), merge.ErrBadOption)
	}
	if v.title == "" && v.titleKey >= len(s.Clustering) {
		return nil, bad("option %q is %d, but the table has %d clustering columns %q (numbered from 0)", "title-key", v.titleKey, len(s.Clustering), s.Clustering)
	}
	for _, o := range []struct{ option, col string }{{"title", v.title}, {"position", v.position}, {"time", v.time}} {
		if o.col == "" {
			continue
		}
		if _, ok := s.Types[o.col]; !ok {
			return nil, bad("option %q: %q is not a column of the table", o.option, o.col)
		}
		if s.IsKey(o.col) {
			hint := ""
			if o.option == "title" {
				hint = " (for a clustering column, use option title-key: its index)"
			}
			return nil, bad("option %q: %q is a key column, not a regular column%s", o.option, o.col, hint)
		}
	}
	return v.WithColumnTypes(s.Types)
}

func vhArticle(typ string) string {
	if typ == "int" {
		return "n"
	}
	return ""
}

// Name implements merge.Resolver.
func (viewingHistory) Name() string { return Name }

// NeedsDestination implements merge.Resolver.
func (viewingHistory) NeedsDestination() bool { return true }

// vhEntry is one clustering key of the merged history: its rows on each side and the version chosen.
type vhEntry struct {
	s, d   int32 // row index in src / dst, or -1
	useSrc bool  // the source version stands (else the destination's)
	keep   bool
	title  []byte
	pos    *merge.Column
	time   *merge.Column
	latest *merge.Column // the latest time of the entry's versions, then of its title
	ck     [][]byte
}

// Resolve implements Resolver.
func (v viewingHistory) Resolve(src, dst *merge.Partition) (merge.Resolution, error) {
	var dstRows []merge.Row
	if dst != nil {
		dstRows = dst.Rows
	}
	srcTo, dstMatched := merge.MatchRows(src.Rows, dstRows)
	es := make([]vhEntry, 0, len(src.Rows)+len(dstRows))
	for i := range src.Rows {
		e := vhEntry{s: int32(i), d: srcTo[i], useSrc: true}
		if err := v.fill(&e, &src.Rows[i], "source", i); err != nil {
			return merge.Resolution{}, err
		}
		if e.d >= 0 {
			var de vhEntry
			if err := v.fill(&de, &dstRows[e.d], "destination", int(e.d)); err != nil {
				return merge.Resolution{}, err
			}
			de.d = e.d
			if vhCompare(v.timeOrder, de.time, e.time) > 0 {
				e.latest = de.time
			}
			if v.better(&e, &de) <= 0 { // the destination's version on a tie
				e.useSrc, e.title, e.pos, e.time = false, de.title, de.pos, de.time
			}
		}
		es = append(es, e)
	}
	for j := range dstRows {
		if dstMatched[j] {
			continue
		}
		e := vhEntry{s: -1, d: int32(j)}
		if err := v.fill(&e, &dstRows[j], "destination", j); err != nil {
			return merge.Resolution{}, err
		}
		es = append(es, e)
	}

	// Per title, the best entry first; it alone is kept.
	slices.SortFunc(es, func(a, b vhEntry) int {
		if c := bytes.Compare(a.title, b.title); c != 0 {
			return c
		}
		return -v.better(&a, &b)
	})
	for i := 0; i < len(es); {
		// es[i] is the best of its title; it carries the title's latest time.
		j, latest := i, es[i].latest
		for ; j < len(es) && bytes.Equal(es[j].title, es[i].title); j++ {
			es[j].keep = j == i
			if vhCompare(v.timeOrder, es[j].latest, latest) > 0 {
				latest = es[j].latest
			}
		}
		es[i].latest = latest
		i = j
	}
	// The kept titles, most recently watched first; beyond the cap they go.
	slices.SortFunc(es, func(a, b vhEntry) int {
		if a.keep != b.keep {
			if a.keep {
				return -1
			}
			return 1
		}
		if c := vhCompare(v.timeOrder, b.latest, a.latest); c != 0 {
			return c
		}
		return bytes.Compare(a.title, b.title)
	})
	for i := v.cap; i < len(es); i++ {
		es[i].keep = false
	}

	ds := make([]merge.RowDecision, 0, len(es))
	for i := range es {
		e := &es[i]
		var d merge.RowDecision
		if e.s >= 0 {
			d.Source = &src.Rows[e.s]
		}
		if e.d >= 0 {
			d.Destination = &dstRows[e.d]
		}
		switch {
		case e.keep && e.useSrc:
			d.Keep = merge.KeepSource
		case e.keep:
			d.Keep = merge.KeepDestination
		default:
			d.Keep = merge.Drop
		}
		if e.keep && vhCompare(v.timeOrder, e.latest, e.time) > 0 {
			d.Column, d.Value = v.time, e.latest.Cell
		}
		ds = append(ds, d)
	}
	return merge.Decide(src, dst, ds), nil
}

// fill reads the title, position and time of row r (row i of side) into e. Its errors name the
// row by side and place, never by its key or the partition's (member data: a member id, an email).
func (v viewingHistory) fill(e *vhEntry, r *merge.Row, side string, i int) error {
	e.ck = r.Clustering
	if v.title == "" {
		if v.titleKey >= len(r.Clustering) {
			return fmt.Errorf("viewinghistory: %s row %d: option title-key %d but the row has %d clustering components: %w", side, i, v.titleKey, len(r.Clustering), merge.ErrMissingColumn)
		}
		e.title = r.Clustering[v.titleKey]
	} else {
		c := vhColumn(r, v.title)
		if c == nil {
			return fmt.Errorf("viewinghistory: %s row %d: option title: no column %q: %w", side, i, v.title, merge.ErrMissingColumn)
		}
		if vhPresent(c) && c.Kind == merge.Simple && !c.Cell.Deleted {
			e.title = c.Cell.Value
		}
	}
	for _, name := range [2]string{v.position, v.time} {
		c := vhColumn(r, name)
		if c == nil || c.Kind != merge.Simple {
			return fmt.Errorf("viewinghistory: %s row %d: no simple column %q: %w", side, i, name, merge.ErrMissingColumn)
		}
		if name == v.position {
			e.pos = c
		} else {
			e.time, e.latest = c, c
		}
	}
	return nil
}

// better orders two versions of an entry: larger position, then later time, then (for determinism
// between different rows) the destination's row, then the greater clustering key. >0: a is better.
func (v viewingHistory) better(a, b *vhEntry) int {
	if c := vhCompare(v.posOrder, a.pos, b.pos); c != 0 {
		return c
	}
	if c := vhCompare(v.timeOrder, a.time, b.time); c != 0 {
		return c
	}
	ad, bd := a.d >= 0, b.d >= 0
	if ad != bd {
		if ad {
			return 1
		}
		return -1
	}
	for i := 0; i < len(a.ck) && i < len(b.ck); i++ {
		if c := bytes.Compare(a.ck[i], b.ck[i]); c != 0 {
			return c
		}
	}
	return len(a.ck) - len(b.ck)
}

// vhColumn finds the column named name in r; nil when the row has none.
func vhColumn(r *merge.Row, name string) *merge.Column {
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return &r.Columns[i]
		}
	}
	return nil
}

// vhPresent reports whether a column holds a value.
func vhPresent(c *merge.Column) bool {
	return c != nil && c.Present && (c.Kind == merge.Simple || len(c.Elems) > 0)
}

// vhCompare compares two application values of simple columns in order: absent (or deleted)
// first, then as their column's type orders them.
func vhCompare(order func(a, b []byte) int, a, b *merge.Column) int {
	ap, bp := vhPresent(a) && !a.Cell.Deleted, vhPresent(b) && !b.Cell.Deleted
	if !ap || !bp {
		return vhCmp(ap, bp)
	}
	return order(a.Cell.Value, b.Cell.Value)
}

// vhCmp is 1 when only a holds, -1 when only b does, else 0.
func vhCmp(a, b bool) int {
	switch {
	case a && !b:
		return 1
	case b && !a:
		return -1
	}
	return 0
}
