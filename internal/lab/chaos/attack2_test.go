package chaos

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// The second checker attacker's tests: each plants, in a synthetic history and final state built
// as planted_test.go and attack_test.go build them, a real violation the checker (today's code)
// reports as clean, or a clean history it flags. Every test here fails on the code it was
// written against.

// Violation: us-east-1's cache holds "va" (ts 10) for good. Write b (ts 20, acknowledged) replaced
// it and b's own invalidation in us-east-1 completed; a later write c (ts 30) timed out and did
// apply (every datacenter holds "vc"), so its writer never invalidated for it. Real: c's missing
// invalidation can only leave an entry a fill stored before c applied — and every fill that read
// after b's invalidation completed read "vb" or newer; "va" was stored by a fill that read before
// b and stored after b's invalidation (the race cachesync's tombstones exist for). Whatever c did,
// "va" is older than an acknowledged, invalidated write. Missed: staleExplained picks the newest
// superseding write (c) and excuses every entry older than it because c did not complete, without
// asking whether an older acknowledged write's completed invalidation already ruled the entry out.
func TestAttackChecker2StaleCacheExcusedByANewerUnknownWriteOverAnInvalidatedOne(t *testing.T) {
	b := &pb{}
	b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
	b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
	b.cache("writer-us#0", "i", FCacheDel, RowKey(1), "", OK, 25, "b")
	b.w("writer-us#0", "c", Info, 30, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vc"}) // applied, not invalidated
	b.drained()
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vc", 30)}, map[int]RowState{})
	f.Cache = map[string]map[string]CacheEntry{"us-east-1": {RowKey(1): {Value: "va", Version: cachesync.Version{Micros: 45, Origin: "us-east-1"}}}}
	attackCheck(t, b, f, "stale-cache")
}

// Violation: the island and the global keyspace disagree for good on the EU writer's writes
// alone. Only writer-eu touched k=1: an acknowledged insert "va", then two deletes of unknown
// outcome. The island has no v, every global datacenter holds "va". Real: the island lost an
// acknowledged value, so one of the deletes applied there, and neither applied in the global
// keyspace (it still holds va): a write applied on one side and not the other, which dualwrite's
// invariant 1 (and the checker's doc: "diverged") forbids. Likewise with two adds of unknown outcome
// of e1, e1 on the island only. Missed: evidence of application (onlyCandidate) names a write only
// when exactly one write may account for the state; with two candidates neither is "seen", and
// the island, a group of its own, is never compared with the global keyspace.
func TestAttackChecker2IslandDivergesOnTwoEUWritesOfUnknownOutcome(t *testing.T) {
	t.Run("two deletes, one applied on the island only", func(t *testing.T) {
		b := &pb{}
		attackEU(b, "writer-eu#0", "a", OK, 2, "dual", 10, Mut{F: FInsert, K: 1, V: "va"})
		attackEU(b, "writer-eu#0", "d1", Info, 2, "dual", 20, Mut{F: FDelete, K: 1})
		attackEU(b, "writer-eu#0", "d2", Info, 2, "dual", 30, Mut{F: FDelete, K: 1})
		b.drained("writer-eu#0")
		var f Final
		f.Rows, f.Holds = attackThree(map[int]RowState{1: row("va", 10)}, map[int]RowState{})
		attackCheck(t, b, f, "diverged")
	})
	t.Run("two adds, one applied on the island only", func(t *testing.T) {
		b := &pb{}
		attackEU(b, "writer-eu#0", "a1", Info, 2, "dual", 10, Mut{F: FAdd, K: 1, Elem: "e1"})
		attackEU(b, "writer-eu#0", "a2", Info, 2, "dual", 20, Mut{F: FAdd, K: 1, Elem: "e1"})
		b.drained("writer-eu#0")
		var f Final
		f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{1: {Tags: []string{"e1"}}})
		attackCheck(t, b, f, "diverged")
	})
}

