package chaos

import (
	"slices"
	"testing"
	"time"
)

// The twin of TestAttackChecker2StaleCacheFromReplayLagBeyondContract with the replay lag within
// the contract: the follower's copy replayed before b's second invalidation, so a fill after
// that invalidation read "vb" or newer, and the entry "va" is a violation, not a finding.
func TestReplayLagWithinTheContractIsAViolation(t *testing.T) {
	b := &pb{}
	sec := int64(time.Second)
	attackEU(b, "writer-eu#0", "a", OK, 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
	b.nem(KindPause, "cassandra-eu-global", "start", "")
	attackEU(b, "writer-eu#0", "b", OK, 2, "dual", 20, Mut{F: FUpdate, K: 1, V: "vb"})
	tb := b.t
	b.cache("writer-eu#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
	backlog := func(at, n int64) {
		b.ops = append(b.ops, Op{Time: at, Type: Stats, Process: "writer-eu#0", Region: EURegion, Backlog: n})
	}
	backlog(tb+1*sec, 1)
	b.t = tb + 2*sec
	b.nem(KindPause, "cassandra-eu-global", "end", "")
	backlog(tb+3*sec, 0) // replayed 3 s after b: well within SecondInvalidation (11 s)
	b.ops = append(b.ops,
		Op{Time: tb + 13*sec, Type: Invoke, Process: "writer-eu#0", ID: "eu0-0-7-f", F: FCacheFill, Region: EURegion, Key: RowKey(1)},
		Op{Time: tb + 13*sec + int64(20*time.Millisecond), Type: OK, Process: "writer-eu#0", ID: "eu0-0-7-f", F: FCacheFill, Region: EURegion, Key: RowKey(1), Value: "va"})
	b.t = tb + 14*sec
	b.drained("writer-eu#0")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("vb", 20)})
	f.Cache = map[string]map[string]CacheEntry{EURegion: {RowKey(1): {Value: "va"}}}
	r := Check(b.ops, f, CheckOptions{TombstoneTTL: 10 * time.Second, SecondInvalidation: 11 * time.Second})
	if got := checks(r); !slices.Contains(got, "stale-cache") || len(r.Findings) > 0 {
		t.Errorf("a replay lag within the contract: reported %v, findings %v, want stale-cache and no finding", got, r.Findings)
	}
}

// The v twin of TestAttackChecker2IslandDivergesOnTwoEUWritesOfUnknownOutcome: two inserts of
// unknown outcome, one of them on the island only, is a divergence; applied on every side, clean.
func TestTwoUnknownInsertsOnOneSideOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		global map[int]RowState
		want   string
	}{
		{"on the island only", map[int]RowState{}, "diverged"},
		{"on every side", map[int]RowState{1: row("v2", 20)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &pb{}
			attackEU(b, "writer-eu#0", "a1", Info, 2, "dual", 10, Mut{F: FInsert, K: 1, V: "v1"})
			attackEU(b, "writer-eu#0", "a2", Info, 2, "dual", 20, Mut{F: FInsert, K: 1, V: "v2"})
			b.drained("writer-eu#0")
			var f Final
			f.Rows, f.Holds = attackThree(tc.global, map[int]RowState{1: row("v2", 20)})
			r := Check(b.ops, f, CheckOptions{})
			got := checks(r)
			if (tc.want == "" && len(got) > 0) || (tc.want != "" && !slices.Contains(got, tc.want)) {
				t.Errorf("reported %v, want %q: %v", got, tc.want, r.Violations)
			}
		})
	}
}

// The clean twin of TestAttackChecker2HungWriteHiddenByALaterKillOfItsWriter: the write had
// waited one second (within CallerWait) when its writer was killed — no caller-wait.
func TestWriteCutShortByAKillOfItsWriter(t *testing.T) {
	b := &pb{}
	start := b.tick()
	b.ops = append(b.ops, Op{Time: start, Type: Invoke, Process: "writer-us#0", ID: "a", F: FInsert, Region: "us-east-1", Muts: []Mut{{F: FInsert, K: 1, V: "va"}}, TS: 10})
	b.t = start + int64(time.Second)
	b.nem(KindKill, "writer-us", "start", "")
	b.t += int64(time.Minute) // the next incarnation long after: the wait ended at the kill
	b.nem(KindKill, "writer-us", "end", "")
	b.w("writer-us#1", "o", OK, 100, time.Millisecond, Mut{F: FInsert, K: 2, V: "vo"})
	b.drained("writer-us#1")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("va", 10), 2: row("vo", 100)}, map[int]RowState{})
	if r := Check(b.ops, f, CheckOptions{}); len(r.Violations) > 0 {
		t.Errorf("a write killed 1 s into its wait reported: %v", r.Violations)
	}
}
