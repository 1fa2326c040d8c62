package chaos

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// pb builds a planted history: every operation is invoked and completed in order, 10 ms apart,
// by the process named (writer-us#0, writer-eu#0 …; the region follows from the name).
type pb struct {
	ops []Op
	t   int64
}

func regionOf(proc string) string {
	switch {
	case strings.HasPrefix(proc, "writer-eu"):
		return "eu-west-1"
	case strings.HasPrefix(proc, "writer-usw"):
		return "us-west-2"
	}
	return "us-east-1"
}

func (b *pb) tick() int64 { b.t += int64(10 * time.Millisecond); return b.t }

// w records a write of proc with its outcome, latency and mutations.
func (b *pb) w(proc, id, outcome string, ts int64, lat time.Duration, muts ...Mut) {
	f := muts[0].F
	if len(muts) > 1 {
		f = FBatch
	}
	r := regionOf(proc)
	start := b.tick()
	b.ops = append(b.ops, Op{Time: start, Type: Invoke, Process: proc, ID: id, F: f, Region: r, Muts: muts, TS: ts, Phase: "dual"})
	b.t = start + max(int64(lat), int64(time.Millisecond))
	b.ops = append(b.ops, Op{Time: b.t, Type: outcome, Process: proc, ID: id, F: f, Region: r, TS: ts, LatencyNs: int64(lat)})
}

// ok records an acknowledged write of writer-us#0 taking 1 ms.
func (b *pb) ok(id string, ts int64, muts ...Mut) {
	b.w("writer-us#0", id, OK, ts, time.Millisecond, muts...)
}

// cache records a cache operation (set, del, get, fill) of proc; ts is the version it returned,
// cause the write an invalidation follows.
func (b *pb) cache(proc, id, f, key, value, outcome string, ts int64, cause string) {
	r := regionOf(proc)
	inv := Op{Time: b.tick(), Type: Invoke, Process: proc, ID: id, F: f, Region: r, Key: key, Cause: cause}
	if f == FCacheSet {
		inv.Value = value
	}
	end := Op{Time: b.tick(), Type: outcome, Process: proc, ID: id, F: f, Region: r, Key: key, TS: ts, Cause: cause}
	if f != FCacheSet && f != FCacheDel {
		end.Value = value
	}
	b.ops = append(b.ops, inv, end)
}

func (b *pb) nem(kind, target, value, err string) {
	b.ops = append(b.ops, Op{Time: b.tick(), Type: NemesisEvent, Process: "nemesis", F: kind, Target: target, Value: value, Err: err})
}

func (b *pb) drained(procs ...string) {
	if len(procs) == 0 {
		procs = []string{"writer-us#0"}
	}
	for _, p := range procs {
		b.ops = append(b.ops, Op{Time: b.tick(), Type: Drained, Process: p, Region: regionOf(p)})
	}
}

func row(v string, wt int64) RowState { return RowState{V: &v, VWT: wt} }

type planted struct {
	name  string
	want  string // the kind of the planted violation; "" for a clean twin
	build func(b *pb, f *Final)
	// raw, when set, is written to the history file after the history's lines (corrupt lines).
	raw   string
	check func(t *testing.T, r Result)
}

