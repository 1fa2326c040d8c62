package chaos

import (
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
