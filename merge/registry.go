package merge

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrUnknownResolver: New was given a name no resolver is registered under.
	ErrUnknownResolver = errors.New("unknown resolver")
	// ErrBadOption: an option is unknown, missing, or of the wrong type or range.
	ErrBadOption = errors.New("bad option")
	// ErrMissingColumn: a resolver's rule names a column the partition's rows do not have.
	ErrMissingColumn = errors.New("missing column")
)

// Factory builds a resolver from its options as decoded from YAML (strings, ints, lists as []any,
// maps as map[string]any). It must reject unknown options with an error wrapping ErrBadOption.
type Factory func(opts map[string]any) (Resolver, error)

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Register makes a resolver selectable by name in forklift's YAML. Like database/sql.Register it is
// meant for init functions and panics if name is empty, already taken, or factory is nil: a clash
// is a programming error that must not surface as a wrong merge at run time.
func Register(name string, factory Factory) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" || factory == nil {
		panic("merge: Register with an empty name or a nil factory")
	}
	if _, dup := registry.m[name]; dup {
		panic("merge: Register called twice for resolver " + name)
	}
	registry.m[name] = factory
}

// New returns the resolver registered under name, built with opts (nil means no options).
// Errors wrap ErrUnknownResolver or ErrBadOption and name the resolver and the option.
func New(name string, opts map[string]any) (Resolver, error) {
	registry.RLock()
	f, ok := registry.m[name]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("merge: resolver %q (known: %v): %w", name, Names(), ErrUnknownResolver)
	}
	r, err := f(opts)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Names lists the registered resolver names, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func init() {
	Register(nameLWW, newLWW)
	Register(nameUnion, newUnion)
	Register(namePreferSource, newPreferSource)
	Register(namePreferDestination, newPreferDestination)
	Register(nameNewestBy, newNewestBy)
	Register(nameQuarantine, newQuarantine)
}
