package merge

import (
	"bytes"
	"fmt"
	"slices"
)

const nameViewingHistory = "viewing-history"

// viewingHistory is the shipped example of a custom resolver: a member's viewing history, merged per
// title by the largest watched position and capped to the newest N entries.
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
// the rest removed. Removing an entry the destination holds deletes the row (all its columns Deleted
// at its newest writetime + 1 µs); a kept entry is written with the timestamp rule of the package.
// Positions and times compare with compareValues; a missing value is smaller than any. Carrying the
// title's latest time makes the rule converge: run again over what it wrote, it writes nothing.
type viewingHistory struct {
	title    string // regular column holding the title, or ""
	titleKey int    // clustering component holding the title, when title == ""
	position string
	time     string
	cap      int
}

func newViewingHistory(opts map[string]any) (Resolver, error) {
	o := options{nameViewingHistory, opts}
	if err := o.known("title", "title-key", "position", "time", "cap"); err != nil {
		return nil, err
	}
	v := viewingHistory{titleKey: -1}
	var err error
	if v.title, err = o.string("title", false); err != nil {
		return nil, err
	}
	k, hasKey, err := o.int("title-key", false, 0, 63)
	if err != nil {
		return nil, err
	}
	if hasKey == (v.title != "") {
		return nil, fmt.Errorf("merge: viewing-history: exactly one of option %q (a column) or %q (a clustering index) is required: %w", "title", "title-key", ErrBadOption)
	}
	if hasKey {
		v.titleKey = k
	}
	if v.position, err = o.string("position", true); err != nil {
		return nil, err
	}
	if v.time, err = o.string("time", true); err != nil {
		return nil, err
	}
	if v.cap, _, err = o.int("cap", true, 1, 1<<30); err != nil {
		return nil, err
	}
	return v, nil
}

// Name implements Resolver.
func (viewingHistory) Name() string { return nameViewingHistory }

// NeedsDestination implements Resolver.
func (viewingHistory) NeedsDestination() bool { return true }

// entry is one clustering key of the merged history: its rows on each side and the version chosen.
type entry struct {
	s, d   int32 // row index in src / dst, or -1
	useSrc bool  // the source version stands (else the destination's)
	keep   bool
	title  []byte
	pos    *Column
	time   *Column
	latest *Column // the latest time of the entry's versions, then of its title
	ck     [][]byte
}

// Resolve implements Resolver.
func (v viewingHistory) Resolve(src, dst *Partition) (Resolution, error) {
	var dstRows []Row
	if dst != nil {
		dstRows = dst.Rows
	}
	srcTo, dstMatched := matchRows(src.Rows, dstRows)
	es := make([]entry, 0, len(src.Rows)+len(dstRows))
	for i := range src.Rows {
		e := entry{s: int32(i), d: srcTo[i], useSrc: true}
		if err := v.fill(&e, &src.Rows[i], src); err != nil {
			return Resolution{}, err
		}
		if e.d >= 0 {
			var de entry
			if err := v.fill(&de, &dstRows[e.d], src); err != nil {
				return Resolution{}, err
			}
			de.d = e.d
			if compareApp(de.time, e.time) > 0 {
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
		e := entry{s: -1, d: int32(j)}
		if err := v.fill(&e, &dstRows[j], src); err != nil {
			return Resolution{}, err
		}
		es = append(es, e)
	}

	// Per title, the best entry first; it alone is kept.
	slices.SortFunc(es, func(a, b entry) int {
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
			if compareApp(es[j].latest, latest) > 0 {
				latest = es[j].latest
			}
		}
		es[i].latest = latest
		i = j
	}
	// The kept titles, most recently watched first; beyond the cap they go.
	slices.SortFunc(es, func(a, b entry) int {
		if a.keep != b.keep {
			if a.keep {
				return -1
			}
			return 1
		}
		if c := compareApp(b.latest, a.latest); c != 0 {
			return c
		}
		return bytes.Compare(a.title, b.title)
	})
	for i := v.cap; i < len(es); i++ {
		es[i].keep = false
	}

	var w writer
	w.init(src, dst)
	for i := range es {
		e := &es[i]
		var s, d *Row
		if e.s >= 0 {
			s = &src.Rows[e.s]
		}
		if e.d >= 0 {
			d = &dstRows[e.d]
		}
		var ov *override
		if e.keep && compareApp(e.latest, e.time) > 0 {
			ov = &override{name: v.time, cell: e.latest.Cell}
		}
		switch {
		case e.keep && e.useSrc:
			replaceRowWith(&w, s, d, ov)
		case e.keep:
			if s != nil {
				recordConflicts(&w, s, d)
			}
			if ov != nil {
				w.beginRow()
				overrideCell(&w, s, d, ov)
				w.endRow(d.Clustering, false)
			}
		case d != nil:
			w.deleteRow(d, s)
		}
	}
	return w.resolution(), nil
}

// fill reads the title, position and time of row r into e.
func (v viewingHistory) fill(e *entry, r *Row, p *Partition) error {
	e.ck = r.Clustering
	if v.title == "" {
		if v.titleKey >= len(r.Clustering) {
			return fmt.Errorf("merge: viewing-history: partition %x row %x: title-key %d but %d clustering components: %w", p.Key, r.Clustering, v.titleKey, len(r.Clustering), ErrMissingColumn)
		}
		e.title = r.Clustering[v.titleKey]
	} else {
		c := column(r, v.title, -1)
		if c == nil {
			return fmt.Errorf("merge: viewing-history: partition %x row %x: column %q: %w", p.Key, r.Clustering, v.title, ErrMissingColumn)
		}
		if present(c) && c.Kind == Simple && !c.Cell.Deleted {
			e.title = c.Cell.Value
		}
	}
	for _, name := range [2]string{v.position, v.time} {
		c := column(r, name, -1)
		if c == nil || c.Kind != Simple {
			return fmt.Errorf("merge: viewing-history: partition %x row %x: column %q: %w", p.Key, r.Clustering, name, ErrMissingColumn)
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
func (v viewingHistory) better(a, b *entry) int {
	if c := compareApp(a.pos, b.pos); c != 0 {
		return c
	}
	if c := compareApp(a.time, b.time); c != 0 {
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
