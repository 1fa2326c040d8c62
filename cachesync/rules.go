package cachesync

import (
	"fmt"
	"strings"
)

// Mode is what a key space's writes do in the other regions.
type Mode int

const (
	// Invalidate deletes the key in the other regions (they refill from their own database).
	Invalidate Mode = iota
	// Replicate copies the value to the other regions.
	Replicate
)

// String returns the mode's config name.
func (m Mode) String() string {
	if m == Replicate {
		return "replicate"
	}
	return "invalidate"
}

// ParseMode turns "replicate" or "invalidate" into a Mode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "replicate":
		return Replicate, nil
	case "invalidate":
		return Invalidate, nil
	}
	return 0, fmt.Errorf("cachesync: unknown mode %q: use replicate or invalidate", s)
}

// Rule gives the mode of every key starting with Prefix.
type Rule struct {
	Prefix string `yaml:"prefix"`
	Mode   Mode   `yaml:"-"`
}

// Rules pick a key's mode: the longest matching prefix, else Default.
type Rules struct {
	Default Mode
	Rules   []Rule
}

// Mode returns the mode for key.
func (r Rules) Mode(key string) Mode {
	best, mode := -1, r.Default
	for _, rule := range r.Rules {
		if len(rule.Prefix) > best && strings.HasPrefix(key, rule.Prefix) {
			best, mode = len(rule.Prefix), rule.Mode
		}
	}
	return mode
}