// Violation: an acknowledged value lost, or a torn logged batch. Write b (acknowledged) set k=1 to
// "vb"; the only writes that ever deleted k=1 are two logged batches of unknown outcome, d1
// (delete k=1, update k=2) and d2 (delete k=1, update k=3). Every datacenter has k=1 absent, and
// k=2 and k=3 still hold their older values (ts 10) that d1's and d2's updates (ts 30, 40) would
// have beaten. Real: "vb" is gone, so d1 or d2 removed it; whichever did applied its delete and
// not its update: a torn batch (a logged batch applies whole); had neither applied, b is lost.
// Either way a violation. Missed: evidence (onlyCandidate) names a delete applied only when it is
// the single write that may have removed the value; with two candidates neither is "seen", so
// neither batch's missing update is judged, and the absent v is excused by "a delete that may
// have applied" without asking whether the final state shows it did not.
func TestAttackChecker2TornBatchAmongTwoDeletesOfUnknownOutcome(t *testing.T) {
	b := &pb{}
	b.ok("a", 10, Mut{F: FInsert, K: 2, V: "v2a"}, Mut{F: FInsert, K: 3, V: "v3a"})
	b.ok("b", 20, Mut{F: FInsert, K: 1, V: "vb"})
	b.w("writer-us#0", "d1", Info, 30, time.Millisecond, Mut{F: FDelete, K: 1}, Mut{F: FUpdate, K: 2, V: "v2d"})
	b.w("writer-us#0", "d2", Info, 40, time.Millisecond, Mut{F: FDelete, K: 1}, Mut{F: FUpdate, K: 3, V: "v3d"})
	b.drained()
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{2: row("v2a", 10), 3: row("v3a", 10)}, map[int]RowState{})
	r := Check(b.ops, f, CheckOptions{})
	if got := checks(r); !slices.Contains(got, "torn-batch") && !slices.Contains(got, "lost-write") {
		t.Errorf("planted torn-batch/lost-write not reported; reported %v: %v", got, r.Violations)
	}
}

// Violation: eu-west-1's cache holds "va" for good while every datacenter holds "vb": write b of
// us-east-1 (acknowledged) replaced it and its invalidation completed (the event to eu-west-1
// sent, the second one SecondInvalidation later). ElasticMQ-eu was killed five minutes later,
// with no fault on eu-west-1's agent, its SQS server, the WAN or any SQS path in between. Real: an
// in-memory queue loses only the events still in it when it dies; eu-west-1's agent, polling all
// along, had received both invalidations minutes before, so the kill lost nothing of b's and
// cannot account for the entry. The same for a cache-only key and memcached-eu killed five
// minutes after the newest set: an older set's event can land after the restart only if it was
// held back, and nothing held it. Missed: the excuses compare only the order (kill after the
// invalidation / set), never how long after, so any kill of the broker or the cache at any later
// time explains every stale entry before it.
func TestAttackChecker2StaleCacheExcusedByAKillMinutesLater(t *testing.T) {
	t.Run("row entry, ElasticMQ-eu killed five minutes after the invalidation", func(t *testing.T) {
		b := &pb{}
		b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
		b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
		b.cache("writer-us#0", "i", FCacheDel, RowKey(1), "", OK, 25, "b")
		b.t += int64(5 * time.Minute)
		b.nem(KindKill, "elasticmq-eu", "start", "")
		b.nem(KindKill, "elasticmq-eu", "end", "")
		b.drained()
		var f Final
		f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
		f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {RowKey(1): {Value: "va", Version: cachesync.Version{Micros: 45, Origin: "eu-west-1"}}}}
		attackCheck(t, b, f, "stale-cache")
	})
	t.Run("cache-only entry, memcached-eu killed five minutes after the newest set", func(t *testing.T) {
		b := &pb{}
		us := func(n int64) cachesync.Version { return cachesync.Version{Micros: n, Origin: "us-east-1"} }
		b.cache("writer-us#0", "s1", FCacheSet, CacheOnlyKey(1), "vs1", OK, 10, "")
		b.cache("writer-us#0", "s2", FCacheSet, CacheOnlyKey(1), "vs2", OK, 20, "")
		b.t += int64(5 * time.Minute)
		b.nem(KindKill, "memcached-eu", "start", "")
		b.nem(KindKill, "memcached-eu", "end", "")
		b.drained()
		var f Final
		f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
		f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {CacheOnlyKey(1): {Value: "vs1", Version: us(10)}}}
		attackCheck(t, b, f, "stale-cache")
	})
}

