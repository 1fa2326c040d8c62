package merge

const (
	nameLWW   = "lww"
	nameUnion = "union"
)

// lww is last-write-wins, cell by cell, with Cassandra's own reconciliation (see Reconcile).
// Collections: see collection.go. An absent column is older than any present one.
//
// NeedsDestination is false: writing the source cells blind with their own timestamps and TTLs
// lets the destination's reconciliation reach the same result. When forklift does pass the
// destination (sampling, verify, repair), Resolve also reports conflicts and leaves out what the
// destination already holds; a merged set or map is then written above both sides (collection.go),
// which can only differ from a blind copy where the destination holds a collection deletion that a
// CQL read cannot show.
type lww struct{}

func newLWW(opts map[string]any) (Resolver, error) {
	if err := (options{nameLWW, opts}).known(); err != nil {
		return nil, err
	}
	return lww{}, nil
}

// Name implements Resolver.
func (lww) Name() string { return nameLWW }

// NeedsDestination implements Resolver: false, the copy can be blind.
func (lww) NeedsDestination() bool { return false }

// Resolve implements Resolver.
func (lww) Resolve(src, dst *Partition) (Resolution, error) {
	return mergeCells(src, dst, false), nil
}

// union keeps every row of both sides (a clustering-keyed history loses no entry); rows on both sides
// merge cell by cell like lww, except that a live cell is never dropped for a tombstone, so no row
// present on either side disappears. Reads never return tombstones, so on data forklift reads it
// writes the same cells as lww; it needs the destination so that collection merges land (see
// collection.go) and a tombstone in the source cannot delete a destination row.
type union struct{}

func newUnion(opts map[string]any) (Resolver, error) {
	if err := (options{nameUnion, opts}).known(); err != nil {
		return nil, err
	}
	return union{}, nil
}

// Name implements Resolver.
func (union) Name() string { return nameUnion }

// NeedsDestination implements Resolver.
func (union) NeedsDestination() bool { return true }

// Resolve implements Resolver.
func (union) Resolve(src, dst *Partition) (Resolution, error) {
	return mergeCells(src, dst, true), nil
}

// mergeCells merges two partitions cell by cell (lww; union=true: live beats tombstone).
func mergeCells(src, dst *Partition, union bool) Resolution {
	if dst == nil || len(dst.Rows) == 0 {
		return copyAll(src)
	}
	var w writer
	w.init(src, dst)
	srcTo, _ := matchRows(src.Rows, dst.Rows)
	for i := range src.Rows {
		s := &src.Rows[i]
		if srcTo[i] < 0 {
			w.rows = append(w.rows, *s) // only in the source: copied as it is
			continue
		}
		d := &dst.Rows[srcTo[i]]
		w.beginRow(s.Static)
		eachColumn(s, d, func(name string, sc, dc *Column) {
			mergeColumn(&w, s.Clustering, name, sc, dc, union)
		})
		w.endRow(s.Clustering, false)
	}
	return w.resolution()
}

// copyAll is the resolution where the destination holds nothing: the source as it is, sharing its
// memory (a Write is read-only to its user).
func copyAll(src *Partition) Resolution {
	if len(src.Rows) == 0 {
		return Resolution{}
	}
	return Resolution{Write: src}
}

// mergeColumn merges one column of a row present on both sides.
func mergeColumn(w *writer, ck [][]byte, name string, s, d *Column, union bool) {
	kind := Simple
	if s != nil {
		kind = s.Kind
	} else if d != nil {
		kind = d.Kind
	}
	switch kind {
	case Set, Map:
		mergeElems(w, ck, name, kind, s, d, union)
		return
	case List:
		mergeList(w, ck, name, s, d)
		return
	}
	sp, dp := present(s), present(d)
	switch {
	case !sp:
		return // nothing from the source; the destination keeps what it has
	case !dp:
		w.putCell(name, s.Cell)
		return
	}
	sc, dc := s.Cell, d.Cell
	srcWins := wins(sc, dc)
	if union && sc.Deleted != dc.Deleted {
		srcWins = !sc.Deleted
	}
	if !sameValue(sc, dc) {
		kept := "destination"
		if srcWins {
			kept = "source"
		}
		w.conflict(ck, name, sc, dc, kept)
	}
	if !srcWins {
		return
	}
	if c, ok := plan(sc, true, &sc, &dc); ok {
		w.putCell(name, c)
	}
}
