package chaos

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// Clean twins and model tests of the fourth checker pass's fixes (attack4_test.go).

// byKeyOf groups the writes of a planted history by key, as Check does.
func byKeyOf(h []Op) map[int][]writeOp {
	byKey := map[int][]writeOp{}
	for _, c := range Pair(h) {
		if len(c.Invoke.Muts) == 0 {
			continue
		}
		w := writeOp{c: c, ts: c.Invoke.TS}
		for k := range keysOf(c.Invoke.Muts) {
			byKey[k] = append(byKey[k], w)
		}
	}
	return byKey
}

// exhaustiveVerdict is the search explainOutcomes replaces, kept as the model: every choice of
// the writes of unknown outcome is tried against every cell they touch; the cells no choice
// explains are set aside; the state is explained when one choice explains all the others.
func exhaustiveVerdict(f Final, byKey map[int][]writeOp) bool {
	index := map[string]int{}
	var keys []int
	for k, ws := range byKey {
		keys = append(keys, k)
		for _, w := range ws {
			if w.c.Outcome != OK && w.mayHave() {
				if _, ok := index[w.c.Invoke.ID]; !ok {
					index[w.c.Invoke.ID] = len(index)
				}
			}
		}
	}
	slices.Sort(keys)
	var cells []outcomeCell
	for _, side := range sortedKeys(f.Rows) {
		for _, k := range keys {
			ws := heldBy(byKey[k], f.Holds[side])
			cells = append(cells, outcomeCell{side: side, k: k})
			for _, e := range elementsOf(ws, k, f.Rows[side][k].Tags) {
				cells = append(cells, outcomeCell{side: side, k: k, elem: e})
			}
		}
	}
	explains := func(c outcomeCell, choice int) bool {
		return explainsCell(f, byKey, c, func(w writeOp) bool {
			i, ok := index[w.c.Invoke.ID]
			return w.c.Outcome == OK || (ok && choice&(1<<i) != 0)
		})
	}
	var judged []outcomeCell
	for _, c := range cells {
		for choice := 0; choice < 1<<len(index); choice++ {
			if explains(c, choice) {
				judged = append(judged, c)
				break
			}
		}
	}
	for choice := 0; choice < 1<<len(index); choice++ {
		ok := true
		for _, c := range judged {
			if !explains(c, choice) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// The search's verdict is the exhaustive one's, on random histories of up to 12 writes of
// unknown outcome (batches over 3 keys: updates, deletes, adds and removes of 2 elements, ties
// included) and random final states, explained or not.
func TestChk4SearchAgreesWithTheExhaustiveOne(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	bad, good := 0, 0
	for iter := 0; iter < 1500; iter++ {
		b := &pb{}
		n := 4 + rng.Intn(9)
		for i := 0; i < n; i++ {
			var muts []Mut
			for _, k := range rng.Perm(3)[:1+rng.Intn(2)] {
				k++
				switch rng.Intn(5) {
				case 0, 1:
					muts = append(muts, Mut{F: FUpdate, K: k, V: fmt.Sprintf("v%d", rng.Intn(3))})
				case 2:
					muts = append(muts, Mut{F: FDelete, K: k})
				case 3:
					muts = append(muts, Mut{F: FAdd, K: k, Elem: fmt.Sprintf("e%d", rng.Intn(2))})
				default:
					muts = append(muts, Mut{F: FRemove, K: k, Elem: fmt.Sprintf("e%d", rng.Intn(2))})
				}
			}
			outcome := OK
			if rng.Intn(3) > 0 {
				outcome = Info
			}
			b.w("writer-us#0", fmt.Sprintf("w%02d", i), outcome, int64(10+rng.Intn(8)), time.Millisecond, muts...)
		}
		byKey := byKeyOf(b.ops)
		rows := map[int]RowState{}
		for k := 1; k <= 3; k++ {
			var r RowState
			if ws := byKey[k]; len(ws) > 0 && rng.Intn(4) > 0 {
				w := ws[rng.Intn(len(ws))]
				for _, m := range w.c.Invoke.Muts {
					if m.K == k && m.F == FUpdate {
						r = row(m.V, w.ts)
					}
				}
			}
			for _, e := range []string{"e0", "e1"} {
				if rng.Intn(2) == 0 {
					r.Tags = append(r.Tags, e)
				}
			}
			rows[k] = r
		}
		f := Final{Rows: map[string]map[int]RowState{globalSide("us-east-1"): rows}}
		want := exhaustiveVerdict(f, byKey)
		vs, fs := explainOutcomes(f, byKey, nil)
		if len(fs) > 0 {
			t.Fatalf("iteration %d: findings %v on a group of at most %d writes", iter, fs, n)
		}
		if got := len(vs) == 0; got != want {
			t.Fatalf("iteration %d: search explained=%v, exhaustive %v; violations %v\nhistory %v\nrows %v", iter, got, want, vs, b.ops, rows)
		}
		if want {
			good++
		} else {
			bad++
		}
	}
	t.Logf("%d final states explained, %d not", good, bad)
	if good < 50 || bad < 50 {
		t.Fatalf("the random states exercise too little: %d explained, %d not", good, bad)
	}
}

// Clean twin of TestAttackChecker4TornBatchInALargeGroupOfUnknownWrites: one of the batches
// applied whole (k2 holds its value), with the eleven losing updates — no violation, no finding.
func TestChk4LargeGroupOfUnknownWritesExplained(t *testing.T) {
	b := &pb{}
	for i := 0; i < 11; i++ {
		b.w("writer-us#0", fmt.Sprintf("x%d", i), Info, int64(50+i), time.Millisecond, Mut{F: FUpdate, K: 1, V: fmt.Sprintf("vx%d", i)})
	}
	b.ok("a", 100, Mut{F: FUpdate, K: 1, V: "va"})
	b.ok("a2", 100, Mut{F: FUpdate, K: 2, V: "v2"})
	b.ok("a3", 100, Mut{F: FUpdate, K: 3, V: "v3"})
	b.w("writer-us#0", "b", Info, 200, time.Millisecond, Mut{F: FAdd, K: 1, Elem: "e1"}, Mut{F: FUpdate, K: 2, V: "vb"})
	b.w("writer-us#0", "c", Info, 210, time.Millisecond, Mut{F: FAdd, K: 1, Elem: "e1"}, Mut{F: FUpdate, K: 3, V: "vc"})
	b.drained()
	k1 := row("va", 100)
	k1.Tags = []string{"e1"}
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: k1, 2: row("vb", 200), 3: row("v3", 100)}, map[int]RowState{})
	r := Check(b.ops, f, attack3Opts)
	if len(r.Violations) != 0 || len(r.Findings) != 0 {
		t.Fatalf("violations %v; findings %v", r.Violations, r.Findings)
	}
}

// A group the search cannot finish within its budget is a finding, never clean by omission:
// 24 batches each adding e to key 1 and removing f from key 2 (f added before by an acknowledged
// write); key 1 holds e (some batch applied) and key 2 lacks f... and holds it: no choice
// explains both; with a budget below the writes to choose, the search runs out before an answer.
func TestChk4UnsearchableGroupIsAFinding(t *testing.T) {
	defer func(n int) { searchBudget = n }(searchBudget)
	searchBudget = 8 // fewer steps than the 24 writes to choose: the search cannot finish
	b := &pb{}
	b.ok("a", 10, Mut{F: FAdd, K: 2, Elem: "f"})
	for i := 0; i < 24; i++ {
		b.w("writer-us#0", fmt.Sprintf("x%02d", i), Info, 20, time.Millisecond, Mut{F: FAdd, K: 1, Elem: "e"}, Mut{F: FRemove, K: 2, Elem: "f"})
	}
	f := Final{Rows: map[string]map[int]RowState{globalSide("us-east-1"): {1: {Tags: []string{"e"}}, 2: {Tags: []string{"f"}}}}}
	vs, fs := explainOutcomes(f, byKeyOf(b.ops), nil)
	if len(vs) != 0 || len(fs) != 1 || !strings.Contains(fs[0], "not judged") || !strings.Contains(fs[0], "x23") {
		t.Fatalf("a group of 24 writes the search cannot finish: violations %v, findings %v; want one finding naming them, not judged", vs, fs)
	}
}

// Clean twin of TestAttackChecker4StaleCacheExcusedByABrokerKillInsideTheResendWindow: the
// publisher's process was killed during the outage (no later line): what it had set aside to
// resend died with it, so the broker's kill may have lost b's events — explained, not a violation.
func TestChk4BrokerKillExcusesWhatThePublisherCouldNotResend(t *testing.T) {
	sec := int64(time.Second)
	b := &pb{}
	b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
	b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
	b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
	b.t += 5 * sec
	b.nem(KindKill, "elasticmq-eu", "start", "")
	b.t += sec
	b.ok("c", 30, Mut{F: FUpdate, K: 2, V: "vc"})
	b.cache("writer-us#0", "c-i0", FCacheDel, RowKey(2), "", OK, 31, "c")
	b.nem(KindKill, "writer-us", "start", "")
	b.t += 2 * sec
	b.nem(KindKill, "elasticmq-eu", "end", "")
	b.nem(KindKill, "writer-us", "end", "")
	b.t += 60 * sec
	b.w("writer-us#1", "d", OK, 40, time.Millisecond, Mut{F: FUpdate, K: 3, V: "vd"})
	b.drained("writer-us#1")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20), 2: row("vc", 30), 3: row("vd", 40)}, map[int]RowState{})
	f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {RowKey(1): {Value: "va", Version: cachesync.Version{Micros: 15, Origin: "eu-west-1"}}}}
	r := Check(b.ops, f, attack3Opts)
	if containsCheck(r, "stale-cache") || len(r.Explained) == 0 {
		t.Fatalf("violations %v; explained %v", r.Violations, r.Explained)
	}
}

