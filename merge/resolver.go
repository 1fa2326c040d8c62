package merge

// Resolver combines the source and destination copies of one partition into what must be written to
// the destination. src is never nil; dst is nil where the destination holds no row of the partition.
// Resolvers are pure: they never modify src or dst and hold no state between calls, so forklift can
// call one from many goroutines.
type Resolver interface {
	// Name is the name the resolver is selected by in forklift's YAML (e.g. "lww", "union").
	Name() string
	// NeedsDestination is false when writing the source cells blind, with their own timestamps and
	// TTLs, gives the same result as Resolve, because Cassandra's reconciliation is the rule (lww).
	// forklift then copies without reading the destination.
	NeedsDestination() bool
	// Resolve returns the resolution of one partition.
	Resolve(src, dst *Partition) (Resolution, error)
}

// Resolution is what a resolver decided for one partition.
type Resolution struct {
	// Write holds the cells to write to the destination, each with the WriteTime and TTL to write it
	// with; cells the destination already holds as they must be are left out. Nil: write nothing.
	Write *Partition
	// Conflicts lists the cells whose two sides disagreed (both present, different values).
	Conflicts []Conflict
	// Quarantine is set where the resolver refused to decide: nothing is written for the partition
	// and both versions are kept for a person.
	Quarantine *Quarantine
}

// Conflict is one cell where both sides hold a value and the values differ.
type Conflict struct {
	Clustering  [][]byte
	Column      string
	Source      Cell
	Destination Cell
	Kept        string // "source", "destination" or "merged"
}

// Quarantine holds both versions of a partition a resolver would not merge, and why.
type Quarantine struct {
	Reason      string
	Source      *Partition
	Destination *Partition
}