// Violation: a caller waited a minute for a write while its side and its writer were healthy.
// writer-us#0 invoked write a and got no answer for 60 s — its other workers went on writing
// through cassandra-us in 1 ms each all along, and no fault touched cassandra-us or the writer —
// until the nemesis killed the writer (kill -9, then its next incarnation drained). Real: the
// deadline (CallerWait, 2 s) passed 58 s before the kill; the kill ended a wait that had already
// broken the bound, it did not cause it. Missed: the caller-wait check skips every write with no
// completion ("a write its process died in is no wait"), however long it had waited before its
// process died, so a hung write is hidden by any later kill of its writer.
func TestAttackChecker2HungWriteHiddenByALaterKillOfItsWriter(t *testing.T) {
	b := &pb{}
	start := b.tick()
	b.ops = append(b.ops, Op{Time: start, Type: Invoke, Process: "writer-us#0", ID: "a", F: FInsert, Region: "us-east-1", Muts: []Mut{{F: FInsert, K: 1, V: "va"}}, TS: 10})
	for i := 0; i < 60; i++ { // the writer's other workers, answered in 1 ms all along
		b.t = start + int64(i+1)*int64(time.Second)
		b.ok(fmt.Sprintf("o%d", i), int64(100+i), Mut{F: FInsert, K: 2, V: fmt.Sprintf("v%d", i)})
	}
	b.nem(KindKill, "writer-us", "start", "")
	b.nem(KindKill, "writer-us", "end", "")
	b.drained("writer-us#1")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{2: row("v59", 159)}, map[int]RowState{})
	attackCheck(t, b, f, "caller-wait")
}

// False alarm: the twin of TestAttackCheckerStaleCacheFromReplicaLagBeyondContract with the lag
// made by dualwrite's replay instead of hints. writer-eu in dual (the island authoritative, the
// global keyspace the follower) writes b while cassandra-eu-global is paused 8 s: b is
// acknowledged by the island and waits in the writer's replay log (its backlog samples show it)
// until 11 s after the resume — eu-west-1's datacenter of the global keyspace, which eu-west-1's
// fills read, gets b 19 s after its acknowledgement. b's invalidations (the second
// SecondInvalidation = 11 s later) both land before; a fill after them reads the lagging replica
// and stores "va", which nothing replaces. Why it is clean: the same contract as the hints case
// (cachesync: caches converge only when the region's replica has the write by the time its
// second event arrives); the fault made the lag 19 s > 11 s: a finding of the campaign, as the
// checker reports it when the lag comes from hints. Why flagged: replicaArrival returns "no lag"
// for a write of the cache's own region (from == region) and knows only hints, never a follower
// write waiting in a replay log, so the entry is a stale-cache violation.
func TestAttackChecker2StaleCacheFromReplayLagBeyondContract(t *testing.T) {
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
	backlog(tb+2*sec, 1)
	b.t = tb + 8*sec
	b.nem(KindPause, "cassandra-eu-global", "end", "")
	end := b.t
	backlog(end+1*sec, 1)
	backlog(end+3*sec, 1)
	// b's second event reached eu-west-1 at tb+11 s = end+3 s; this fill comes after it.
	b.ops = append(b.ops,
		Op{Time: end + 5*sec, Type: Invoke, Process: "writer-eu#0", ID: "eu0-0-7-f", F: FCacheFill, Region: EURegion, Key: RowKey(1)},
		Op{Time: end + 5*sec + int64(20*time.Millisecond), Type: OK, Process: "writer-eu#0", ID: "eu0-0-7-f", F: FCacheFill, Region: EURegion, Key: RowKey(1), Value: "va"})
	backlog(end+7*sec, 1)
	backlog(end+11*sec, 0) // replayed: eu-west-1's datacenter has b, 19 s after it
	b.t = end + 12*sec
	b.drained("writer-eu#0")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{1: row("vb", 20)})
	f.Cache = map[string]map[string]CacheEntry{EURegion: {RowKey(1): {Value: "va"}}}
	r := Check(b.ops, f, CheckOptions{TombstoneTTL: 10 * time.Second, SecondInvalidation: 11 * time.Second})
	if len(r.Violations) > 0 {
		t.Errorf("a history outside cachesync's contract (replica lag 19 s > SecondInvalidation 11 s, from dualwrite's replay) reported as %d violations (want a finding or an explanation): %v",
			len(r.Violations), r.Violations)
	}
}

