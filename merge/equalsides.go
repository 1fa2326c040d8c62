package merge

// EqualSides is a Resolver that declares what it does with two identical sides: the source and
// destination versions of a partition that hold the same rows and the same cells (values,
// writetimes, expiries). A resolver that implements it and answers true promises that
// Resolve(p, q) then writes nothing and quarantines nothing, for every such p and q.
//
// forklift's verify relies on it: equal subrange hashes mean "nothing to write" only for such a
// resolver, so it skips the comparison there. A resolver that is not the identity on equal inputs
// (a cap on a history's length, a scrub of some value, a custom Decide that overrides a column)
// must not declare it; verify then resolves every partition instead of trusting equal hashes. A
// resolver that does not implement EqualSides is treated as one that may write.
type EqualSides interface {
	Resolver
	// EqualSidesWriteNothing reports whether identical sides are always resolved to no write
	// and no quarantine.
	EqualSidesWriteNothing() bool
}

// WritesNothingOnEqualSides reports whether r declares (EqualSides) that two identical sides need
// no write. True for lww, union, prefer-source, prefer-destination, newest-by and a quarantine
// around one of them; false for any resolver that does not declare it.
func WritesNothingOnEqualSides(r Resolver) bool {
	e, ok := r.(EqualSides)
	return ok && e.EqualSidesWriteNothing()
}

// EqualSidesWriteNothing implements EqualSides: equal cells reconcile to themselves.
func (lww) EqualSidesWriteNothing() bool { return true }

// EqualSidesWriteNothing implements EqualSides: every row is on both sides, merged by lww.
func (union) EqualSidesWriteNothing() bool { return true }

// EqualSidesWriteNothing implements EqualSides: the preferred side is the destination's already.
func (prefer) EqualSidesWriteNothing() bool { return true }

// EqualSidesWriteNothing implements EqualSides: equal application columns tie, and a tie merges
// by lww.
func (newestBy) EqualSidesWriteNothing() bool { return true }

// EqualSidesWriteNothing implements EqualSides: identical sides never disagree, so the inner
// resolver decides; true when it declares the property.
func (q quarantine) EqualSidesWriteNothing() bool { return WritesNothingOnEqualSides(q.inner) }
