package merge

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"sort"
)

// Expected outcomes of each resolver, as views, computed from the rules in plain terms.

func rowsByCK(p *Partition) map[string]*Row {
	m := map[string]*Row{}
	if p == nil {
		return m
	}
	for i := range p.Rows {
		m[ckString(p.Rows[i].Clustering)] = &p.Rows[i]
	}
	return m
}

func colOf(r *Row, name string) *Column {
	if r == nil {
		return nil
	}
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return &r.Columns[i]
		}
	}
	return nil
}

// expectLWW: per cell Cassandra's rule (absent older); sets and maps per element; lists whole by
// newest element, then greater serialised value.
func expectLWW(src, dst *Partition) map[string]string {
	out := &Partition{Key: src.Key}
	sr, dr := rowsByCK(src), rowsByCK(dst)
	keys := map[string]bool{}
	for k := range sr {
		keys[k] = true
	}
	for k := range dr {
		keys[k] = true
	}
	for k := range keys {
		s, d := sr[k], dr[k]
		ck := [][]byte(nil)
		if s != nil {
			ck = s.Clustering
		} else {
			ck = d.Clustering
		}
		row := Row{Clustering: ck}
		for _, def := range schema {
			sc, dc := colOf(s, def.name), colOf(d, def.name)
			sp, dp := sc != nil && sc.Present, dc != nil && dc.Present
			col := Column{Name: def.name, Kind: def.kind}
			switch {
			case !sp && !dp:
			case !dp:
				col = *sc
			case !sp:
				col = *dc
			default:
				switch def.kind {
				case Simple:
					col = *sc
					if !refReconcile(sc.Cell, dc.Cell) {
						col = *dc
					}
				case List:
					sm, _ := columnMaxTime(sc)
					dm, _ := columnMaxTime(dc)
					col = *dc
					if sm > dm || sm == dm && bytes.Compare(serialise(sc), serialise(dc)) > 0 {
						col = *sc
					}
				default:
					col = Column{Name: def.name, Kind: def.kind, Present: true}
					byKey := map[string]Cell{}
					for _, e := range sc.Elems {
						byKey[string(e.Key)] = e.Cell
					}
					for _, e := range dc.Elems {
						if c, ok := byKey[string(e.Key)]; !ok || !refReconcile(c, e.Cell) {
							byKey[string(e.Key)] = e.Cell
						}
					}
					for k, c := range byKey {
						col.Elems = append(col.Elems, Elem{Key: []byte(k), Cell: c})
					}
				}
			}
			row.Columns = append(row.Columns, col)
		}
		out.Rows = append(out.Rows, row)
	}
	return view(out)
}

// expectNewestBy: per row the version with the larger pos (absent smaller), lww on a tie.
func expectNewestBy(src, dst *Partition, col string) map[string]string {
	sr, dr := rowsByCK(src), rowsByCK(dst)
	out := map[string]string{}
	for k, s := range sr {
		d := dr[k]
		if d == nil {
			addView(out, s)
			continue
		}
		switch c := cmpApp(colOf(s, col), colOf(d, col)); {
		case c > 0:
			addView(out, s)
		case c < 0:
			addView(out, d)
		default:
			for kk, v := range expectLWW(&Partition{Key: src.Key, Rows: []Row{*s}}, &Partition{Key: src.Key, Rows: []Row{*d}}) {
				out[kk] = v
			}
		}
	}
	for k, d := range dr {
		if sr[k] == nil {
			addView(out, d)
		}
	}
	return out
}

func addView(out map[string]string, r *Row) {
	for k, v := range view(&Partition{Rows: []Row{*r}}) {
		out[k] = v
	}
}

func cmpApp(a, b *Column) int {
	ap := a != nil && a.Present && !a.Cell.Deleted
	bp := b != nil && b.Present && !b.Cell.Deleted
	switch {
	case ap && bp:
		return refBigint(a.Cell.Value, b.Cell.Value)
	case ap:
		return 1
	case bp:
		return -1
	}
	return 0
}

// refBigint is the model's order of the generated application values, bigints (8 bytes, signed);
// anything else compares as bytes.
func refBigint(a, b []byte) int {
	if len(a) == 8 && len(b) == 8 {
		return cmp.Compare(int64(binary.BigEndian.Uint64(a)), int64(binary.BigEndian.Uint64(b)))
	}
	return bytes.Compare(a, b)
}

// expectHistory: title = clustering component 0, position pos, time at, capped at n titles.
func expectHistory(src, dst *Partition, n int) map[string]string {
	type cand struct {
		row    *Row
		inDst  bool
		title  string
		latest *Column
	}
	sr, dr := rowsByCK(src), rowsByCK(dst)
	better := func(a, b cand) bool { // a strictly better than b
		if c := cmpApp(colOf(a.row, "pos"), colOf(b.row, "pos")); c != 0 {
			return c > 0
		}
		if c := cmpApp(colOf(a.row, "at"), colOf(b.row, "at")); c != 0 {
			return c > 0
		}
		if a.inDst != b.inDst {
			return a.inDst
		}
		return bytes.Compare(a.row.Clustering[0], b.row.Clustering[0]) > 0
	}
	later := func(a, b *Column) *Column {
		if cmpApp(b, a) > 0 {
			return b
		}
		return a
	}
	var cands []cand
	for k, s := range sr {
		c := cand{row: s, title: string(s.Clustering[0]), latest: colOf(s, "at")}
		if d := dr[k]; d != nil {
			dc := cand{row: d, inDst: true, title: c.title, latest: later(colOf(s, "at"), colOf(d, "at"))}
			c.inDst, c.latest = true, dc.latest
			if !better(c, dc) {
				c = dc
			}
		}
		cands = append(cands, c)
	}
	for k, d := range dr {
		if sr[k] == nil {
			cands = append(cands, cand{row: d, inDst: true, title: string(d.Clustering[0]), latest: colOf(d, "at")})
		}
	}
	best := map[string]cand{}
	latest := map[string]*Column{}
	for _, c := range cands {
		if b, ok := best[c.title]; !ok || better(c, b) {
			best[c.title] = c
		}
		latest[c.title] = later(latest[c.title], c.latest)
	}
	var kept []cand
	for t, c := range best {
		c.latest = colOf(c.row, "at") // the entry's own time unless a strictly later one was seen
		if cmpApp(latest[t], c.latest) > 0 {
			c.latest = latest[t]
		}
		kept = append(kept, c)
	}
	sort.Slice(kept, func(i, j int) bool {
		if c := cmpApp(kept[i].latest, kept[j].latest); c != 0 {
			return c > 0
		}
		return kept[i].title < kept[j].title
	})
	if len(kept) > n {
		kept = kept[:n]
	}
	out := map[string]string{}
	for _, c := range kept {
		row := *c.row
		row.Columns = append([]Column(nil), row.Columns...)
		for i := range row.Columns {
			if row.Columns[i].Name == "at" && c.latest != nil {
				row.Columns[i] = *c.latest
			}
		}
		addView(out, &row)
	}
	return out
}
