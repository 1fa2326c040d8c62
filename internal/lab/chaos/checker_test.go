package chaos

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// history builds a history from compact write descriptions: each op is invoked and completed in
// order, one after the other.
type hb struct {
	ops []Op
	t   int64
}

func (b *hb) write(id string, outcome string, ts int64, muts ...Mut) {
	b.t += 10
	b.ops = append(b.ops, Op{Time: b.t, Type: Invoke, Process: "writer-us#0", ID: id, F: muts[0].F, Region: "us-east-1", Muts: muts, TS: ts, Phase: "dual"})
	b.t += 10
	b.ops = append(b.ops, Op{Time: b.t, Type: outcome, Process: "writer-us#0", ID: id, F: muts[0].F, Region: "us-east-1", LatencyNs: 1000})
}

func (b *hb) drained() {
	b.t += 10
	b.ops = append(b.ops, Op{Time: b.t, Type: Drained, Process: "writer-us#0", Region: "us-east-1"})
}

func sp(s string) *string { return &s }

// both is a final state whose two sides (the global keyspace in us-east-1 and in eu-west-1, each
// holding every writer's writes) hold rows.
func both(rows map[int]RowState) map[string]map[int]RowState { return two(rows, rows) }

// two is a final state with a in the global keyspace's us-east-1 datacenter and b in eu-west-1's.
func two(a, b map[int]RowState) map[string]map[int]RowState {
	return map[string]map[int]RowState{globalSide("us-east-1"): a, globalSide("eu-west-1"): b}
}

func checks(r Result) []string {
	var out []string
	for _, v := range r.Violations {
		out = append(out, v.Check)
	}
	return out
}

