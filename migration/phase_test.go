package migration

import (
	"errors"
	"testing"
)

func TestCheckStep(t *testing.T) {
	cases := []struct {
		from, to string
		force    bool
		want     error
	}{
		{"", "primary-only", false, nil},
		{"", "dual", false, ErrSkippedStep},
		{"", "dual", true, nil},
		{"primary-only", "dual", false, nil},
		{"dual", "dual-flipped", false, nil},
		{"dual-flipped", "secondary-only", false, nil},
		{"dual-flipped", "dual", false, nil}, // rollback, one step
		{"dual", "primary-only", false, nil},
		{"primary-only", "dual-flipped", false, ErrSkippedStep},
		{"primary-only", "dual-flipped", true, nil},
		{"primary-only", "secondary-only", false, ErrSkippedStep},
		{"secondary-only", "dual", false, ErrSkippedStep},
		{"dual", "dual", false, ErrSamePhase},
		{"dual", "dual", true, nil},
		{"dual", "both", true, ErrUnknownPhase},
		{"dual", "", true, ErrUnknownPhase},
		{"bogus", "dual", false, ErrUnknownPhase},
	}
	for _, c := range cases {
		err := CheckStep(c.from, c.to, c.force)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("CheckStep(%q, %q, force=%v) = %v, want %v", c.from, c.to, c.force, err, c.want)
		}
	}
}

// TestCheckStepModel walks random sequences of requested phases and checks, after every step,
// that the accepted ones never move more than one step unless forced (the model: index distance).
func TestCheckStepModel(t *testing.T) {
	for from := -1; from < len(Phases); from++ {
		for to := range Phases {
			for _, force := range []bool{false, true} {
				f := ""
				if from >= 0 {
					f = Phases[from]
				}
				err := CheckStep(f, Phases[to], force)
				var ok bool
				switch {
				case force:
					ok = true
				case from < 0:
					ok = to == 0
				default:
					d := to - from
					ok = d == 1 || d == -1
				}
				if ok != (err == nil) {
					t.Errorf("%q → %q force=%v: err %v, model says allowed=%v", f, Phases[to], force, err, ok)
				}
			}
		}
	}
}

func TestAuthorityAndDualWrites(t *testing.T) {
	want := map[string][2]any{"primary-only": {"primary", false}, "dual": {"primary", true},
		"dual-flipped": {"secondary", true}, "secondary-only": {"secondary", false}}
	for p, w := range want {
		if Authority(p) != w[0] || DualWrites(p) != w[1] {
			t.Errorf("%s: authority %s dual %v, want %v", p, Authority(p), DualWrites(p), w)
		}
	}
}

func TestBehind(t *testing.T) {
	f := Fleet{Live: []Heartbeat{{Instance: "a", Epoch: 3}, {Instance: "b", Epoch: 2}}, Stale: []Heartbeat{{Instance: "c", Epoch: -1}}}
	b := f.Behind(3)
	if len(b) != 2 || b[0].Instance != "b" || b[1].Instance != "c" {
		t.Fatalf("Behind(3) = %+v: a stale instance still blocks", b)
	}
}
