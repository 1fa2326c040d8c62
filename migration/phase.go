package migration

import (
	"fmt"
	"slices"
)

// Phases are the phases of a migration in order, by the names dualwrite.ParsePhase accepts.
var Phases = []string{"primary-only", "dual", "dual-flipped", "secondary-only"}

// phaseIndex returns the position of p in Phases, or an error wrapping ErrUnknownPhase.
func phaseIndex(p string) (int, error) {
	i := slices.Index(Phases, p)
	if i < 0 {
		return 0, fmt.Errorf("%w %q: use primary-only, dual, dual-flipped or secondary-only", ErrUnknownPhase, p)
	}
	return i, nil
}

// CheckStep says whether a migration may go from phase from to phase to: one step forward or back
// along Phases. from == "" is a migration that does not exist yet: it starts at primary-only.
// Anything else wraps ErrSkippedStep (or ErrSamePhase) unless force is set; an unknown phase is
// refused even with force.
func CheckStep(from, to string, force bool) error {
	ti, err := phaseIndex(to)
	if err != nil {
		return err
	}
	if from == "" {
		if ti != 0 && !force {
			return fmt.Errorf("%w: a new migration starts at primary-only, not %s (--force to start elsewhere)", ErrSkippedStep, to)
		}
		return nil
	}
	fi, err := phaseIndex(from)
	if err != nil {
		return err
	}
	switch d := ti - fi; {
	case d == 0:
		if !force {
			return fmt.Errorf("%w: already %s (--force to publish a new epoch of the same phase)", ErrSamePhase, to)
		}
	case d > 1 || d < -1:
		if !force {
			return fmt.Errorf("%w: %s → %s skips %s (one step at a time, or --force)", ErrSkippedStep, from, to, Phases[fi+sign(d)])
		}
	}
	return nil
}

func sign(d int) int {
	if d < 0 {
		return -1
	}
	return 1
}

// Authority is the side a phase reads from: "primary" or "secondary".
func Authority(phase string) string {
	if i, _ := phaseIndex(phase); i >= 2 {
		return "secondary"
	}
	return "primary"
}

// DualWrites reports whether every write of phase reaches both sides (dual, dual-flipped): the
// phases in which forklift may copy.
func DualWrites(phase string) bool { return phase == "dual" || phase == "dual-flipped" }