// Violation: a fill of us-east-1 read, and a cache read then returned, "vx", the value of write x,
// which timed out and never applied anywhere: every datacenter (hints delivered, repair clean)
// holds "vb" with writetime 20, which x (ts 30) would have beaten under last-write-wins, and
// nothing newer than x touched the key. Real: had x applied on any replica, repair would have
// carried it everywhere and it would win; so no database ever held "vx", and a fill that returned
// it read a value no database had — the same defect as a definitely failed write's value (the
// checker's "failed-write" of reads) or a value nobody wrote. Missed: readValues judges a read's
// value only by the write's outcome (a definite failure), never by the final state's proof that
// a write of unknown outcome did not apply (notAppliedOn, which staleExplained already uses).
func TestAttackChecker2ReadOfAWriteTheFinalStateShowsNeverApplied(t *testing.T) {
	b := &pb{}
	b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
	b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
	b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
	b.w("writer-us#0", "x", Info, 30, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vx"})
	b.cache("writer-us#0", "f", FCacheFill, RowKey(1), "vx", OK, 0, "")
	b.cache("writer-us#0", "g", FCacheGet, RowKey(1), "vx", OK, 0, "")
	b.drained()
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
	r := Check(b.ops, f, CheckOptions{})
	if got := checks(r); !slices.Contains(got, "invented") && !slices.Contains(got, "failed-write") {
		t.Errorf("planted read of a never-applied write not reported; reported %v: %v", got, r.Violations)
	}
}

// Violation: the history records two outcomes for one operation: write f completed "fail" (a
// definite failure, told to its caller), then "ok". Real: an operation has one outcome; the
// checker already refuses a history in which an id is invoked twice or completed without an
// invoke ("the history cannot tell the operations apart"), and here the first answer — the one
// the caller acted on — says f did not happen while the final state holds its value: a failed
// write's value, or a workload that records outcomes wrongly; either way the verdict rests on a
// guess. Missed: Pair keeps the last completion of an id and the history check counts invokes
// only, so the second completion silently overrides the first and the run is clean.
func TestAttackChecker2OperationCompletedTwice(t *testing.T) {
	b := &pb{}
	b.w("writer-us#0", "f", Fail, 10, time.Millisecond, Mut{F: FInsert, K: 1, V: "vf"})
	end := b.ops[len(b.ops)-1]
	end.Type, end.Time = OK, b.tick()
	b.ops = append(b.ops, end)
	b.drained()
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vf", 10)}, map[int]RowState{})
	r := Check(b.ops, f, CheckOptions{})
	if got := checks(r); !slices.Contains(got, "history") && !slices.Contains(got, "failed-write") {
		t.Errorf("an operation completed twice (fail, then ok) not reported; reported %v: %v", got, r.Violations)
	}
}

// Violation: writer-eu's write a waited 10 s, acknowledged, with both its sides (cassandra-eu,
// cassandra-eu-global) and the writer healthy and no replay backlog; it began 2 ms after the
// nemesis set the migration to dual-flipped (epoch 3). Real: a flip may change which side the
// write waits on, but both were healthy throughout, and dualwrite's barrier "holds writes only
// while it switches" (dualwrite/migration.go: while the side gaining authority still has replay
// backlog it waits without holding them; here there is none), the switch waiting only for the
// old phase's writes, themselves bounded by healthy sides and the follower budget. Nothing
// accounts for 8 s past CallerWait. Missed: the caller-wait check skips outright every write
// begun within 5 ms of a flip of its instance ("may have given it other sides"), however long it
// waited, instead of judging it against the sides of both phases.
func TestAttackChecker2CallerWaitOfAWriteBegunAtAFlipWithBothSidesHealthy(t *testing.T) {
	b := &pb{}
	sec := int64(time.Second)
	attackEU(b, "writer-eu#0", "a0", OK, 2, "dual", 10, Mut{F: FInsert, K: 2, V: "v0"})
	b.ops = append(b.ops, Op{Time: b.tick(), Type: Stats, Process: "writer-eu#0", Region: EURegion})
	set := b.tick()
	b.ops = append(b.ops, Op{Time: set, Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "set dual-flipped", Epoch: 3})
	start := set + int64(2*time.Millisecond)
	b.ops = append(b.ops, Op{Time: start, Type: Invoke, Process: "writer-eu#0", ID: "a", F: FInsert, Region: EURegion, Muts: []Mut{{F: FInsert, K: 1, V: "va"}}, TS: 20, Phase: "dual-flipped", Epoch: 3})
	b.ops = append(b.ops, Op{Time: set + 100*int64(time.Millisecond), Type: Stats, Process: "writer-eu#0", Region: EURegion, F: "phase", Phase: "dual-flipped", Epoch: 3})
	b.ops = append(b.ops, Op{Time: set + 150*int64(time.Millisecond), Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "applied dual-flipped", Epoch: 3})
	for i := int64(1); i <= 10; i++ {
		b.ops = append(b.ops, Op{Time: start + i*sec - 1, Type: Stats, Process: "writer-eu#0", Region: EURegion})
	}
	b.ops = append(b.ops, Op{Time: start + 10*sec, Type: OK, Process: "writer-eu#0", ID: "a", F: FInsert, Region: EURegion, TS: 20, LatencyNs: 10 * sec})
	b.t = start + 11*sec
	b.drained("writer-eu#0")
	var f Final
	rows := map[int]RowState{1: row("va", 20), 2: row("v0", 10)}
	f.Rows, f.Holds = attackThree(rows, rows)
	attackCheck(t, b, f, "caller-wait")
}
