package merge

import (
	"fmt"
)

const nameQuarantine = "quarantine"

// quarantine wraps another resolver. Where the two sides of a partition disagree beyond its rule it
// writes nothing for the partition and returns a Quarantine holding both versions and the reason, for
// a person to decide; elsewhere it returns the inner resolver's resolution. Rules (at least one):
//
//   - columns: [a, b]: these columns must agree (same value on both sides) in every row both sides
//     hold; a column missing or without a value on one side does not disagree;
//   - max-conflicts: n: at most n conflicting cells (as the inner resolver reports them).
type quarantine struct {
	inner        Resolver
	columns      []string
	maxConflicts int
	hasMax       bool
}

func newQuarantine(opts map[string]any) (Resolver, error) {
	o := options{nameQuarantine, opts}
	if err := o.known("resolver", "options", "columns", "max-conflicts"); err != nil {
		return nil, err
	}
	innerName, err := o.string("resolver", true)
	if err != nil {
		return nil, err
	}
	if innerName == nameQuarantine {
		return nil, fmt.Errorf("merge: quarantine: option %q cannot be quarantine itself: %w", "resolver", ErrBadOption)
	}
	innerOpts, err := o.mapping("options")
	if err != nil {
		return nil, err
	}
	inner, err := New(innerName, innerOpts)
	if err != nil {
		return nil, fmt.Errorf("merge: quarantine: option %q: %w", "resolver", err)
	}
	q := quarantine{inner: inner}
	if q.columns, err = o.strings("columns"); err != nil {
		return nil, err
	}
	if q.maxConflicts, q.hasMax, err = o.int("max-conflicts", false, 0, 1<<30); err != nil {
		return nil, err
	}
	if q.columns == nil && !q.hasMax {
		return nil, fmt.Errorf("merge: quarantine: a rule is required, option %q or %q: %w", "columns", "max-conflicts", ErrBadOption)
	}
	return q, nil
}

// Name implements Resolver.
func (quarantine) Name() string { return nameQuarantine }

// NeedsDestination implements Resolver: a disagreement needs both sides.
func (quarantine) NeedsDestination() bool { return true }

// WithColumnTypes implements Typed: the inner resolver is bound to the table's types.
func (q quarantine) WithColumnTypes(types map[string]string) (Resolver, error) {
	inner, err := WithColumnTypes(q.inner, types)
	if err != nil {
		return nil, fmt.Errorf("merge: quarantine: %w", err)
	}
	q.inner = inner
	return q, nil
}

// WithSchema implements Shaped: the inner resolver is bound to the table (Bind).
func (q quarantine) WithSchema(s Schema) (Resolver, error) {
	inner, err := Bind(q.inner, s)
	if err != nil {
		return nil, fmt.Errorf("merge: quarantine: %w", err)
	}
	q.inner = inner
	return q, nil
}

// Resolve implements Resolver.
func (q quarantine) Resolve(src, dst *Partition) (Resolution, error) {
	res, err := q.inner.Resolve(src, dst)
	if err != nil || res.Quarantine != nil || dst == nil {
		return res, err
	}
	reason := q.disagreement(src, dst)
	if reason == "" && q.hasMax && len(res.Conflicts) > q.maxConflicts {
		reason = fmt.Sprintf("%d conflicting cells > max-conflicts %d (resolver %s)", len(res.Conflicts), q.maxConflicts, q.inner.Name())
	}
	if reason == "" {
		return res, nil
	}
	return Resolution{Conflicts: res.Conflicts, Quarantine: &Quarantine{Reason: reason, Source: src, Destination: dst}}, nil
}

// disagreement names the first row and column of the rule that differ between the sides, or "".
func (q quarantine) disagreement(src, dst *Partition) string {
	if len(q.columns) == 0 {
		return ""
	}
	srcTo, _ := matchRows(src.Rows, dst.Rows)
	for i := range src.Rows {
		if srcTo[i] < 0 {
			continue
		}
		s, d := &src.Rows[i], &dst.Rows[srcTo[i]]
		for _, name := range q.columns {
			sc, dc := column(s, name, -1), column(d, name, -1)
			if !present(sc) || !present(dc) {
				continue
			}
			if sc.Kind == Simple && dc.Kind == Simple {
				if !sameValue(sc.Cell, dc.Cell) {
					return fmt.Sprintf("column %q differs in row %x: source %x, destination %x", name, s.Clustering, sc.Cell.Value, dc.Cell.Value)
				}
			} else if sc.Kind != dc.Kind || differs(sc, dc) {
				return fmt.Sprintf("column %q differs in row %x", name, s.Clustering)
			}
		}
	}
	return ""
}