// Clean twins of the goroutine, silent-writer and cache-only version fixes: every incarnation
// closed clean, every writer the spills name recorded, a read and an entry of an unknown set at
// its recorded version that is the newest.
func TestChk4CleanTwins(t *testing.T) {
	t.Run("every incarnation closed clean, every named writer recorded", func(t *testing.T) {
		b := &pb{}
		b.ok("a", 10, Mut{F: FUpdate, K: 1, V: "va"})
		b.drained("writer-us#0")
		b.w("writer-usw#0", "b", OK, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
		b.drained("writer-usw#0")
		var f Final
		f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
		f.SpillDrained = map[string]SpillDrain{"chaos-out/replay-us-spill": {}, "chaos-out/replay-usw-spill": {}}
		f.Spill = map[string]int64{"chaos-out/replay-us-spill/q-eu": 0}
		if r := Check(b.ops, f, attack3Opts); len(r.Violations) != 0 {
			t.Fatalf("violations %v", r.Violations)
		}
	})
	t.Run("an unknown set read and held at its recorded version, the newest", func(t *testing.T) {
		sec := int64(time.Second)
		t0 := int64(1_765_000_000) * sec
		key := CacheOnlyKey(1)
		ops := []Op{
			{Time: t0, Type: Invoke, Process: "writer-us#0", ID: "s2", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs2"},
			{Time: t0 + 1000, Type: OK, Process: "writer-us#0", ID: "s2", F: FCacheSet, Region: "us-east-1", Key: key, TS: t0 / 1000},
			{Time: t0 + sec, Type: Invoke, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs1"},
			{Time: t0 + 2*sec, Type: Info, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, TS: (t0 + sec) / 1000, Err: "memcache: connection timeout"},
			{Time: t0 + 3*sec, Type: Invoke, Process: "writer-us#0", ID: "g", F: FCacheGet, Region: "us-east-1", Key: key},
			{Time: t0 + 3*sec + 1000, Type: OK, Process: "writer-us#0", ID: "g", F: FCacheGet, Region: "us-east-1", Key: key, Value: "vs1"},
			{Time: t0 + 30*sec, Type: Drained, Process: "writer-us#0", Region: "us-east-1"},
		}
		var f Final
		f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
		f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {key: {Value: "vs1", Version: cachesync.Version{Micros: (t0 + sec) / 1000, Origin: "us-east-1"}}}}
		if r := Check(ops, f, attack3Opts); len(r.Violations) != 0 {
			t.Fatalf("violations %v", r.Violations)
		}
	})
}

// A component far beyond exhaustive search is decided, both ways: 40 batches of unknown outcome,
// each updating keys 1 and 2 at its own timestamp; keys 1 and 2 hold batch 17's values (explained:
// it applied, none newer did), then key 2 holds batch 23's instead (no choice explains it: a
// torn batch) — no finding either way.
func TestChk4LargeComponentDecided(t *testing.T) {
	for _, k2 := range []int{17, 23} {
		b := &pb{}
		for i := 0; i < 40; i++ {
			b.w("writer-us#0", fmt.Sprintf("x%02d", i), Info, int64(10+i), time.Millisecond,
				Mut{F: FUpdate, K: 1, V: fmt.Sprintf("v1-%d", i)}, Mut{F: FUpdate, K: 2, V: fmt.Sprintf("v2-%d", i)})
		}
		f := Final{Rows: map[string]map[int]RowState{globalSide("us-east-1"): {
			1: row("v1-17", 27), 2: row(fmt.Sprintf("v2-%d", k2), int64(10+k2))}}}
		vs, fs := explainOutcomes(f, byKeyOf(b.ops), nil)
		if len(fs) != 0 || (k2 == 17) != (len(vs) == 0) || (k2 == 23 && vs[0].Check != "torn-batch") {
			t.Fatalf("key 2 from batch %d: violations %v, findings %v", k2, vs, fs)
		}
	}
}

// A final state some choice of whole writes made is always explained, without a finding, however
// many writes of unknown outcome share its keys: random histories of 600 writes (a third of
// unknown outcome, batches over 2 of 8 keys, timestamps with ties), the state built by applying a
// random choice under Cassandra's reconciliation.
func TestChk4LargeRandomStatesExplained(t *testing.T) {
	rng := rand.New(rand.NewSource(44))
	for iter := 0; iter < 5; iter++ {
		b := &pb{}
		for i := 0; i < 600; i++ {
			var muts []Mut
			for _, k := range rng.Perm(8)[:1+rng.Intn(2)] {
				k++
				switch rng.Intn(5) {
				case 0, 1:
					muts = append(muts, Mut{F: FUpdate, K: k, V: fmt.Sprintf("v%d-%d", k, i)})
				case 2:
					muts = append(muts, Mut{F: FDelete, K: k})
				case 3:
					muts = append(muts, Mut{F: FAdd, K: k, Elem: fmt.Sprintf("e%d", rng.Intn(3))})
				default:
					muts = append(muts, Mut{F: FRemove, K: k, Elem: fmt.Sprintf("e%d", rng.Intn(3))})
				}
			}
			outcome := OK
			if rng.Intn(3) == 0 {
				outcome = Info
			}
			b.w("writer-us#0", fmt.Sprintf("w%03d", i), outcome, int64(10+i/2), time.Millisecond, muts...)
		}
		byKey := byKeyOf(b.ops)
		applied := map[string]bool{}
		for _, c := range Pair(b.ops) {
			applied[c.Invoke.ID] = c.Outcome == OK || rng.Intn(2) == 0
		}
		rows := map[int]RowState{}
		for k := 1; k <= 8; k++ {
			var r RowState
			for _, e := range []string{"e0", "e1", "e2"} {
				if explainsCell(Final{Rows: map[string]map[int]RowState{"s": {k: {Tags: []string{e}}}}}, byKey, outcomeCell{side: "s", k: k, elem: e},
					func(w writeOp) bool { return applied[w.c.Invoke.ID] }) {
					r.Tags = append(r.Tags, e)
				}
			}
			// v: the newest applied mutation of v, a tombstone winning a tie, then the greater value.
			var ts int64 = -1
			var v *string
			for _, w := range byKey[k] {
				if !applied[w.c.Invoke.ID] {
					continue
				}
				for _, m := range w.c.Invoke.Muts {
					if m.K != k || (m.F != FUpdate && m.F != FDelete) {
						continue
					}
					switch {
					case w.ts > ts:
					case w.ts < ts:
						continue
					case m.F == FDelete:
					case v == nil || m.V <= *v:
						continue
					}
					ts = w.ts
					v = nil
					if m.F == FUpdate {
						mv := m.V
						v = &mv
					}
				}
			}
			if v != nil {
				r.V, r.VWT = v, ts
			}
			rows[k] = r
		}
		f := Final{Rows: map[string]map[int]RowState{globalSide("us-east-1"): rows, globalSide("eu-west-1"): rows}}
		if vs, fs := explainOutcomes(f, byKey, nil); len(vs) != 0 || len(fs) != 0 {
			t.Fatalf("iteration %d: a state made by whole writes: violations %v, findings %v", iter, vs, fs)
		}
	}
}
