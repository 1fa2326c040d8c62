package chaos

import (
	"fmt"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// The fourth checker attacker's tests: each plants, in a synthetic history and final state built as
// planted_test.go and the earlier attack files build them, a real violation the checker (today's
// code) reports as clean. Every test here fails on the code it was written against.

// Violation: a torn logged batch. Key 1's tags hold e1, which only two writes of unknown outcome
// ever added: batch b {add e1 to k1, update k2 "vb"} and batch c {add e1 to k1, update k3 "vc"};
// every side holds k2 = "v2" and k3 = "v3" (acknowledged, older than b and c), so neither b's
// update nor c's applied, yet one of their adds did. Real: a logged batch applies whole or not at
// all (dualwrite's invariant 1) — no choice of which writes of unknown outcome applied explains
// the final state: with ten of the other writes below instead of eleven (a group of 12) the
// checker reports exactly this torn-batch. Missed: the history
// also holds eleven other writes of unknown outcome of key 1 (updates that timed out before the
// acknowledged a, and that lose to it whatever happened: they change nothing in the verdict),
// which put b and c in a group of 13 > maxUnknownSearch, and explainOutcomes skips such a group
// silently — no violation, no finding. A campaign has hundreds of timed-out writes over 40 keys, so
// most groups are that large: the search is off where it is needed (faults), with nothing said.
func TestAttackChecker4TornBatchInALargeGroupOfUnknownWrites(t *testing.T) {
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
	f.Rows, f.Holds = attackThree(map[int]RowState{1: k1, 2: row("v2", 100), 3: row("v3", 100)}, map[int]RowState{})
	r := Check(b.ops, f, attack3Opts)
	if !containsCheck(r, "torn-batch") && !containsCheck(r, "diverged") {
		t.Errorf("torn batch among 13 writes of unknown outcome not reported; violations %v; findings %v", r.Violations, r.Findings)
	}
}

// Violation: us-east-1's read of a cache-only key goes back in time. writer-us#0's set s1 of the
// key timed out (info) with version V1 (cachesync's Set returns its version with the error, and
// the workload records it); the same writer then made set s2 of the key, acknowledged at version
// V2 > V1, and a later read in us-east-1 returned s1's value. Real: s2 stored its value at V2 in
// us-east-1's memcached before returning, and an older version never overwrites a newer one (the
// same argument as the checker's stale-read for an acknowledged s1); s1's version is older — the
// history records it, and a client's hybrid clock gives s2, made after s1 returned, a later one
// in any case (cachesync.Client.Now) — and no event brings a region's own set back to it; nothing
// killed memcached-us. Missed: cacheOnlyStaleReads skips every read of a set whose outcome is not
// ok ("judged by readValues, or its version unknown"), though its version is known, and
// readValues only checks that some set of the key made the value.
func TestAttackChecker4CacheOnlyReadOfAnUnknownSetAfterANewerOwnSet(t *testing.T) {
	sec := int64(time.Second)
	t0 := int64(1_765_000_000) * sec
	us := func(at int64) int64 { return at / 1000 }
	key := CacheOnlyKey(1)
	ops := []Op{
		{Time: t0, Type: Invoke, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs1"},
		{Time: t0 + sec/2, Type: Info, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, TS: us(t0 + 1000), Err: "memcache: connection timeout"},
		{Time: t0 + sec, Type: Invoke, Process: "writer-us#0", ID: "s2", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs2"},
		{Time: t0 + sec + 1000, Type: OK, Process: "writer-us#0", ID: "s2", F: FCacheSet, Region: "us-east-1", Key: key, TS: us(t0 + sec)},
		{Time: t0 + 2*sec, Type: Invoke, Process: "writer-us#0", ID: "g", F: FCacheGet, Region: "us-east-1", Key: key},
		{Time: t0 + 2*sec + 1000, Type: OK, Process: "writer-us#0", ID: "g", F: FCacheGet, Region: "us-east-1", Key: key, Value: "vs1"},
		{Time: t0 + 30*sec, Type: Drained, Process: "writer-us#0", Region: "us-east-1"},
	}
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
	f.Cache = map[string]map[string]CacheEntry{"us-east-1": {key: {Value: "vs2", Version: cachesync.Version{Micros: us(t0 + sec), Origin: "us-east-1"}}}}
	r := Check(ops, f, attack3Opts)
	if !containsCheck(r, "stale-read") {
		t.Errorf("a read of an older (unknown-outcome) set after the region's own newer acknowledged set not reported; violations %v", r.Violations)
	}
}

// Violation: eu-west-1's cache holds, for good, "vs1" of set s1 of a cache-only key, while set
// s2 of the same key, made by the same writer after s1 returned, was acknowledged: the newest
// acknowledged set is s2, and the entry is neither it nor absent. s1 timed out (info) and the
// history records its version V1 (Set returns it with the error); the entry carries a version
// 1.2 s after s1 was invoked — not V1, and later than s2's V2, so s2 loses against it in every
// region. Real: an entry of s1's value carries s1's version (cachesync stores and sends the value
// at the version Set made), V1 < V2 (recorded; and the client's hybrid clock makes V2 later than
// every version it made before); the entry is a version no clock made for that value, and the
// value is stale for good. Missed: for a set of unknown outcome the checker ignores its recorded
// version and only bounds the entry's version by the set's completion + the history's skew + a
// second (TestAttackChecker3CacheOnlyEntryWithAVersionNoClockMade's fix): 1.2 s is inside that
// slack, and above V2, so the entry passes as the newest.
func TestAttackChecker4CacheOnlyEntryInsideTheSlackOverANewerOwnSet(t *testing.T) {
	sec := int64(time.Second)
	t0 := int64(1_765_000_000) * sec
	us := func(at int64) cachesync.Version { return cachesync.Version{Micros: at / 1000, Origin: "us-east-1"} }
	key := CacheOnlyKey(1)
	ops := []Op{
		{Time: t0, Type: Invoke, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs1"},
		{Time: t0 + sec/2, Type: Info, Process: "writer-us#0", ID: "s1", F: FCacheSet, Region: "us-east-1", Key: key, TS: us(t0 + 1000).Micros, Err: "memcache: connection timeout"},
		{Time: t0 + sec/2 + 1000, Type: Invoke, Process: "writer-us#0", ID: "s2", F: FCacheSet, Region: "us-east-1", Key: key, Value: "vs2"},
		{Time: t0 + sec/2 + 2000, Type: OK, Process: "writer-us#0", ID: "s2", F: FCacheSet, Region: "us-east-1", Key: key, TS: us(t0 + sec/2 + 1000).Micros},
		{Time: t0 + 30*sec, Type: Drained, Process: "writer-us#0", Region: "us-east-1"},
	}
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{}, map[int]RowState{})
	f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {key: {Value: "vs1", Version: us(t0 + 1200*int64(time.Millisecond))}}}
	r := Check(ops, f, attack3Opts)
	if !containsCheck(r, "stale-cache") && !containsCheck(r, "version") {
		t.Errorf("an entry of an unknown set with a version not its own, over a newer acknowledged set of the same writer, not reported; violations %v", r.Violations)
	}
}

// Violation: goroutines of dualwrite/cachesync outlived a writer's Close. writer-us#0 exited on
// its own mid-run (its run returned an error), closed its session and publisher, and reported in
// its Drained line 3 library goroutines still running after Close (their stacks in its log); the
// nemesis's next HealAll started writer-us#1 (a child not running and not retired is started
// again), which wrote, closed cleanly and reported no leak. Real: the promise is per Close — "no
// dualwrite/cachesync goroutine after Close" (docs/chaos.md (3)) — and #0's Close left three
// behind; a later incarnation closing cleanly does not undo a leak measured in another process
// (it shows a Close path that leaks, e.g. the one taken on an error). Missed: the goroutines check
// reads only the Drained line of each writer's LAST incarnation (the drain rule's logic: a later
// incarnation replays the same log), so every earlier incarnation's Leaked count is ignored.
func TestAttackChecker4GoroutinesLeakedByAnEarlierIncarnation(t *testing.T) {
	b := &pb{}
	b.ok("a", 10, Mut{F: FUpdate, K: 1, V: "va"})
	b.ops = append(b.ops, Op{Time: b.tick(), Type: Drained, Process: "writer-us#0", Region: "us-east-1", Leaked: 3})
	b.t += int64(2 * time.Second)
	b.w("writer-us#1", "b", OK, 20, time.Millisecond, Mut{F: FUpdate, K: 1, V: "vb"})
	b.drained("writer-us#1")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20)}, map[int]RowState{})
	r := Check(b.ops, f, attack3Opts)
	if !containsCheck(r, "goroutines") {
		t.Errorf("goroutines leaked after writer-us#0's Close not reported; violations %v", r.Violations)
	}
}