// TestCheckerCatchesPlantedViolations feeds the checker synthetic histories and final states, each
// with one planted violation of a named kind, and clean twins that must pass. The history goes
// through a file and ReadHistory, as a campaign's does.
func TestCheckerCatchesPlantedViolations(t *testing.T) {
	dir := t.TempDir()
	logFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bigPanicLog := logFile("big.log", "panic: runtime error: index out of range\n"+strings.Repeat("a log line of a busy writer\n", (5<<20)/28))
	k1, k2 := RowKey(1), RowKey(2)
	c1, c2 := CacheOnlyKey(1), CacheOnlyKey(2)
	us := func(n int64) cachesync.Version { return cachesync.Version{Micros: n, Origin: "us-east-1"} }
	cases := []planted{
		// Rows: the kinds caught before.
		{"lost acked write on the secondary", "lost-write", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows = two(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"clean: newest acked value on both sides", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows = both(map[int]RowState{1: row("vb", 20)})
		}, "", nil},
		{"value nobody wrote", "invented", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("zz", 10)})
		}, "", nil},
		{"wrong writetime", "timestamp", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 11)})
		}, "", nil},
		{"resurrected after an acked delete", "lost-write", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("d", 20, Mut{F: FDelete, K: 1})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"acked set element missing", "lost-write", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FAdd, K: 2, Elem: "e1"})
			f.Rows = both(map[int]RowState{})
		}, "", nil},
		{"sides diverged on an unknown write", "diverged", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "b", Info, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows = two(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"clean: unknown write applied on both sides", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "b", Info, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows = both(map[int]RowState{1: row("vb", 20)})
		}, "", nil},
		// Rows: value provenance (key, value, timestamp), failed writes, torn batches.
		{"row holds the value its batch wrote to another key", "invented", func(b *pb, f *Final) {
			b.ok("b", 10, Mut{F: FInsert, K: 1, V: "v1"}, Mut{F: FInsert, K: 2, V: "v2"})
			f.Rows = both(map[int]RowState{1: row("v1", 10), 2: row("v1", 10)})
		}, "", nil},
		{"key deleted by a batch holds another key's value", "invented", func(b *pb, f *Final) {
			b.ok("b", 10, Mut{F: FInsert, K: 1, V: "v1"}, Mut{F: FDelete, K: 2})
			f.Rows = both(map[int]RowState{1: row("v1", 10), 2: row("v1", 10)})
		}, "", nil},
		{"clean: a batch over two keys", "", func(b *pb, f *Final) {
			b.ok("b", 10, Mut{F: FInsert, K: 1, V: "v1"}, Mut{F: FInsert, K: 2, V: "v2"})
			f.Rows = both(map[int]RowState{1: row("v1", 10), 2: row("v2", 10)})
		}, "", nil},
		{"value of a write that definitely failed", "failed-write", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "b", Fail, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows = both(map[int]RowState{1: row("vb", 20)})
		}, "", nil},
		{"clean: a failed write absent", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "b", Fail, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"a failed delete excuses no missing value", "lost-write", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "d", Fail, 20, time.Millisecond, Mut{F: FDelete, K: 1})
			f.Rows = both(map[int]RowState{})
		}, "", nil},
		{"torn logged batch (unknown outcome, half applied)", "torn-batch", func(b *pb, f *Final) {
			b.w("writer-us#0", "b", Info, 10, time.Millisecond, Mut{F: FInsert, K: 1, V: "v1"}, Mut{F: FInsert, K: 2, V: "v2"})
			f.Rows = both(map[int]RowState{1: row("v1", 10)})
		}, "", nil},
		{"clean: unknown batch not applied at all", "", func(b *pb, f *Final) {
			b.w("writer-us#0", "b", Info, 10, time.Millisecond, Mut{F: FInsert, K: 1, V: "v1"}, Mut{F: FInsert, K: 2, V: "v2"})
			f.Rows = both(map[int]RowState{})
		}, "", nil},
		{"clean: unknown batch applied whole", "", func(b *pb, f *Final) {
			b.w("writer-us#0", "b", Info, 10, time.Millisecond, Mut{F: FInsert, K: 1, V: "v1"}, Mut{F: FDelete, K: 2})
			f.Rows = both(map[int]RowState{1: row("v1", 10)})
		}, "", nil},
		// Row cache entries.
		{"row cache entry older than an invalidated acked write", "stale-cache", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.cache("writer-us#0", "i", FCacheDel, k1, "", OK, 30, "b")
			f.Rows = both(map[int]RowState{1: row("vb", 20)})
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {k1: {Value: "va", Version: us(40)}}}
		}, "", nil},
		{"row cache entry holding another key's value", "invented", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}, Mut{F: FInsert, K: 2, V: "v2"})
			f.Rows = both(map[int]RowState{1: row("va", 10), 2: row("v2", 10)})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {k2: {Value: "va", Version: us(40)}}}
		}, "", nil},
		{"stale entry excused by an earlier timed-out write, a later acked one invalidated", "stale-cache", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-us#0", "t", Info, 20, 15*time.Second, Mut{F: FUpdate, K: 1, V: "vt"})
			b.ok("c", 30, Mut{F: FUpdate, K: 1, V: "vc"})
			b.cache("writer-us#0", "i", FCacheDel, k1, "", OK, 40, "c")
			f.Rows = both(map[int]RowState{1: row("vc", 30)})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {k1: {Value: "va", Version: us(45)}}}
		}, "", nil},
		{"clean: stale entry, the newest superseding write timed out", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.nem(KindPause, "cassandra-us", "start", "") // the timeout has a cause
			b.w("writer-us#0", "t", Info, 20, 15*time.Second, Mut{F: FUpdate, K: 1, V: "vt"})
			b.nem(KindPause, "cassandra-us", "end", "")
			f.Rows = both(map[int]RowState{1: row("vt", 20)})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {k1: {Value: "va", Version: us(45)}}}
		}, "", nil},
		// Cache-only keys.
		{"cache-only key older than an acked set", "stale-cache", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", OK, 10, "")
			b.cache("writer-us#0", "s2", FCacheSet, c1, "vs2", OK, 20, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "vs1", Version: us(10)}}}
		}, "", nil},
		{"cache-only value no set issued", "invented", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", OK, 10, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "zz", Version: us(10)}}}
		}, "", nil},
		{"cache-only key holds a failed set's value", "failed-write", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", OK, 10, "")
			b.cache("writer-us#0", "s2", FCacheSet, c1, "vs2", Fail, 0, "")
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {c1: {Value: "vs2", Version: us(10)}}}
		}, "", nil},
		{"cache-only old value stamped with the newest version", "version", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", OK, 10, "")
			b.cache("writer-us#0", "s2", FCacheSet, c1, "vs2", OK, 20, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "vs1", Version: us(20)}}}
		}, "", nil},
		{"cache-only key holds another key's value", "invented", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", OK, 10, "")
			b.cache("writer-us#0", "s2", FCacheSet, c2, "vs2", OK, 20, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "vs2", Version: us(20)}, c2: {Value: "vs2", Version: us(20)}}}
		}, "", nil},
		{"cache-only value of an unknown set stamped by another region", "version", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", Info, 0, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "vs1", Version: cachesync.Version{Micros: 30, Origin: "eu-west-1"}}}}
		}, "", nil},
		{"clean: cache-only value of an unknown set with its region's version", "", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", Info, 0, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "vs1", Version: us(30)}}}
		}, "", nil},
		{"clean: cache-only newest set with its version", "", func(b *pb, f *Final) {
			b.cache("writer-us#0", "s1", FCacheSet, c1, "vs1", OK, 10, "")
			b.cache("writer-us#0", "s2", FCacheSet, c1, "vs2", OK, 20, "")
			f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {c1: {Value: "vs2", Version: us(20)}}, "us-east-1": {c1: {Value: "vs2", Version: us(20)}}}
		}, "", nil},
		// Stale reads.
		{"stale read after the reader's own invalidation", "stale-read", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.cache("writer-us#0", "i", FCacheDel, k1, "", OK, 30, "b")
			b.cache("writer-us#0", "g", FCacheGet, k1, "va", OK, 0, "")
			f.Rows = both(map[int]RowState{1: row("vb", 20)})
		}, "", nil},
		{"stale read, another worker wrote between the write and its invalidation", "stale-read", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.ok("x", 21, Mut{F: FUpdate, K: 2, V: "vx"}) // another worker of the same process
			b.cache("writer-us#0", "i", FCacheDel, k1, "", OK, 30, "b")
			b.cache("writer-us#0", "g", FCacheGet, k1, "va", OK, 0, "")
			f.Rows = both(map[int]RowState{1: row("vb", 20), 2: row("vx", 21)})
		}, "", nil},
		{"clean: fresh read after the invalidation", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			b.ok("x", 21, Mut{F: FUpdate, K: 2, V: "vx"})
			b.cache("writer-us#0", "i", FCacheDel, k1, "", OK, 30, "b")
			b.cache("writer-us#0", "g", FCacheGet, k1, "vb", OK, 0, "")
			f.Rows = both(map[int]RowState{1: row("vb", 20), 2: row("vx", 21)})
		}, "", nil},
		// Caller waits.
		{"acked write waited for the follower", "caller-wait", func(b *pb, f *Final) {
			b.w("writer-us#0", "a", OK, 10, 5*time.Second, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"write timed out after 15 s with the authoritative side healthy", "caller-wait", func(b *pb, f *Final) {
			b.w("writer-us#0", "a", Info, 10, 15*time.Second, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"caller wait excused by a pause whose injection failed", "caller-wait", func(b *pb, f *Final) {
			b.nem(KindPause, "cassandra-us", "start", "")
			b.nem(KindPause, "cassandra-us", "start", "docker: no such container")
			b.w("writer-us#0", "a", OK, 10, 5*time.Second, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"clean: slow write while the authoritative side was paused", "", func(b *pb, f *Final) {
			b.nem(KindPause, "cassandra-us", "start", "")
			b.w("writer-us#0", "a", Info, 10, 15*time.Second, Mut{F: FInsert, K: 1, V: "va"})
			b.nem(KindPause, "cassandra-us", "end", "")
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", func(t *testing.T, r Result) {
			if r.Faults[KindPause] != 1 {
				t.Errorf("faults %v, want one pause", r.Faults)
			}
		}},
		{"clean: a failed injection is not counted", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}) // a history with no operation is a violation of its own
			f.Rows = both(map[int]RowState{1: row("va", 10)})
			b.nem(KindPause, "cassandra-us", "start", "")
			b.nem(KindPause, "cassandra-us", "start", "docker: no such container")
		}, "", func(t *testing.T, r Result) {
			if r.Faults[KindPause] != 0 {
				t.Errorf("faults %v, want no pause counted", r.Faults)
			}
		}},
		// Ends of processes, leftovers.
		{"replay log not drained", "drain", func(b *pb, f *Final) {
			b.ops = append(b.ops, Op{Time: b.tick(), Type: Drained, Process: "writer-us#0", Region: "us-east-1", Backlog: 3})
		}, "", nil},
		{"Backlog() failed at the end", "drain", func(b *pb, f *Final) {
			b.ops = append(b.ops, Op{Time: b.tick(), Type: Drained, Process: "writer-us#0", Region: "us-east-1", Err: "backlog: read replay log: corrupt"})
		}, "", nil},
		{"writer never reported its end", "drain", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "", nil},
		{"goroutines outlived Close", "goroutines", func(b *pb, f *Final) {
			b.ops = append(b.ops, Op{Time: b.tick(), Type: Drained, Process: "writer-us#0", Region: "us-east-1", Leaked: 2})
		}, "", nil},
		{"replay directory still pending", "drain", func(b *pb, f *Final) {
			f.Pending = map[string]int64{"run/replay-us": 2}
		}, "", nil},
		{"dead-letter file", "dead-letter", func(b *pb, f *Final) {
			f.DeadLetters = map[string]int64{"run/replay-us/deadletter": 1}
		}, "", nil},
		{"dead-lettered cache event", "dead-letter", func(b *pb, f *Final) {
			f.DLQMessages = []string{"chaos-row:1 delete"}
		}, "", nil},
		{"cachesync spill left with events", "spill", func(b *pb, f *Final) {
			f.Spill = map[string]int64{"run/replay-us-spill/eu-west-1": 4}
		}, "", nil},
		{"clean: empty spill", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}) // a history with no operation is a violation of its own
			f.Rows = both(map[int]RowState{1: row("va", 10)})
			f.Spill = map[string]int64{"run/replay-us-spill/eu-west-1": 0}
		}, "", nil},
		{"panic in a child log", "panic", func(b *pb, f *Final) {
			f.Logs = []string{logFile("small.log", "starting\npanic: boom\ngoroutine 1 [running]:\n")}
		}, "", nil},
		{"panic at the start of a log larger than 4 MiB", "panic", func(b *pb, f *Final) {
			f.Logs = []string{bigPanicLog}
		}, "", nil},
		{"unparsable line inside the history", "history", func(b *pb, f *Final) {}, "{\"t\":1,\"type\":\"ok\",\"proc\":\"wri\n{\"t\":2,\"type\":\"nemesis\",\"proc\":\"nemesis\"}\n", nil},
		{"two operations share an id", "history", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("a", 20, Mut{F: FInsert, K: 2, V: "va2"})
			f.Rows = both(map[int]RowState{1: row("va", 10), 2: row("va2", 20)})
		}, "", nil},
		{"a completion nobody invoked", "history", func(b *pb, f *Final) {
			b.ops = append(b.ops, Op{Time: b.tick(), Type: OK, Process: "writer-us#0", ID: "ghost", F: FInsert, Region: "us-east-1"})
		}, "", nil},
		{"clean: torn last line", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}) // a history with no operation is a violation of its own
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		}, "{\"t\":1,\"type\":\"ok\",\"pro", nil},
		{"clean: torn last line of an incarnation, the next one's line after it", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}) // a history with no operation is a violation of its own
			f.Rows = both(map[int]RowState{1: row("va", 10)})
		},
			"{\"t\":1,\"type\":\"ok\",\"pro{\"t\":2,\"type\":\"nemesis\",\"proc\":\"nemesis\",\"f\":\"pause\",\"target\":\"memcached-us\",\"value\":\"start\"}\n",
			func(t *testing.T, r Result) {
				if r.Faults[KindPause] != 1 {
					t.Errorf("the line after the torn one was lost: faults %v", r.Faults)
				}
			}},
	}
	// The seeds' topology: the global keyspace in three datacenters, the island holding the EU
	// writers' writes only.
	three := func(us, eu, usw, island map[int]RowState) (map[string]map[int]RowState, map[string][]string) {
		return map[string]map[int]RowState{globalSide("us-east-1"): us, globalSide("eu-west-1"): eu, globalSide("us-west-2"): usw, IslandSide: island}, SideHolds()
	}
	applied := func(b *pb, phase string, epoch int64, err string) {
		b.ops = append(b.ops, Op{Time: b.tick(), Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "set " + phase, Epoch: epoch})
		b.ops = append(b.ops, Op{Time: b.tick(), Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "applied " + phase, Epoch: epoch, Err: err})
	}
	// ew records an acknowledged write of a migrating EU writer under epoch and phase.
	ew := func(b *pb, proc, id string, epoch int64, phase string, ts int64, muts ...Mut) {
		b.w(proc, id, OK, ts, time.Millisecond, muts...)
		inv := &b.ops[len(b.ops)-2]
		inv.Epoch, inv.Phase = epoch, phase
	}
	cases = append(cases, []planted{
		// Cross-region visibility on the seeds' topology.
		{"acked in us-east-1, not visible in us-west-2 after heal and repair", "lost-write", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			rows := map[int]RowState{1: row("va", 10)}
			f.Rows, f.Holds = three(rows, rows, map[int]RowState{}, map[int]RowState{})
		}, "", nil},
		{"clean: acked in us-east-1, visible in every datacenter, not in the island", "", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			rows := map[int]RowState{1: row("va", 10)}
			f.Rows, f.Holds = three(rows, rows, rows, map[int]RowState{})
		}, "", nil},
		{"an EU writer's acked write missing in the island", "lost-write", func(b *pb, f *Final) {
			ew(b, "writer-eu#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			rows := map[int]RowState{1: row("va", 10)}
			f.Rows, f.Holds = three(rows, rows, rows, map[int]RowState{})
			b.drained("writer-eu#0")
		}, "", nil},
		{"clean: the island holds its EU write, the global keyspace a newer US one", "", func(b *pb, f *Final) {
			ew(b, "writer-eu#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
			rows := map[int]RowState{1: row("vb", 20)}
			f.Rows, f.Holds = three(rows, rows, rows, map[int]RowState{1: row("va", 10)})
			b.drained("writer-us#0", "writer-eu#0")
		}, "", nil},
		{"global datacenters diverged", "diverged", func(b *pb, f *Final) {
			b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.w("writer-usw#0", "b", Info, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
			f.Rows, f.Holds = three(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("va", 10)}, map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
		}, "", nil},
		{"forklift verify finds more cells missing than newer deletes removed", "diverged", func(b *pb, f *Final) {
			ew(b, "writer-eu#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("d", 20, Mut{F: FDelete, K: 1})
			f.Rows, f.Holds = three(map[int]RowState{}, map[int]RowState{}, map[int]RowState{}, map[int]RowState{1: row("va", 10)})
			f.ForkliftVerify = "exit status 3: DIFFERENT: 2 missing, 0 mismatched (forklift repair re-copies them)"
			b.drained("writer-us#0", "writer-eu#0")
		}, "", nil},
		{"clean: forklift verify misses only an island cell a newer delete removed", "", func(b *pb, f *Final) {
			ew(b, "writer-eu#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.ok("d", 20, Mut{F: FDelete, K: 1})
			f.Rows, f.Holds = three(map[int]RowState{}, map[int]RowState{}, map[int]RowState{}, map[int]RowState{1: row("va", 10)})
			f.ForkliftVerify = "exit status 3: DIFFERENT: 1 missing, 0 mismatched (forklift repair re-copies them)"
			b.drained("writer-us#0", "writer-eu#0")
		}, "", nil},
		// The migration's epoch rule (issue 26): every write that began after `set --wait`
		// returned carries the new epoch.
		{"write began after set --wait returned, under the old epoch", "epoch", func(b *pb, f *Final) {
			applied(b, "dual-flipped", 3, "")
			ew(b, "writer-eu#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
			b.drained("writer-eu#0")
		}, "", nil},
		{"clean: write began before set --wait returned, under the old epoch", "", func(b *pb, f *Final) {
			ew(b, "writer-eu#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			applied(b, "dual-flipped", 3, "")
			ew(b, "writer-eu#0", "b", 3, "dual-flipped", 20, Mut{F: FInsert, K: 2, V: "vb"})
			f.Rows = both(map[int]RowState{1: row("va", 10), 2: row("vb", 20)})
			b.drained("writer-eu#0")
		}, "", nil},
		{"an instance restarted mid-flip writes under the epoch before the wait returned", "epoch", func(b *pb, f *Final) {
			ew(b, "writer-eub#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			b.nem(KindKill, "writer-eub", "start mid-flip", "")
			applied(b, "dual-flipped", 3, "")
			b.nem(KindKill, "writer-eub", "end", "")
			ew(b, "writer-eub#1", "b", 2, "dual", 20, Mut{F: FInsert, K: 2, V: "vb"})
			f.Rows = both(map[int]RowState{1: row("va", 10), 2: row("vb", 20)})
			b.drained("writer-eub#1")
		}, "", nil},
		{"clean: set --wait timed out naming the paused instance: no promise", "", func(b *pb, f *Final) {
			b.nem(KindPause, "writer-eub", "start mid-flip", "")
			applied(b, "dual-flipped", 3, "migration: not applied by every live instance: writer-eub")
			b.nem(KindPause, "writer-eub", "end", "")
			ew(b, "writer-eub#0", "a", 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
			b.drained("writer-eub#0")
		}, "", nil},
		{"clean: a newer epoch than the one waited for", "", func(b *pb, f *Final) {
			applied(b, "dual-flipped", 3, "")
			ew(b, "writer-eu#0", "a", 4, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
			f.Rows = both(map[int]RowState{1: row("va", 10)})
			b.drained("writer-eu#0")
		}, "", nil},
	}...)
	kinds := map[string]bool{}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &pb{}
			f := Final{Rows: both(map[int]RowState{})}
			tc.build(b, &f)
			if !strings.Contains(tc.name, "never reported") && !slices.ContainsFunc(b.ops, func(op Op) bool { return op.Type == Drained }) {
				b.drained()
			}
			p := filepath.Join(dir, "history-"+strings.Repeat("x", i%3)+time.Now().Format("150405.000000000")+".jsonl")
			var buf []byte
			for _, op := range b.ops {
				l, _ := json.Marshal(op)
				buf = append(append(buf, l...), '\n')
			}
			buf = append(buf, tc.raw...)
			if err := os.WriteFile(p, buf, 0o600); err != nil {
				t.Fatal(err)
			}
			h, err := ReadHistory(p)
			if err != nil {
				t.Fatal(err)
			}
			r := Check(h, f, CheckOptions{})
			got := checks(r)
			switch {
			case tc.want == "" && len(r.Violations) > 0:
				t.Errorf("clean twin reported %d violations:\n%v", len(r.Violations), r.Violations)
			case tc.want != "" && !slices.Contains(got, tc.want):
				t.Errorf("planted %s not reported; reported %v:\n%v", tc.want, got, r.Violations)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
		if tc.want != "" {
			kinds[tc.want] = true
		}
	}
	if len(kinds) < 12 {
		t.Errorf("only %d kinds planted", len(kinds))
	}
}

// The report counts, per fault kind, the faults injected and those during which traffic was
// affected (an operation failed, timed out or was slow, or the replay backlog grew); a fault
// nothing noticed is counted injected only.
func TestCheckerCountsFaultsThatAffectedTraffic(t *testing.T) {
	b := &pb{}
	b.nem(KindPause, "cassandra-eu", "start", "")
	b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"}) // fast: the pause went unnoticed
	b.nem(KindPause, "cassandra-eu", "end", "")
	b.t += int64(3 * time.Second)
	b.nem(KindPartition, "us-east-1<->eu-west-1", "start", "")
	b.ops = append(b.ops, Op{Time: b.tick(), Type: Stats, Process: "writer-us#0", Region: "us-east-1", Backlog: 4})
	b.nem(KindPartition, "us-east-1<->eu-west-1", "end", "")
	b.t += int64(3 * time.Second)
	b.nem(KindKill, "memcached-us", "start", "")
	b.cache("writer-us#0", "g", FCacheGet, RowKey(1), "", Fail, 0, "")
	b.nem(KindKill, "memcached-us", "end", "")
	b.drained()
	r := Check(b.ops, Final{Rows: both(map[int]RowState{1: row("va", 10)})}, CheckOptions{})
	want := map[string]int{KindPause: 0, KindPartition: 1, KindKill: 1}
	for k, n := range want {
		if r.Faults[k] != 1 || r.Affected[k] != n {
			t.Errorf("%s: injected %d affected %d, want 1 and %d", k, r.Faults[k], r.Affected[k], n)
		}
	}
}