func TestCheckerLastWriteWins(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *hb)
		rows  map[string]map[int]RowState
		want  []string
	}{
		{"newest acked value on both sides", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
			b.write("b", OK, 20, Mut{F: FUpdate, K: 1, V: "vb"})
		}, both(map[int]RowState{1: {V: sp("vb"), VWT: 20}}), nil},
		{"acked write lost on the secondary", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
			b.write("b", OK, 20, Mut{F: FUpdate, K: 1, V: "vb"})
		}, two(map[int]RowState{1: {V: sp("vb"), VWT: 20}}, map[int]RowState{1: {V: sp("va"), VWT: 10}}), []string{"lost-write", "diverged"}},
		{"unknown write may win", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
			b.write("b", Info, 20, Mut{F: FUpdate, K: 1, V: "vb"})
		}, both(map[int]RowState{1: {V: sp("vb"), VWT: 20}}), nil},
		{"unknown write may be absent", func(b *hb) {
			b.write("a", Info, 20, Mut{F: FUpdate, K: 1, V: "vb"})
		}, both(map[int]RowState{}), nil},
		{"value nobody wrote", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
		}, both(map[int]RowState{1: {V: sp("zz"), VWT: 10}}), []string{"invented", "invented"}},
		{"wrong writetime", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
		}, both(map[int]RowState{1: {V: sp("va"), VWT: 11}}), []string{"timestamp", "timestamp"}},
		{"delete newest: absent", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
			b.write("d", OK, 20, Mut{F: FDelete, K: 1})
		}, both(map[int]RowState{}), nil},
		{"resurrected after delete", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
			b.write("d", OK, 20, Mut{F: FDelete, K: 1})
		}, both(map[int]RowState{1: {V: sp("va"), VWT: 10}}), []string{"lost-write", "lost-write"}},
		{"set element kept and removed", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FAdd, K: 2, Elem: "e1"})
			b.write("b", OK, 11, Mut{F: FAdd, K: 2, Elem: "e2"})
			b.write("c", OK, 12, Mut{F: FRemove, K: 2, Elem: "e1"})
		}, both(map[int]RowState{2: {Tags: []string{"e2"}}}), nil},
		{"removed element back", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FAdd, K: 2, Elem: "e1"})
			b.write("c", OK, 12, Mut{F: FRemove, K: 2, Elem: "e1"})
		}, both(map[int]RowState{2: {Tags: []string{"e1"}}}), []string{"lost-write", "lost-write"}},
		{"batch: one timestamp, two rows", func(b *hb) {
			b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va-0"}, Mut{F: FAdd, K: 2, Elem: "e3"})
		}, both(map[int]RowState{1: {V: sp("va-0"), VWT: 10}, 2: {Tags: []string{"e3"}}}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &hb{}
			tc.build(b)
			b.drained()
			got := checks(Check(b.ops, Final{Rows: tc.rows}, CheckOptions{}))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("violations %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckerDrainAndCallerWait(t *testing.T) {
	b := &hb{}
	b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
	b.ops[1].LatencyNs = int64(3 * time.Second)
	b.ops = append(b.ops, Op{Time: 100, Type: Drained, Process: "writer-us#0", Region: "us-east-1", Backlog: 42, Err: "context deadline exceeded"})
	r := Check(b.ops, Final{Rows: both(map[int]RowState{1: {V: sp("va"), VWT: 10}})}, CheckOptions{})
	if got := checks(r); !reflect.DeepEqual(got, []string{"drain", "caller-wait"}) {
		t.Fatalf("violations %v, want drain and caller-wait", got)
	}
	// The same slow write while the authoritative side was paused is no violation.
	b.ops = append(b.ops[:2], Op{Time: 1, Type: NemesisEvent, F: KindPause, Target: "cassandra-us", Value: "start"},
		Op{Time: 50, Type: NemesisEvent, F: KindPause, Target: "cassandra-us", Value: "end"})
	b.drained()
	r = Check(b.ops, Final{Rows: both(map[int]RowState{1: {V: sp("va"), VWT: 10}})}, CheckOptions{})
	if len(r.Violations) != 0 {
		t.Fatalf("violations %v", r.Violations)
	}
}

func TestCheckerStaleCache(t *testing.T) {
	b := &hb{}
	b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
	b.write("b", OK, 20, Mut{F: FUpdate, K: 1, V: "vb"})
	// b's writer invalidated the row.
	b.t += 10
	b.ops = append(b.ops, Op{Time: b.t, Type: Invoke, Process: "writer-us#0", ID: "inv", F: FCacheDel, Key: RowKey(1), Region: "us-east-1"},
		Op{Time: b.t + 1, Type: OK, Process: "writer-us#0", ID: "inv", F: FCacheDel, Key: RowKey(1), Region: "us-east-1", TS: 30})
	b.drained()
	rows := both(map[int]RowState{1: {V: sp("vb"), VWT: 20}})
	stale := map[string]map[string]CacheEntry{"eu-west-1": {RowKey(1): {Value: "va", Version: cachesync.Version{Micros: 40, Origin: "eu-west-1"}}}}
	r := Check(b.ops, Final{Rows: rows, Cache: stale}, CheckOptions{})
	if got := checks(r); !reflect.DeepEqual(got, []string{"stale-cache"}) || !strings.Contains(r.Violations[0].What, `holds "va"`) {
		t.Fatalf("violations %v, want one stale-cache", r.Violations)
	}
	fresh := map[string]map[string]CacheEntry{"eu-west-1": {RowKey(1): {Value: "vb"}}}
	if r := Check(b.ops, Final{Rows: rows, Cache: fresh}, CheckOptions{}); len(r.Violations) != 0 {
		t.Fatalf("violations %v", r.Violations)
	}
	// Without the invalidation (the writer died after its write) the stale entry is explained.
	noInv := append(append([]Op{}, b.ops[:4]...), b.ops[6:]...)
	r = Check(noInv, Final{Rows: rows, Cache: stale}, CheckOptions{})
	if len(r.Violations) != 0 || len(r.Explained) != 1 {
		t.Fatalf("violations %v explained %v, want one explained", r.Violations, r.Explained)
	}
}

func TestScheduleIsTheSeeds(t *testing.T) {
	offered := []Target{{Kind: KindPause, Name: "cassandra-eu"}, {Kind: KindKill, Name: "memcached-us"},
		{Kind: KindPhase, Name: "writers"}, {Kind: KindSkew, Name: "eu-west-1"}, {Kind: KindForklift, Name: "us-to-eu"}}
	a, b := Generate(7, time.Minute, offered, 5*time.Second), Generate(7, time.Minute, offered, 5*time.Second)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one seed gave two schedules")
	}
	if c := Generate(8, time.Minute, offered, 5*time.Second); reflect.DeepEqual(a.Steps, c.Steps) {
		t.Fatal("seeds 7 and 8 gave the same schedule")
	}
	counts := a.Counts()
	for _, k := range []string{KindPause, KindKill, KindPhase, KindSkew, KindForklift} {
		if counts[k] == 0 && k != KindKill && k != KindPause {
			t.Errorf("no %s step in %v", k, counts)
		}
	}
	for _, st := range a.Steps {
		if st.At+st.Dur > a.Duration-2*time.Second {
			t.Errorf("step %s heals after the workload's end", st)
		}
	}
	// A kind the world does not offer never appears.
	for _, st := range Generate(7, time.Minute, offered[:1], 5*time.Second).Steps {
		if st.Kind != KindPause {
			t.Errorf("unexpected step %s", st)
		}
	}
}

// A fill that read before a write and stored after the write's invalidation is seen by a later
// read in the writer's region (issue 13's stale fill): a stale-read violation.
func TestCheckerStaleRead(t *testing.T) {
	b := &hb{}
	b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
	b.write("b", OK, 20, Mut{F: FUpdate, K: 1, V: "vb"})
	inv := func(id, f, key, value, region string, outcome string, errs string) {
		b.t += 10
		b.ops = append(b.ops, Op{Time: b.t, Type: Invoke, Process: "writer-" + short(region) + "#0", ID: id, F: f, Key: key, Region: region})
		b.t += 10
		b.ops = append(b.ops, Op{Time: b.t, Type: outcome, Process: "writer-" + short(region) + "#0", ID: id, F: f, Key: key, Region: region, Value: value, Err: errs})
	}
	inv("d", FCacheDel, RowKey(1), "", "us-east-1", OK, "")
	inv("g", FCacheGet, RowKey(1), "va", "us-east-1", OK, "")
	b.drained()
	rows := both(map[int]RowState{1: {V: sp("vb"), VWT: 20}})
	if got := checks(Check(b.ops, Final{Rows: rows}, CheckOptions{})); !reflect.DeepEqual(got, []string{"stale-read"}) {
		t.Fatalf("violations %v, want stale-read", got)
	}
	// The same read in the other region (its invalidation travels through SQS) is only staleness.
	for _, i := range []int{len(b.ops) - 3, len(b.ops) - 2} {
		b.ops[i].Region, b.ops[i].Process = "eu-west-1", "writer-eu#0"
	}
	b.ops = append(b.ops, Op{Time: b.t + 10, Type: Drained, Process: "writer-eu#0", Region: "eu-west-1"})
	if r := Check(b.ops, Final{Rows: rows}, CheckOptions{}); len(r.Violations) != 0 {
		t.Fatalf("violations %v", r.Violations)
	}
}

func TestReplayCommandCarriesTheKnobs(t *testing.T) {
	o := Options{Seed: 5, Duration: 50 * time.Second, Kinds: []string{"pause"}, Targets: []string{"cassandra-eu"}, MaxFault: 20 * time.Second}
	o.defaults()
	want := `make chaos SEED=5 DURATION=50s CHAOS_ARGS="--kinds pause --targets cassandra-eu --max-fault 20s"`
	if got := ReplayCommand(o); got != want {
		t.Fatalf("replay command\n got %s\nwant %s", got, want)
	}
	o = Options{Seed: 1, Duration: time.Minute}
	o.defaults()
	if got := ReplayCommand(o); got != "make chaos SEED=1 DURATION=1m0s" {
		t.Fatalf("replay command %s", got)
	}
}

// A replay directory that still holds entries after every writer exited is a drain violation even
// when the last writer reported itself drained (it reported before a later append, or its report
// was about another incarnation's log).
func TestCheckerPendingLeftInReplayDir(t *testing.T) {
	b := &hb{}
	b.write("a", OK, 10, Mut{F: FInsert, K: 1, V: "va"})
	b.drained()
	rows := both(map[int]RowState{1: {V: sp("va"), VWT: 10}})
	r := Check(b.ops, Final{Rows: rows, Pending: map[string]int64{"run/replay-us": 3, "run/replay-eu": 0}}, CheckOptions{})
	if got := checks(r); !reflect.DeepEqual(got, []string{"drain"}) || !strings.Contains(r.Violations[0].What, "run/replay-us still holds 3 pending") {
		t.Fatalf("violations %v, want one drain naming replay-us", r.Violations)
	}
	if r := Check(b.ops, Final{Rows: rows, Pending: map[string]int64{"run/replay-us": 0}}, CheckOptions{}); len(r.Violations) != 0 {
		t.Fatalf("violations %v", r.Violations)
	}
}

// A campaign whose writers never started checks nothing: its history is a violation, not "OK".
func TestCheckerRefusesAHistoryWithNoOperation(t *testing.T) {
	b := &pb{}
	b.drained()
	r := Check(b.ops, Final{Rows: both(map[int]RowState{})}, CheckOptions{})
	if got := checks(r); !slices.Contains(got, "history") {
		t.Fatalf("a history with no operation reported %v, want a history violation", got)
	}
}