// Violation: a writer that never reported its end — writer-usw stuck from its start (its session
// never opened; the campaign's Terminate at the end killed it) recorded no line at all, so its
// history file is empty; writer-us ran, wrote and drained. The final state names writer-usw: the
// campaign's end-of-run spill drain opened its spill (Final.SpillDrained, keyed by its replay
// directory + "-spill", one per writer config). Real: the drain rule's own case, "never reported
// its end (stuck, or died)", and the checker's rule that a workload that never ran checked
// nothing ("0 violations would be a verdict on no traffic") — here for one region of three:
// us-west-2's writes, caches and waits were never exercised, and a writer hung at start is the
// kind of defect (a session that never opens) the campaign exists to find. Missed: the drain check
// knows the writers only from the history's lines (lastInc), and the "no operation" check fires
// only when the whole history is empty; nothing compares the writers the final state names with
// the writers the history shows.
func TestAttackChecker4WriterThatRecordedNothing(t *testing.T) {
	b := &pb{}
	b.ok("a", 10, Mut{F: FUpdate, K: 1, V: "va"})
	b.cache("writer-us#0", "a-i0", FCacheDel, RowKey(1), "", OK, 11, "a")
	b.drained("writer-us#0")
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("va", 10)}, map[int]RowState{})
	f.SpillDrained = map[string]SpillDrain{"chaos-out/replay-us-spill": {}, "chaos-out/replay-usw-spill": {}}
	r := Check(b.ops, f, attack3Opts)
	if !containsCheck(r, "drain") && !containsCheck(r, "history") {
		t.Errorf("writer-usw, named by the final state, recorded nothing and was not reported; violations %v", r.Violations)
	}
}

