package chaos

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// Overlapping skews of one region compose: the writers' offset is the sum of the skews active, and
// healing one leaves the others.
func TestOverlappingSkewsCompose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "control.json")
	f, err := NewControlFault(path, Regions)
	if err != nil {
		t.Fatal(err)
	}
	a := Step{At: time.Second, Kind: KindSkew, Target: "us-east-1", Dur: 6 * time.Second, Arg: "500ms"}
	b := Step{At: 3 * time.Second, Kind: KindSkew, Target: "us-east-1", Dur: 6 * time.Second, Arg: "-200ms"}
	skew := func(want int64, after string) {
		t.Helper()
		c, err := ReadControl(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Skew["us-east-1"]; got != want {
			t.Fatalf("after %s: us-east-1 skew %d ms, want %d", after, got, want)
		}
	}
	for _, s := range []struct {
		start bool
		st    Step
		want  int64
		what  string
	}{{true, a, 500, "start +500ms"}, {true, b, 300, "start -200ms"}, {false, a, -200, "heal +500ms"}, {false, b, 0, "heal -200ms"}} {
		if s.start {
			err = f.Start(ctx, s.st)
		} else {
			err = f.Stop(ctx, s.st)
		}
		if err != nil {
			t.Fatal(err)
		}
		skew(s.want, s.what)
	}
}

// The campaign's SecondInvalidation is configured from the schedule's largest composed skew, within
// the library's contract (≥ TombstoneTTL + 2 × skew, whole seconds as SQS delays are).
func TestSecondInvalidationWithinTheContract(t *testing.T) {
	s := Schedule{Steps: []Step{
		{At: time.Second, Kind: KindSkew, Target: "us-east-1", Dur: 6 * time.Second, Arg: "2s"},
		{At: 3 * time.Second, Kind: KindSkew, Target: "us-east-1", Dur: 6 * time.Second, Arg: "2.5s"},
		{At: 4 * time.Second, Kind: KindSkew, Target: "eu-west-1", Dur: 1 * time.Second, Arg: "-1s"},
	}}
	if got := MaxSkew(s); got != 4500*time.Millisecond {
		t.Fatalf("largest composed skew %s, want 4.5s", got)
	}
	si := SecondInvalidationFor(10*time.Second, MaxSkew(s))
	if si < 10*time.Second+9*time.Second || si%time.Second != 0 {
		t.Fatalf("second invalidation %s: below TombstoneTTL + 2 × skew (19s) or not whole seconds", si)
	}
	// A history whose skews breach the configured bound is a finding, not a violation.
	b := &pb{}
	b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}) // a history with no operation is itself a violation
	b.nem(KindSkew, "us-east-1", "start 2s", "")
	b.nem(KindSkew, "us-east-1", "start 2.5s", "")
	b.nem(KindSkew, "us-east-1", "end 2s", "")
	b.nem(KindSkew, "us-east-1", "end 2.5s", "")
	b.drained()
	rows := both(map[int]RowState{1: row("va", 10)})
	r := Check(b.ops, Final{Rows: rows}, CheckOptions{TombstoneTTL: 10 * time.Second, SecondInvalidation: 15 * time.Second})
	if len(r.Violations) != 0 || len(r.Findings) != 1 || !strings.Contains(r.Findings[0], "contract") {
		t.Fatalf("violations %v findings %v, want one contract finding", r.Violations, r.Findings)
	}
	r = Check(b.ops, Final{Rows: rows}, CheckOptions{TombstoneTTL: 10 * time.Second, SecondInvalidation: 20 * time.Second})
	if len(r.Violations) != 0 || len(r.Findings) != 0 {
		t.Fatalf("findings %v within the contract", r.Findings)
	}
}

// A schedule without a skew still gives the writers a SecondInvalidation their cachesync clients
// accept (their MaxClockSkew is cachesync's default): before, 11 s for a 10 s TTL, below their
// 12 s, and every writer of a run without skew faults refused to start (a run with no operation).
func TestSecondInvalidationWithoutSkew(t *testing.T) {
	for _, skew := range []time.Duration{0, 300 * time.Millisecond, 4500 * time.Millisecond} {
		si := SecondInvalidationFor(10*time.Second, skew)
		if err := cachesync.CheckSecondInvalidation(si, 10*time.Second, max(skew, cachesync.DefaultMaxClockSkew)); err != nil {
			t.Fatalf("skew %s: %v", skew, err)
		}
	}
}
