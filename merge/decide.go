package merge

// Keep says which version of one row a resolver decided stands.
type Keep uint8

const (
	// KeepSource: the source's version of the row stands; the destination's is overwritten.
	KeepSource Keep = iota
	// KeepDestination: the destination's version stands; nothing of the source's is written.
	KeepDestination
	// Drop: neither stands; the destination's row, if any, is deleted.
	Drop
)

// RowDecision is a resolver's verdict on one clustering key: its two versions (nil where a side
// lacks the row), which stands, and optionally a new value for one simple column of the version that
// stands (Column, Value: a value of neither version, such as the latest time seen on either side).
type RowDecision struct {
	Source, Destination *Row
	Keep                Keep
	Column              string
	Value               Cell
}

// Decide turns a custom resolver's row decisions into the Resolution that brings the destination
// there, under the package's timestamp rule (see the package doc): what the destination holds
// exactly is left out, a kept source cell keeps its writetime where it already wins, any other value
// is written above both versions (an override of Column: above every writetime of both row versions,
// so even a column absent on both sides, perhaps nulled by a tombstone no read shows, lands above
// it), a dropped row is deleted above both. Where a destination version
// stands over a different source version, the differing columns are reported as Conflicts. A
// decision to keep a side that lacks the row writes nothing for it; a kept source row the
// destination lacks is always written (a key-only row where the override leaves no cell to write),
// and a kept source row the override leaves with no live cell (a null over its only value) is
// written over the destination's row with Row.Marker, so it stands as the key-only row it now is.
func Decide(src, dst *Partition, rows []RowDecision) Resolution {
	var w writer
	w.init(src, dst)
	for i := range rows {
		d := &rows[i]
		s, x := d.Source, d.Destination
		var ov *override
		if d.Column != "" {
			ov = &override{name: d.Column, cell: d.Value, floor: rowsMaxTime(src, dst, s, x)}
		}
		switch {
		case d.Keep == KeepSource && s != nil:
			replaceRowWith(&w, s, x, ov)
		case d.Keep == KeepDestination && x != nil:
			if s != nil {
				recordConflicts(&w, s, x)
			}
			if ov != nil {
				w.beginRow(x.Static)
				overrideCell(&w, s, x, ov)
				w.endRow(x.Clustering, false)
			}
		case d.Keep == Drop && x != nil:
			w.deleteRow(x, s)
		}
	}
	return w.resolution()
}

// MatchRows pairs the rows of src and dst by clustering key: for each source row the index of the
// destination row with the same key or -1, and for each destination row whether a source row
// matched it.
func MatchRows(src, dst []Row) (srcTo []int32, dstMatched []bool) { return matchRows(src, dst) }

// rowsMaxTime is the newest writetime of the row versions s and x (nil where absent), or, when
// neither holds a cell with a writetime (key-only rows), of the partitions src and dst: the inputs an
// override of one of their columns must be written above (package doc, Timestamps).
func rowsMaxTime(src, dst *Partition, s, x *Row) int64 {
	var t int64
	for _, r := range [2]*Row{s, x} {
		if r != nil {
			t = max(t, rowMaxTime(r))
		}
	}
	if t > 0 {
		return t
	}
	for _, p := range [2]*Partition{src, dst} {
		if p == nil {
			continue
		}
		for i := range p.Rows {
			t = max(t, rowMaxTime(&p.Rows[i]))
		}
	}
	return t
}
