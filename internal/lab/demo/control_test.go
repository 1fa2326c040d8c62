package demo

import (
	"strings"
	"testing"
)

func controlRun() ControlPlane {
	c := ControlPlane{Migration: "demo-eu-1", Keyspace: controlKS, Instances: []string{"eu-1", "eu-2", "eu-3"}}
	for e, p := range []string{"primary-only", "dual", "dual-flipped", "secondary-only"} {
		n := 3
		if e == 0 {
			n = 0 // set before the instances started: they apply it at Open
		}
		c.Sets = append(c.Sets, PhaseSet{Phase: p, Epoch: int64(e + 1), At: float64(10 * e), AckSeconds: 0.8, Instances: n})
		for _, in := range c.Instances {
			c.Flips = append(c.Flips, InstanceFlip{Instance: in, Epoch: int64(e + 1), Phase: p, At: float64(10*e) + 0.5})
		}
	}
	return c
}

// The control plane's verdict passes a run where every instance applied every epoch, and reports
// each planted violation.
func TestControlVerdict(t *testing.T) {
	if ok, detail := controlRun().verdict(); !ok {
		t.Fatalf("a good run fails: %s", detail)
	}
	for name, plant := range map[string]func(*ControlPlane) string{
		"an instance skipped an epoch": func(c *ControlPlane) string {
			c.Flips = append(c.Flips[:5], c.Flips[6:]...) // eu-3's epoch 2
			return "eu-3 never applied epoch 2"
		},
		"an epoch nobody set": func(c *ControlPlane) string {
			c.Flips = append(c.Flips, InstanceFlip{Instance: "eu-2", Epoch: 9, Phase: "dual"})
			return "eu-2 applied epoch 9, never set"
		},
		"set --wait returned before every instance": func(c *ControlPlane) string {
			c.Sets[2].Instances = 2
			return "epoch 3 acknowledged by 2 instances"
		},
		"nothing set": func(c *ControlPlane) string {
			c.Sets = nil
			return "no phase set"
		},
	} {
		c := controlRun()
		want := plant(&c)
		if ok, detail := c.verdict(); ok || !strings.Contains(detail, want) {
			t.Errorf("%s: verdict %v %q, want a failure naming %q", name, ok, detail, want)
		}
	}
}

// Each instance's flips are on the timeline as its own lane, and a flip missing from it is a
// timeline problem; the page draws one lane per instance.
func TestInstanceLanes(t *testing.T) {
	r := &Report{Control: controlRun()}
	rec := newRecorder(r.Started, 1e9)
	for _, in := range r.Control.Instances {
		for e := 0; e < 4; e++ {
			rec.phase(instanceLane+in, "phase")()
		}
	}
	r.Timeline = rec.finish()
	r.Timeline.Seconds = 40
	for _, p := range r.TimelineProblems() {
		if strings.Contains(p, "instance") {
			t.Errorf("complete lanes reported: %s", p)
		}
	}
	svg := wideGeom.timelineSVG(&r.Timeline)
	for _, in := range r.Control.Instances {
		if !strings.Contains(svg, ">"+in+"</text>") {
			t.Errorf("no lane labelled %s on the timeline", in)
		}
	}
	r.Timeline.Phases = r.Timeline.Phases[1:] // eu-1 loses a span
	found := false
	for _, p := range r.TimelineProblems() {
		found = found || strings.Contains(p, "instance eu-1: 4 flips recorded, 3 on its timeline lane")
	}
	if !found {
		t.Errorf("a missing flip not reported: %v", r.TimelineProblems())
	}
}
