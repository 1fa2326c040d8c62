package chaos

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// opSequences returns, per writer and worker, the first n operations a seed's writers run
// (incarnation 0), asking for them in the order given: the sequence must not depend on it.
func opSequences(seed uint64, n int, reverse bool) map[string][]Planned {
	out := map[string][]Planned{}
	for _, ws := range writerSpecs() {
		region := ws.name
		for worker := 0; worker < 4; worker++ {
			seq := make([]Planned, n)
			for i := 0; i < n; i++ {
				op := i
				if reverse {
					op = n - 1 - i
				}
				seq[op] = Plan(seed, region, 0, worker, op, 40)
			}
			out[region+"/"+string(rune('0'+worker))] = seq
		}
	}
	return out
}

// TestSeedReplaysTheSameOperations: a seed's schedule and each worker's operation sequence are
// the same on every run, whatever the services answer (a plan reads nothing but its coordinates)
// and whatever order the workers progress in; ids are unique across writers and workers.
func TestSeedReplaysTheSameOperations(t *testing.T) {
	offered := []Target{{Kind: KindPause, Name: "cassandra-eu"}, {Kind: KindKill, Name: "writer-us"},
		{Kind: KindSkew, Name: "us-east-1"}, {Kind: KindPhase, Name: "writers"}}
	a, b := Generate(7, 20*time.Second, offered, 4*time.Second), Generate(7, 20*time.Second, offered, 4*time.Second)
	if !reflect.DeepEqual(a, b) || len(a.Steps) == 0 {
		t.Fatalf("schedule of seed 7 differs between two runs:\n%s\n%s", a, b)
	}
	first, second := opSequences(7, 300, false), opSequences(7, 300, true)
	if !reflect.DeepEqual(first, second) {
		t.Fatal("a worker's operation sequence depends on the order operations are planned in")
	}
	ids := map[string]bool{}
	fs := map[string]int{}
	for w, seq := range first {
		for i, p := range seq {
			if ids[p.ID] {
				t.Fatalf("%s op %d: id %s used twice", w, i, p.ID)
			}
			ids[p.ID] = true
			fs[p.F]++
		}
	}
	for _, f := range []string{FCacheGet, FCacheSet, FCacheDel, FBatch, FInsert, FDelete} {
		if fs[f] == 0 {
			t.Errorf("no %s planned in %d operations: %v", f, len(ids), fs)
		}
	}
	if other := opSequences(8, 300, false); reflect.DeepEqual(first, other) {
		t.Fatal("seeds 7 and 8 plan the same operations")
	}
}

// The replay command names the fault kinds the world offered, so a world that offers more
// (a forklift binary, a WAN) replays the same schedule.
func TestReplayCommandNamesTheOfferedKinds(t *testing.T) {
	offered := []Target{{Kind: KindPause, Name: "cassandra-eu"}, {Kind: KindSkew, Name: "us-east-1"}, {Kind: KindPause, Name: "writer-us"}}
	o := Options{Seed: 3, Duration: time.Minute, Kinds: kindsOf(offered)}
	o.defaults()
	if got := ReplayCommand(o); !strings.Contains(got, `--kinds pause,skew`) {
		t.Fatalf("replay command %s does not name the offered kinds", got)
	}
	if m := missingKinds([]string{"pause", "forklift"}, offered); !reflect.DeepEqual(m, []string{"forklift"}) {
		t.Fatalf("missing kinds %v, want forklift", m)
	}
}

// OperationSequences keeps the planned operations by worker and op index, and nothing a service
// decided.
func TestOperationSequencesIgnoreOutcomes(t *testing.T) {
	h := []Op{
		{Time: 3, Type: Invoke, ID: "us0-1-1", F: FCacheGet, Key: RowKey(2)},
		{Time: 4, Type: OK, ID: "us0-1-1", F: FCacheGet, Value: "vx"},
		{Time: 5, Type: Invoke, ID: "us0-1-1-f", F: FCacheFill, Key: RowKey(2)},
		{Time: 1, Type: Invoke, ID: "us0-1-0", F: FInsert, TS: 77, Muts: []Mut{{F: FInsert, K: 2, V: "vus0-1-0-0"}}},
		{Time: 2, Type: Invoke, ID: "us0-1-0-i0", F: FCacheDel, Key: RowKey(2), Cause: "us0-1-0"},
	}
	got := OperationSequences(h)
	want := map[string][]Op{"us0-1": {{ID: "us0-1-0", F: FInsert, Muts: []Mut{{F: FInsert, K: 2, V: "vus0-1-0-0"}}}, {ID: "us0-1-1", F: FCacheGet, Key: RowKey(2)}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sequences %+v, want %+v", got, want)
	}
}
