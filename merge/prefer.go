package merge

const (
	namePreferSource      = "prefer-source"
	namePreferDestination = "prefer-destination"
)

// prefer takes the whole partition from one side where both sides hold it. With the source
// preferred, the destination's copy is made equal to the source's: source cells are written (above
// the destination's where those are newer), destination-only cells and rows are deleted. With the
// destination preferred, a partition the destination holds is left as it is (the destination already
// holds every cell of the answer, so nothing is written), and a partition it lacks is copied.
type prefer struct{ source bool }

func newPreferSource(opts map[string]any) (Resolver, error) {
	if err := (options{namePreferSource, opts}).known(); err != nil {
		return nil, err
	}
	return prefer{source: true}, nil
}

func newPreferDestination(opts map[string]any) (Resolver, error) {
	if err := (options{namePreferDestination, opts}).known(); err != nil {
		return nil, err
	}
	return prefer{source: false}, nil
}

// Name implements Resolver.
func (p prefer) Name() string {
	if p.source {
		return namePreferSource
	}
	return namePreferDestination
}

// NeedsDestination implements Resolver: both need to know whether the destination holds the partition.
func (prefer) NeedsDestination() bool { return true }

// Resolve implements Resolver.
func (p prefer) Resolve(src, dst *Partition) (Resolution, error) {
	if dst == nil || len(dst.Rows) == 0 {
		return copyAll(src), nil
	}
	var w writer
	w.init(src, dst)
	srcTo, dstMatched := matchRows(src.Rows, dst.Rows)
	for i := range src.Rows {
		s := &src.Rows[i]
		var d *Row
		if srcTo[i] >= 0 {
			d = &dst.Rows[srcTo[i]]
		}
		switch {
		case p.source:
			replaceRow(&w, s, d)
		case d != nil:
			recordConflicts(&w, s, d)
		}
	}
	if p.source {
		for j := range dst.Rows {
			if !dstMatched[j] {
				w.deleteRow(&dst.Rows[j], nil)
			}
		}
	}
	return w.resolution(), nil
}
