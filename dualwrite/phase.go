package dualwrite

import "fmt"

// Phase is where a migration stands: which sides are written, which is read, which is
// authoritative.
type Phase int32

// The phases in the order a migration goes through them.
const (
	PrimaryOnly Phase = iota
	Dual
	DualFlipped
	SecondaryOnly
)

var phaseNames = [...]string{"primary-only", "dual", "dual-flipped", "secondary-only"}

// String returns the phase's name as it appears in config and metrics.
func (p Phase) String() string {
	if p < 0 || int(p) >= len(phaseNames) {
		return fmt.Sprintf("phase(%d)", int32(p))
	}
	return phaseNames[p]
}

// ParsePhase turns a phase name (primary-only, dual, dual-flipped, secondary-only) into a Phase.
func ParsePhase(s string) (Phase, error) {
	for i, n := range phaseNames {
		if n == s {
			return Phase(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: use primary-only, dual, dual-flipped or secondary-only", ErrUnknownPhase, s)
}

// side names one of the two keyspaces.
type side int

const (
	primarySide side = iota
	secondarySide
)

func (s side) String() string {
	if s == primarySide {
		return "primary"
	}
	return "secondary"
}

func (s side) other() side { return 1 - s }

// leader is the authoritative side of a phase: the one read, and whose answer the caller gets.
func (p Phase) leader() side {
	if p >= DualFlipped {
		return secondarySide
	}
	return primarySide
}

// follows reports whether the phase also writes the non-authoritative side.
func (p Phase) follows() bool { return p == Dual || p == DualFlipped }
