package merge

import (
	"fmt"
	"math"
	"sort"
)

// options reads one resolver's YAML options and turns every mistake into an error that names the
// resolver and the option and wraps ErrBadOption.
type options struct {
	resolver string
	m        map[string]any
}

// known rejects any option not in allowed, so a typo is an error and never a silent default.
func (o options) known(allowed ...string) error {
	var bad []string
	for k := range o.m {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("merge: %s: option %q is not known (options: %v): %w", o.resolver, bad[0], allowed, ErrBadOption)
}

func (o options) string(key string, required bool) (string, error) {
	v, ok := o.m[key]
	if !ok {
		if required {
			return "", fmt.Errorf("merge: %s: option %q is required: %w", o.resolver, key, ErrBadOption)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("merge: %s: option %q must be a non-empty string, got %T %v: %w", o.resolver, key, v, v, ErrBadOption)
	}
	return s, nil
}

// int accepts the integer kinds YAML and JSON decoders produce (int, int64, uint64, float64 holding
// an integer) within [lo, hi].
func (o options) int(key string, required bool, lo, hi int) (int, bool, error) {
	v, ok := o.m[key]
	if !ok {
		if required {
			return 0, false, fmt.Errorf("merge: %s: option %q is required: %w", o.resolver, key, ErrBadOption)
		}
		return 0, false, nil
	}
	var n int64
	good := true
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt64 {
			good = false
		}
		n = int64(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			good = false
		}
		n = int64(x)
	default:
		good = false
	}
	if !good || n < int64(lo) || n > int64(hi) {
		return 0, false, fmt.Errorf("merge: %s: option %q must be an integer in [%d, %d], got %T %v: %w", o.resolver, key, lo, hi, v, v, ErrBadOption)
	}
	return int(n), true, nil
}

func (o options) strings(key string) ([]string, error) {
	v, ok := o.m[key]
	if !ok {
		return nil, nil
	}
	bad := fmt.Errorf("merge: %s: option %q must be a non-empty list of column names, got %T %v: %w", o.resolver, key, v, v, ErrBadOption)
	var out []string
	switch x := v.(type) {
	case []string:
		out = append(out, x...)
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, bad
			}
			out = append(out, s)
		}
	default:
		return nil, bad
	}
	if len(out) == 0 {
		return nil, bad
	}
	for _, s := range out {
		if s == "" {
			return nil, bad
		}
	}
	return out, nil
}

func (o options) mapping(key string) (map[string]any, error) {
	v, ok := o.m[key]
	if !ok {
		return nil, nil
	}
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("merge: %s: option %q must be a mapping of options, got %T: %w", o.resolver, key, v, ErrBadOption)
}