// Violation: a cache read returned a value no write wrote — the empty one. us-east-1's Get of row
// key 1 (and, in the second case, of a cache-only key) hit and returned an item whose value is
// empty: the history's ok completion with no "miss" and no value. Real: every value the workload
// writes, to a row or a cache-only key, is "v<op id>…" (valueOf), never empty, and cachesync's Get
// returns the key's item or a miss (a tombstone reads as a miss): an empty hit is an invented
// value — a tombstone or a lease decoded as a value, a reply of another command on a reused
// connection — exactly what the checker's invented rule is for ("every value a cache read
// returned ... is one some write of that key wrote"); the application would serve an empty row.
// Missed: readValues (and both stale-read checks) skip every hit whose value is "" (`c.End.Value
// == ""`), as if an empty value were no value; the history's Value is omitempty, so the hit shows
// only as an ok get without "miss" — which the checker never looks at.
func TestAttackChecker4EmptyValueReturnedByACacheHit(t *testing.T) {
	for _, key := range []string{RowKey(1), CacheOnlyKey(1)} {
		t.Run(key, func(t *testing.T) {
			b := &pb{}
			b.ok("a", 10, Mut{F: FUpdate, K: 1, V: "va"})
			b.cache("writer-us#0", "a-i0", FCacheDel, RowKey(1), "", OK, 11, "a")
			b.cache("writer-us#0", "s", FCacheSet, CacheOnlyKey(1), "vs", OK, 12, "")
			b.cache("writer-us#0", "g", FCacheGet, key, "", OK, 0, "") // a hit: no "miss", value ""
			b.drained()
			var f Final
			f.Rows, f.Holds = attackThree(map[int]RowState{1: row("va", 10)}, map[int]RowState{})
			f.Cache = map[string]map[string]CacheEntry{"us-east-1": {CacheOnlyKey(1): {Value: "vs", Version: cachesync.Version{Micros: 12, Origin: "us-east-1"}}}}
			r := Check(b.ops, f, attack3Opts)
			if !containsCheck(r, "invented") {
				t.Errorf("a cache hit returning an empty value no write wrote not reported; violations %v", r.Violations)
			}
		})
	}
}

