package chaos

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// The twins of attack3_test.go: each changes one thing of an attack's history so that the
// excuse the checker now binds to a write, a region and a fault applies (clean), or so that a
// bound it now enforces is crossed (a violation): the fixes are neither wider nor narrower than
// the mechanism.

func TestCheckerAttack3Twins(t *testing.T) {
	sec := int64(time.Second)
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		name string
		want string // "" for clean
		run  func(t *testing.T) Result
	}{
		{"clean: both superseding writes lagged beyond the contract (a finding)", "", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.nem(KindPause, "cassandra-usw", "start", "")
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
			b.ok("c", 30, Mut{F: FUpdate, K: 1, V: "vc"})
			b.cache("writer-us#0", "c-i0", FCacheDel, RowKey(1), "", OK, 31, "c")
			b.t += 8 * sec
			b.nem(KindPause, "cassandra-usw", "end", "")
			end := b.t
			for i := int64(1); i <= 17; i += 2 {
				attack3Hints(b, end+i*sec, 1)
			}
			attack3Hints(b, end+19*sec, 0)
			b.t = end + 40*sec
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vc", 30)}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-west-2": {RowKey(1): {Value: "va"}}}
			r := Check(b.ops, f, attack3Opts)
			if len(r.Findings) == 0 {
				t.Errorf("no finding for a replica lag beyond the contract")
			}
			return r
		}},
		{"clean: ElasticMQ-eu killed after faults on the event's path (eu-west-1's agent paused)", "", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 25, "b")
			for i := 0; i < 15; i++ {
				b.nem(KindPause, "agent-eu", "start", "")
				b.t += 20 * sec
				b.nem(KindPause, "agent-eu", "end", "")
			}
			b.nem(KindKill, "elasticmq-eu", "start", "")
			b.nem(KindKill, "elasticmq-eu", "end", "")
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {RowKey(1): {Value: "va"}}}
			return Check(b.ops, f, attack3Opts)
		}},
		{"stale-cache: the own region's lost second event is no excuse when its fills read the authority", "stale-cache", func(t *testing.T) Result {
			b := &pb{}
			attackEU(b, "writer-eu#0", "a", OK, 0, "dual-flipped", 10, Mut{F: FInsert, K: 1, V: "va"})
			attackEU(b, "writer-eu#0", "b", OK, 0, "dual-flipped", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			tb := b.t
			b.cache("writer-eu#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
			b.ops = append(b.ops,
				Op{Time: tb + 5*sec, Type: NemesisEvent, Process: "nemesis", F: KindKill, Target: "elasticmq-eu", Value: "start"},
				Op{Time: tb + 6*sec, Type: NemesisEvent, Process: "nemesis", F: KindKill, Target: "elasticmq-eu", Value: "end"})
			b.t = tb + 30*sec
			b.drained("writer-eu#0")
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("vb", 20)})
			f.Cache = map[string]map[string]CacheEntry{EURegion: {RowKey(1): {Value: "va"}}}
			return Check(b.ops, f, attack3Opts)
		}},
		// Was "clean: the local memcached's timeout excuses the writer's own region" — wrong:
		// failedWrite publishes the delete and its second event goes to the region's own queue
		// too (Publisher.Publish: p.own), delivered after SecondInvalidation while memcached-us
		// is healthy again; the campaign reads caches only after every queue (delayed messages
		// included) drained, so "va" cannot survive it.
		{"stale-cache: the local memcached's timeout does not excuse the writer's own region (its second event went to the own queue)", "stale-cache", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.nem(KindPause, "memcached-us", "start", "")
			b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", Info, 21, "b")
			b.ops[len(b.ops)-1].Err = `cachesync: delete "chaos-row:1" locally (the event went out): memcache: timeout`
			b.t += 2 * sec
			b.nem(KindPause, "memcached-us", "end", "")
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {RowKey(1): {Value: "va"}}}
			return Check(b.ops, f, attack3Opts)
		}},
		{"clean: the local memcached's timeout and the own queue's broker killed before the second event", "", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.nem(KindPause, "memcached-us", "start", "")
			b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", Info, 21, "b")
			b.ops[len(b.ops)-1].Err = `cachesync: delete "chaos-row:1" locally (the event went out): memcache: timeout`
			b.t += 2 * sec
			b.nem(KindPause, "memcached-us", "end", "")
			b.nem(KindKill, "elasticmq-us", "start", "")
			b.nem(KindKill, "elasticmq-us", "end", "")
			b.t += 60 * sec
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {RowKey(1): {Value: "va"}}}
			return Check(b.ops, f, attack3Opts)
		}},
		{"clean: a slow write begun while its writer's flip was in progress", "", func(t *testing.T) Result {
			b := &pb{}
			attackEU(b, "writer-eu#0", "a", OK, 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			at := b.t + 5*sec
			lat := 5500 * ms
			b.ops = append(b.ops,
				Op{Time: at, Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "set dual-flipped", Epoch: 3},
				Op{Time: at + 50*ms, Type: Invoke, Process: "writer-eu#0", ID: "w", F: FUpdate, Region: EURegion, Muts: []Mut{{F: FUpdate, K: 1, V: "vw"}}, TS: 20, Epoch: 3, Phase: "dual-flipped"},
				Op{Time: at + 100*ms, Type: Stats, Process: "writer-eu#0", Region: EURegion, F: "phase", Phase: "dual-flipped", Epoch: 3},
				Op{Time: at + 200*ms, Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "applied dual-flipped", Epoch: 3},
				Op{Time: at + 50*ms + lat, Type: OK, Process: "writer-eu#0", ID: "w", F: FUpdate, Region: EURegion, TS: 20, LatencyNs: lat})
			b.t = at + 10*sec
			b.drained("writer-eu#0")
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vw", 20)}, map[int]RowState{1: row("vw", 20)})
			return Check(b.ops, f, attack3Opts)
		}},
		{"clean: a torn last line of an incarnation, the next incarnation's first line glued to it", "", func(t *testing.T) Result {
			dir := t.TempDir()
			line := func(op Op) []byte { b, _ := json.Marshal(op); return b }
			t0 := int64(1_000_000_000)
			invA := Op{Time: t0, Type: Invoke, Process: "writer-us#0", ID: "a", F: FInsert, Region: "us-east-1", Muts: []Mut{{F: FInsert, K: 1, V: "va"}}, TS: 10}
			okA := Op{Time: t0 + ms, Type: OK, Process: "writer-us#0", ID: "a", F: FInsert, Region: "us-east-1", TS: 10, LatencyNs: ms}
			invB := Op{Time: t0 + 10*ms, Type: Invoke, Process: "writer-us#1", ID: "b", F: FInsert, Region: "us-east-1", Muts: []Mut{{F: FInsert, K: 2, V: "vb"}}, TS: 20}
			okB := Op{Time: t0 + 11*ms, Type: OK, Process: "writer-us#1", ID: "b", F: FInsert, Region: "us-east-1", TS: 20, LatencyNs: ms}
			end := Op{Time: t0 + 20*ms, Type: Drained, Process: "writer-us#1", Region: "us-east-1"}
			var buf []byte
			buf = append(append(buf, line(invA)...), '\n')
			frag := line(okA)
			buf = append(buf, frag[:len(frag)-12]...)
			for _, op := range []Op{invB, okB, end} {
				buf = append(append(buf, line(op)...), '\n')
			}
			path := filepath.Join(dir, "history-writer-us.jsonl")
			if err := os.WriteFile(path, buf, 0o600); err != nil {
				t.Fatal(err)
			}
			h, err := ReadHistory(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 4 {
				t.Errorf("read %d lines, want 4 (the glued line kept): %v", len(h), h)
			}
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("va", 10), 2: row("vb", 20)}, map[int]RowState{})
			return Check(h, f, attack3Opts)
		}},
		{"clean: us-west-2's hints delivered only once the other paused node was back", "", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			p0 := b.t
			b.ops = append(b.ops, Op{Time: p0 + 1, Type: NemesisEvent, Process: "nemesis", F: KindPause, Target: "cassandra-usw", Value: "start"})
			b.t = p0 + 2
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
			b.ops = append(b.ops, Op{Time: p0 + 5*sec, Type: NemesisEvent, Process: "nemesis", F: KindPause, Target: "cassandra-usw", Value: "end"})
			for s := int64(2); s <= 20; s += 2 { // no other node cut: the file is us-west-2's
				attack3Hints(b, p0+s*sec, 1)
			}
			attack3Hints(b, p0+22*sec, 0)
			b.t = p0 + 40*sec
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-west-2": {RowKey(1): {Value: "va"}}}
			return Check(b.ops, f, attack3Opts)
		}},
		{"clean: an unknown set's entry with a version within its time", "", func(t *testing.T) Result {
			t0 := int64(1_765_000_000) * sec
			key := CacheOnlyKey(1)
			ops := []Op{
				{Time: t0, Type: Invoke, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs1"},
				{Time: t0 + sec/2, Type: Info, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, Err: "timeout"},
				{Time: t0 + 30*sec, Type: Drained, Process: "writer-us#0", Region: "us-east-1"},
			}
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {key: {Value: "vs1", Version: cachesync.Version{Micros: t0/1000 + 1000, Origin: "us-east-1"}}}}
			return Check(ops, f, attack3Opts)
		}},
		{"lost-write: a lost disk 2 s after the acknowledgement, outside the documented window", "lost-write", func(t *testing.T) Result {
			b := &pb{}
			attackEU(b, "writer-eu#0", "a", OK, 0, "dual-flipped", 10, Mut{F: FInsert, K: 1, V: "va"})
			attackEU(b, "writer-eu#0", "b", OK, 0, "dual-flipped", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			acked := b.t
			b.ops = append(b.ops,
				Op{Time: acked + 100*ms, Type: Stats, Process: "writer-eu#0", Region: EURegion, Backlog: 1},
				Op{Time: acked + 2000*ms, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: "start"},
				Op{Time: acked + 2010*ms, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: "disk lost", Backlog: 1},
				Op{Time: acked + 4000*ms, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: "end"},
				Op{Time: acked + 4500*ms, Type: Stats, Process: "writer-eu#1", Region: EURegion, Backlog: 0},
				Op{Time: acked + 7000*ms, Type: Drained, Process: "writer-eu#1", Region: EURegion})
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("va", 10)})
			return Check(b.ops, f, attack3Opts)
		}},
		{"stale-cache: another region's copy replayed within the contract", "stale-cache", func(t *testing.T) Result {
			b := &pb{}
			attackEU(b, "writer-eu#0", "a", OK, 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.nem(KindPause, "cassandra-eu-global", "start", "")
			attackEU(b, "writer-eu#0", "b", OK, 2, "dual", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			tb := b.t
			b.cache("writer-eu#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
			b.ops = append(b.ops, Op{Time: tb + sec, Type: Stats, Process: "writer-eu#0", Region: EURegion, Backlog: 1})
			b.t = tb + 2*sec
			b.nem(KindPause, "cassandra-eu-global", "end", "")
			b.ops = append(b.ops, Op{Time: tb + 3*sec, Type: Stats, Process: "writer-eu#0", Region: EURegion, Backlog: 0})
			b.t = tb + 30*sec
			b.drained("writer-eu#0")
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("vb", 20)})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {RowKey(1): {Value: "va"}}}
			return Check(b.ops, f, attack3Opts)
		}},
		{"clean: a fill reads a value once its write was invoked, before its acknowledgement", "", func(t *testing.T) Result {
			b := &pb{}
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "b", OK, 20, 50*time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
			inv := b.ops[len(b.ops)-2].Time
			b.ops = append(b.ops,
				Op{Time: inv + 10*ms, Type: Invoke, Process: "writer-us#1", ID: "f", F: FCacheFill, Region: "us-east-1", Key: RowKey(1)},
				Op{Time: inv + 20*ms, Type: OK, Process: "writer-us#1", ID: "f", F: FCacheFill, Region: "us-east-1", Key: RowKey(1), Value: "vb"})
			b.t += sec
			b.drained("writer-us#0", "writer-us#1")
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
			return Check(b.ops, f, attack3Opts)
		}},
		{"clean: another region reads the older cache-only value after the set", "", func(t *testing.T) Result {
			b := &pb{}
			key := CacheOnlyKey(1)
			b.cache("writer-us#0", "s1", FCacheSet, key, "vs1", OK, 10, "")
			b.cache("writer-us#0", "s2", FCacheSet, key, "vs2", OK, 20, "")
			b.cache("writer-eu#0", "g", FCacheGet, key, "vs1", OK, 0, "")
			b.drained("writer-us#0", "writer-eu#0")
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {key: {Value: "vs2", Version: cachesync.Version{Micros: 20, Origin: "us-east-1"}}}}
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
