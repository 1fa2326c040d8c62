package chaos

import (
	"slices"
	"testing"
	"time"
)

// overlappingPauses is seed 985584's shape (2026-12-07): a writer paused mid-flip while one of its
// writes waits, paused again by the process track before the first pause ends, the write completing
// once the first pause's end resumed it. Each start opens its own window; an end closes the
// earliest open one of its kind and target; a failed start withdraws only its own window.
func overlappingPauses(first bool, failedStart bool) []Op {
	const s = int64(time.Second)
	t0 := int64(1_000) * s
	var ops []Op
	nem := func(at int64, value, err string) {
		ops = append(ops, Op{Time: t0 + at, Type: NemesisEvent, Process: "nemesis", F: KindPause, Target: "writer-eub", Value: value, Err: err})
	}
	mut := []Mut{{F: FInsert, K: 1, V: "va"}}
	ops = append(ops, Op{Time: t0, Type: Invoke, Process: "writer-eub#0", ID: "a", F: FInsert, Region: regionOf("writer-eub#0"), Muts: mut, TS: 10, Phase: "dual", Epoch: 2})
	if first {
		nem(s/10, "start mid-flip", "")
	}
	if failedStart { // recorded before injecting, then with the error: withdraws itself only
		nem(s, "start", "")
		nem(s+1, "start", "regions: writer-eub is not running")
	}
	nem(22*s/10, "start", "")
	if first {
		nem(28*s/10, "end mid-flip", "")
	}
	ops = append(ops, Op{Time: t0 + 32*s/10, Type: OK, Process: "writer-eub#0", ID: "a", F: FInsert, Region: regionOf("writer-eub#0"), TS: 10, LatencyNs: 32 * s / 10})
	nem(56*s/10, "end", "")
	ops = append(ops, Op{Time: t0 + 6*s, Type: Drained, Process: "writer-eub#0", Region: regionOf("writer-eub#0")})
	return ops
}

func TestCheckerOverlappingPausesOfOneWriterExcuseItsWait(t *testing.T) {
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("va", 10)}, map[int]RowState{1: row("va", 10)})
	for _, failed := range []bool{false, true} {
		r := Check(overlappingPauses(true, failed), f, CheckOptions{})
		if slices.Contains(checks(r), "caller-wait") {
			t.Errorf("failed start %v: a write the writer's own pauses covered is reported: %v", failed, r.Violations)
		}
	}
	// Twin: only the later pause, which covers 1 s of the 3.2 s wait (plus 1 s of recovery): judged.
	r := Check(overlappingPauses(false, false), f, CheckOptions{})
	if !slices.Contains(checks(r), "caller-wait") {
		t.Errorf("a 3.2 s write with 2.2 s outside any fault is not reported: %v", r.Violations)
	}
}
