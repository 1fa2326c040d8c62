package forklift

import (
	"errors"
	"fmt"
	"strings"

	"github.com/globalcloud/islands/merge"
)

// checkResolvers builds each configured resolver once, so that an unknown name or a bad option
// is a configuration error (ErrConfig and ErrUnknownResolver: exit 2 in cmd/forklift) found by
// Validate, before any cluster is contacted. Tables built later build their resolver again.
func (c Config) checkResolvers() error {
	bad := func(where string, err error) error {
		return resolverError(fmt.Sprintf("%s: %s", where, strings.TrimPrefix(err.Error(), "merge: ")))
	}
	if c.DefaultResolver != "" {
		// Only the name: the default has no options of its own (a resolver that needs some, such
		// as newest-by, is given per table).
		if _, err := merge.New(c.DefaultResolver, nil); errors.Is(err, merge.ErrUnknownResolver) {
			return bad("default_resolver", err)
		}
	}
	for i, t := range c.Tables {
		if _, err := merge.New(t.Resolver, t.Options); err != nil {
			return bad(fmt.Sprintf("tables[%d] (%s.%s) resolver", i, t.Keyspace, t.Table), err)
		}
	}
	return nil
}

// resolverError is a configuration error about a resolver: it matches both ErrConfig and
// ErrUnknownResolver, and says so once.
type resolverError string

func (e resolverError) Error() string   { return ErrConfig.Error() + ": " + string(e) }
func (e resolverError) Unwrap() []error { return []error{ErrConfig, ErrUnknownResolver} }
