package chaos

import (
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// The twins of attack5_test.go: each changes one thing of an attack's history so that the excuse
// the checker now binds to a write, a region and a fault applies (clean), or so that a bound it
// now enforces is crossed (a violation).
func TestCheckerAttack5Twins(t *testing.T) {
	sec := int64(time.Second)
	ms := int64(time.Millisecond)
	t0 := int64(1_765_000_000) * sec
	us := func(at int64) int64 { return at / 1000 }
	for _, tc := range []struct {
		name string
		want string // "" for clean
		run  func(t *testing.T) Result
	}{
		{"clean: a memcached kill while the set's own second event could still arrive", "", func(t *testing.T) Result {
			key := CacheOnlyKey(1)
			ops := []Op{
				{Time: t0, Type: Invoke, Process: "writer-eu#0", ID: "s1", F: FCacheSet, Region: EURegion, Key: key, Value: "vs1"},
				{Time: t0 + 1000, Type: OK, Process: "writer-eu#0", ID: "s1", F: FCacheSet, Region: EURegion, Key: key, TS: us(t0)},
				{Time: t0 + 5*sec, Type: Invoke, Process: "writer-us#0", ID: "d2", F: FCacheDel, Region: "us-east-1", Key: key},
				{Time: t0 + 5*sec + 1000, Type: OK, Process: "writer-us#0", ID: "d2", F: FCacheDel, Region: "us-east-1", Key: key, TS: us(t0 + 5*sec)},
				{Time: t0 + 6*sec, Type: NemesisEvent, Process: "nemesis", F: KindKill, Target: "memcached-us", Value: "start"},
				{Time: t0 + 7*sec, Type: NemesisEvent, Process: "nemesis", F: KindKill, Target: "memcached-us", Value: "end"},
				{Time: t0 + 120*sec, Type: Drained, Process: "writer-us#0", Region: "us-east-1"},
				{Time: t0 + 120*sec + 1, Type: Drained, Process: "writer-eu#0", Region: EURegion},
			}
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {key: {Value: "vs1", Version: cachesync.Version{Micros: us(t0), Origin: EURegion}}}}
			return Check(ops, f, attack3Opts)
		}},
		{"clean: the writer's own region reads the value of a set that sent only an invalidation", "", func(t *testing.T) Result {
			key := CacheOnlyKey(1)
			ops := []Op{
				{Time: t0, Type: Invoke, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs1"},
				{Time: t0 + sec, Type: Info, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, TS: us(t0),
					Err: `cachesync: invalidate "chaos-c:1" locally (the event went out): memcache: connection timeout`},
				{Time: t0 + 2*sec, Type: Invoke, Process: "writer-us#1", ID: "g", F: FCacheGet, Region: "us-east-1", Key: key},
				{Time: t0 + 2*sec + 1000, Type: OK, Process: "writer-us#1", ID: "g", F: FCacheGet, Region: "us-east-1", Key: key, Value: "vs1"},
				{Time: t0 + 60*sec, Type: Drained, Process: "writer-us#0", Region: "us-east-1"},
				{Time: t0 + 60*sec + 1, Type: Drained, Process: "writer-us#1", Region: "us-east-1"},
			}
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
			return Check(ops, f, attack3Opts)
		}},
		{"clean: a read of a write of unknown outcome that overlapped a node kill", "", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
			b.w("writer-us#0", "x", Info, 30, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vx"})
			b.nem(KindKill, "cassandra-usw", "start", "")
			b.cache("writer-us#0", "f", FCacheFill, RowKey(1), "vx", OK, 0, "")
			b.t += 5 * sec
			b.nem(KindKill, "cassandra-usw", "end", "")
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
			return Check(b.ops, f, attack3Opts)
		}},
		{"diverged: an unanswered write whose disk was lost long after its invoke", "diverged", func(t *testing.T) Result {
			b := &pb{}
			attackEU(b, "writer-eu#0", "a", OK, 0, "dual-flipped", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.nem(KindPause, islandService, "start", "")
			start := b.tick()
			b.ops = append(b.ops, Op{Time: start, Type: Invoke, Process: "writer-eu#0", ID: "b", F: FUpdate, Region: EURegion,
				Muts: []Mut{{F: FUpdate, K: 1, V: "vb"}}, TS: 20, Phase: "dual-flipped"})
			b.ops = append(b.ops,
				Op{Time: start + 100*ms, Type: Stats, Process: "writer-eu#0", Region: EURegion, Backlog: 1},
				Op{Time: start + 5000*ms, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: "start"},
				Op{Time: start + 5010*ms, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: "disk lost", Backlog: 1},
				Op{Time: start + 7000*ms, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: "end"},
				Op{Time: start + 7500*ms, Type: Stats, Process: "writer-eu#1", Region: EURegion, Backlog: 0},
				Op{Time: start + 8000*ms, Type: NemesisEvent, Process: "nemesis", F: KindPause, Target: islandService, Value: "end"},
				Op{Time: start + 9000*ms, Type: Drained, Process: "writer-eu#1", Region: EURegion})
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("va", 10)})
			return Check(b.ops, f, attack3Opts)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run(t)
			switch {
			case tc.want == "" && len(r.Violations) > 0:
				t.Errorf("clean twin reported %v:\n%v", checks(r), r.Violations)
			case tc.want != "" && !containsCheck(r, tc.want):
				t.Errorf("%s not reported; reported %v: %v; explained %v; findings %v", tc.want, checks(r), r.Violations, r.Explained, r.Findings)
			}
		})
	}
}
