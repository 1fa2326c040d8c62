package migration

import (
	"errors"
	"testing"
)

// The gate judges an instance by the epoch it applied, not only by its phase. Scenario: the
// migration went dual (epoch 1), back to primary-only (epoch 2), and forward to dual again (epoch
// 3). Instance "a" last acknowledged epoch 1 (dual); it may since have switched to epoch 2's
// primary-only (an instance heartbeats after it switches, and a heartbeat can fail) and write the
// source alone until it reads epoch 3. Its heartbeat says "dual", but only an epoch whose every
// later phase writes both sides proves it does now: forklift must not start.
func TestForkliftGateJudgesTheEpochApplied(t *testing.T) {
	hb := func(name string, epoch int64, phase string) Heartbeat {
		return Heartbeat{Instance: name, Region: "us-east-1", Epoch: epoch, Phase: phase}
	}
	for _, tc := range []struct {
		name  string
		state State
		fleet []Heartbeat
		ok    bool
	}{
		{"dual at an epoch before a step back", State{Epoch: 3, Phase: "dual", PreviousPhase: "primary-only"},
			[]Heartbeat{hb("a", 1, "dual"), hb("b", 3, "dual")}, false},
		{"all at the current epoch", State{Epoch: 3, Phase: "dual", PreviousPhase: "primary-only"},
			[]Heartbeat{hb("a", 3, "dual"), hb("b", 3, "dual")}, true},
		{"one behind, both phases dual-write", State{Epoch: 4, Phase: "dual-flipped", PreviousPhase: "dual"},
			[]Heartbeat{hb("a", 3, "dual"), hb("b", 4, "dual-flipped")}, true},
		{"two behind, both later phases dual-write", State{Epoch: 5, Phase: "dual", PreviousPhase: "dual-flipped"},
			[]Heartbeat{hb("a", 3, "dual"), hb("b", 5, "dual")}, true},
		{"three behind: epoch 3's phase is unknown", State{Epoch: 6, Phase: "dual", PreviousPhase: "dual-flipped"},
			[]Heartbeat{hb("a", 3, "dual"), hb("b", 6, "dual")}, false},
		{"an epoch later than the state read", State{Epoch: 3, Phase: "dual", PreviousPhase: "primary-only"},
			[]Heartbeat{hb("a", 4, "dual")}, false},
		{"registered, no phase yet", State{Epoch: 3, Phase: "dual", PreviousPhase: "primary-only"},
			[]Heartbeat{hb("a", -1, ""), hb("b", 3, "dual")}, false},
		{"primary-only now", State{Epoch: 2, Phase: "primary-only", PreviousPhase: "dual"},
			[]Heartbeat{hb("a", 1, "dual")}, false},
	} {
		f := Fleet{State: tc.state, Live: tc.fleet[:1], Stale: tc.fleet[1:]}
		err := forkliftReady("m", f)
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want the gate open", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrNotDualWriting) {
			t.Errorf("%s: %v, want ErrNotDualWriting", tc.name, err)
		}
	}
}
