package forklift

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/globalcloud/islands/merge"
)

// A resolver's error is text forklift does not write: a custom resolver (or an older built-in)
// may quote the partition's key or a row's clustering key, which are member data (a member id, an
// email, a title watched). Invariant: an error forklift returns about resolving a partition names
// it by key_hash only, and holds none of the keys of the partition or of its rows on either side
// in any form Go's fmt gives bytes (as they are, %q, %x, %X, %v), resolveError takes them out
// of the resolver's text; errors.Is still sees the resolver's sentinel. The built-in resolvers
// name rows by side and place, never by key, and their options are checked against the table's
// shape when it is opened (merge.Bind), so none of theirs needs it.

// minKeyForm is the shortest form of a key component resolveError takes out of a text: a shorter
// one (the hex of a single byte, a one-digit byte) would take digits out of every number in it.
const minKeyForm = 3

// resolveError is err, returned by t's resolver for src and dst, as forklift returns it: "resolve
// <table> partition (key_hash …): <the resolver's text without keys>", wrapping err.
func resolveError(t *table, src, dst *merge.Partition, err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	seen := map[string]bool{}
	scrub := func(k []byte) {
		if len(k) == 0 || seen[string(k)] {
			return
		}
		seen[string(k)] = true
		x := hex.EncodeToString(k)
		dec := fmt.Sprint(k)
		q := fmt.Sprintf("%q", k)
		for _, f := range []string{string(k), q[1 : len(q)-1], x, strings.ToUpper(x), dec[1 : len(dec)-1]} {
			if len(f) >= minKeyForm {
				text = strings.ReplaceAll(text, f, "…")
			}
		}
	}
	for _, p := range []*merge.Partition{src, dst} {
		if p == nil {
			continue
		}
		for _, k := range p.Key {
			scrub(k)
		}
		for i := range p.Rows {
			for _, k := range p.Rows[i].Clustering {
				scrub(k)
			}
		}
	}
	return &stripped{msg: fmt.Sprintf("resolve %s partition (%s): %s", t.Name(), keyHash(src.Key), text), err: err}
}

// stripped is an error whose text is msg (a wrapped error's text with member data taken out) and
// which wraps err for errors.Is and errors.As.
type stripped struct {
	msg string
	err error
}

func (e *stripped) Error() string { return e.msg }
func (e *stripped) Unwrap() error { return e.err }