// Violation: eu-west-1's cache holds "va" for good while every datacenter holds "vb": write b of
// us-east-1 was acknowledged and invalidated (its events accepted by eu-west-1's queue), and 5 s
// later ElasticMQ-eu was killed -9 for 4 s, during which writer-us kept writing and invalidating
// (c, d: its publisher's sends to eu-west-1's queue were refused — an outage). Real: the campaign's
// publishers run with ResendWindow 30 s (workload.go), and cachesync promises (PublisherOptions.
// ResendWindow, docs/cachesync.md "Outages") that "when SQS refuses sends (an outage), the events
// it accepted during this long before are sent again once it takes sends again, since the server
// may have lost them with its state (a restarted ElasticMQ keeps nothing)"; it loses only "events
// SQS lost earlier than ResendWindow before an outage". b's events were accepted 5 s before the
// outage, well inside 30 s: they were resent after the restart, and the entry cannot stay. Missed:
// staleExplained excuses the entry by the kill ("ElasticMQ was killed after the invalidation was
// sent ... its in-memory queue lost it") whenever the kill began within SecondInvalidation +
// agentWindow (21 s here) of the invalidation — a window wholly inside the resend window, so the
// excuse covers exactly the events cachesync promises to resend.
func TestAttackChecker4StaleCacheExcusedByABrokerKillInsideTheResendWindow(t *testing.T) {
	sec := int64(time.Second)
	b := &pb{}
	b.ok("a", 10, Mut{F: FInsert, K: 1, V: "va"})
	b.ok("b", 20, Mut{F: FUpdate, K: 1, V: "vb"})
	b.cache("writer-us#0", "b-i0", FCacheDel, RowKey(1), "", OK, 21, "b")
	b.t += 5 * sec
	b.nem(KindKill, "elasticmq-eu", "start", "")
	for i, id := range []string{"c", "d"} { // the publisher sends to eu-west-1's queue while it is down
		b.t += sec
		b.ok(id, int64(30+10*i), Mut{F: FUpdate, K: 2, V: "v" + id})
		b.cache("writer-us#0", id+"-i0", FCacheDel, RowKey(2), "", OK, int64(31+10*i), id)
	}
	b.t += 2 * sec
	b.nem(KindKill, "elasticmq-eu", "end", "")
	b.t += 60 * sec
	b.drained()
	var f Final
	f.Rows, f.Holds = attackThree(map[int]RowState{1: row("vb", 20), 2: row("vd", 40)}, map[int]RowState{})
	f.Cache = map[string]map[string]CacheEntry{"eu-west-1": {RowKey(1): {Value: "va", Version: cachesync.Version{Micros: 15, Origin: "eu-west-1"}}}}
	r := Check(b.ops, f, attack3Opts)
	if !containsCheck(r, "stale-cache") {
		t.Errorf("stale entry excused by a broker kill 5 s after its invalidation (ResendWindow 30 s resends it) not reported; violations %v; explained %v", r.Violations, r.Explained)
	}
}
