package chaos

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/dualwrite"
)

// RowState is one row of kv as a side holds it after quiescence.
type RowState struct {
	V    *string  `json:"v,omitempty"`
	VWT  int64    `json:"v_wt,omitempty"` // writetime(v), µs
	Tags []string `json:"tags,omitempty"` // sorted
}

// CacheEntry is one live cache entry of a region after quiescence (tombstones are absent).
type CacheEntry struct {
	Value   string            `json:"value"`
	Version cachesync.Version `json:"version"`
}

// Final is the state the checker compares the history with.
type Final struct {
	// Rows is each side's kv after healing, hints and repair: each datacenter of the global
	// keyspace ("global/<region>") and the EU island ("island/eu-west-1").
	Rows map[string]map[int]RowState
	// Holds names, per side, the regions whose writes it must hold (a side not named holds every
	// region's): the island holds the EU writers' only (SideHolds).
	Holds map[string][]string
	Cache map[string]map[string]CacheEntry // region -> key -> entry
	// Repair is what went wrong bringing the global keyspace's datacenters together after healing
	// (hints not delivered, nodetool repair failed; "" = nothing).
	Repair string `json:",omitempty"`
	// ForkliftVerify is forklift verify's verdict on island -> global ("" when not run).
	ForkliftVerify string
	ForkliftClean  bool
	// Logs are the children's output files, searched for panics.
	Logs []string
	// DeadLetters are dead-letter files found beside the replay logs, and their sizes.
	DeadLetters map[string]int64
	// Pending is, per writer replay directory, the entries still waiting in it at the end, read
	// from the directory itself after every writer has exited.
	Pending map[string]int64
	// DLQMessages are events found in the cachesync dead-letter queues.
	DLQMessages []string
	// SpillDrained is, per writer spill directory, what the campaign's end-of-run Publisher
	// (opened on it as a restarted writer would) found pending and sent (spilldrain.go).
	SpillDrained map[string]SpillDrain `json:",omitempty"`
	// Spill is, per cachesync publisher spill directory, the events still in it after every
	// writer exited and that drain (events its agents never got).
	Spill map[string]int64
}

// Violation is one broken invariant, with the operations involved.
type Violation struct {
	Check string `json:"check"` // lost-write, invented, timestamp, diverged, stale-cache, stale-read, drain, goroutines, panic, dead-letter, caller-wait, epoch …
	What  string `json:"what"`
	Ops   []Op   `json:"ops,omitempty"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", v.Check, v.What)
	for _, op := range v.Ops {
		fmt.Fprintf(&b, "\n      %s %s %s %s ts=%d phase=%s muts=%v key=%s value=%s err=%s",
			time.Unix(0, op.Time).UTC().Format("15:04:05.000"), op.Process, op.ID, op.F, op.TS, op.Phase, op.Muts, op.Key, op.Value, op.Err)
	}
	return b.String()
}

// Explained is a deviation the checker found and attributes to a cause outside the libraries
// (a writer killed between its write and its invalidation …); reported, not a violation.
type Explained struct {
	What string `json:"what"`
	Why  string `json:"why"`
}

// CheckOptions tune the checker.
type CheckOptions struct {
	// CallerWait: an acknowledged write that took longer than this while its authoritative side
	// was healthy means the caller waited for the follower (0 = 2s).
	CallerWait time.Duration
	// TombstoneTTL and SecondInvalidation are the cachesync configuration of the run (0: unknown).
	// The library's contract asks SecondInvalidation ≥ TombstoneTTL + 2 × skew: a history whose
	// composed skews breach it is a finding of the campaign (its configuration), not a violation.
	TombstoneTTL, SecondInvalidation time.Duration
	// ResendWindow is the writers' publishers' cachesync ResendWindow (0 = CampaignResendWindow;
	// negative = off): a broker kill excuses a lost event only outside what they resend.
	ResendWindow time.Duration
}

// Result is what the checker concludes.
type Result struct {
	Violations []Violation      `json:"violations"`
	Findings   []string         `json:"findings,omitempty"` // the campaign's own faults: a library contract it breached
	Explained  []Explained      `json:"explained,omitempty"`
	Ops        map[string]int   `json:"ops"` // "f outcome" -> count
	Staleness  StalenessReport  `json:"staleness"`
	MaxBacklog map[string]int64 `json:"max_backlog"` // writer process -> largest replay backlog seen; "hints <node>" -> most hint files
	// SpillDrained is, per writer spill directory, how many events the end-of-run Publisher sent
	// from it (Final.SpillDrained); what it left is judged by the spill check.
	SpillDrained map[string]int64 `json:"spill_drained,omitempty"`
	// Flips counts the migration's phase changes: set (the LWT made), applied (`set --wait`
	// returned), wait-failed (it timed out, naming an instance).
	Flips    map[string]int `json:"flips,omitempty"`
	Faults   map[string]int `json:"faults"`   // kind -> faults started
	Affected map[string]int `json:"affected"` // kind -> faults during which traffic was affected (affectedTraffic)
	// Handoff sums the migrating writers' hand-off (handoffFigures): disks_lost and
	// entries_on_lost_disks (kill-disk), copied, handed_off and adopted entries.
	Handoff  map[string]int64  `json:"handoff,omitempty"`
	WriteLat map[string]string `json:"write_latency"`
}

// writeOp is a write of the history with its outcome.
type writeOp struct {
	c  Completed
	ts int64
	// seen is where the final state shows the write took effect whatever its caller was told
	// (appliedEvidence): a logged batch then took effect whole, on every side that receives it.
	seen []evidence
}

// evidence is a side and key whose final state only the write can account for.
type evidence struct {
	side string
	k    int
}

// acked reports whether the write must be in the final state: acknowledged, or seen applied.
func (w writeOp) acked() bool { return w.c.Outcome == OK || len(w.seen) > 0 }

// mayHave reports whether the write may have applied (every outcome but a definite failure).
func (w writeOp) mayHave() bool { return w.c.Outcome != Fail }

// lostKind names the violation of a write that must be on side at key k and is not: a lost
// write when it was acknowledged; else (it must be there because it was seen applied) a torn
// batch when another of its keys shows it on this side, a divergence when another side shows it
// (a write of unknown outcome applied on one side and not on another), a torn batch when another
// of its cells of this key shows it.
func (w writeOp) lostKind(side string, k int) string {
	if w.c.Outcome == OK {
		return "lost-write"
	}
	for _, e := range w.seen {
		if e.side == side && e.k != k {
			return "torn-batch"
		}
	}
	for _, e := range w.seen {
		if e.side != side {
			return "diverged"
		}
	}
	return "torn-batch"
}

func keysOf(ms []Mut) map[int]bool {
	out := map[int]bool{}
	for _, m := range ms {
		out[m.K] = true
	}
	return out
}

// cell is a value written to one key: the provenance of a value is the mutation that wrote this
// value to this key, and its write's timestamp.
type cell struct {
	k int
	v string
}

// flipBarrier is how long, beyond one CallerWait, a write begun at a phase flip of its writer may
// be held at dualwrite's barrier (SetPhase): the barrier waits for the old phase's writes to
// finish (each bounded by CallerWait while its sides are healthy — counted by the check as the
// CallerWait added to it) and holds new writes only while it switches, which the migration's
// watcher bounds by its heartbeat (dualwrite/migration.go: setPhase under a context of
// DefaultMigrationHeartbeat; the wait for the gaining side's replay backlog holds none).
const flipBarrier = dualwrite.DefaultMigrationHeartbeat

// recoveryGrace is how long after a fault's end a write waiting on the faulted node is still
// excused: the node answering what queued while it was paused, the client reconnecting.
const recoveryGrace = time.Second

// Check compares the history with the final state. It is pure: everything it needs is in h and f.
func Check(h []Op, f Final, opt CheckOptions) Result {
	if opt.CallerWait <= 0 {
		opt.CallerWait = 2 * time.Second
	}
	res := Result{Ops: map[string]int{}, MaxBacklog: map[string]int64{}, Faults: map[string]int{}}
	for dir, d := range f.SpillDrained {
		if res.SpillDrained == nil {
			res.SpillDrained = map[string]int64{}
		}
		res.SpillDrained[dir] = d.Drained
	}
	ops := Pair(h)
	byKey := map[int][]writeOp{}
	byValue := map[string]writeOp{} // value of v -> the write that wrote it
	prov := map[cell]writeOp{}      // (key, value of v) -> the write whose mutation of that key wrote it
	cacheSets := map[string]Completed{}
	for _, c := range ops {
		res.Ops[c.Invoke.F+" "+c.Outcome]++
		if len(c.Invoke.Muts) > 0 {
			w := writeOp{c: c, ts: c.Invoke.TS}
			seen := map[int]bool{}
			for _, m := range c.Invoke.Muts {
				if !seen[m.K] {
					byKey[m.K] = append(byKey[m.K], w)
					seen[m.K] = true
				}
				if m.V != "" && (m.F == FInsert || m.F == FUpdate) {
					byValue[m.V] = w
					prov[cell{m.K, m.V}] = w
				}
			}
		}
		if c.Invoke.F == FCacheSet {
			cacheSets[c.Invoke.Value] = c
		}
	}
	seen := appliedEvidence(f, byKey)
	for k, ws := range byKey {
		for i := range ws {
			ws[i].seen = seen[ws[i].c.Invoke.ID]
		}
		byKey[k] = ws
	}
	add := func(v Violation) { res.Violations = append(res.Violations, v) }
	lostDisk := lostDiskWindow(h, faultWindows(h))
	vs, fs := explainOutcomes(f, byKey, func(w writeOp, side string) bool { return w.c.End.Type == "" && lostDisk(w, side) != "" })
	res.Violations = append(res.Violations, vs...)
	res.Findings = append(res.Findings, fs...)
	injecting := map[string]bool{} // kind/target -> a start recorded, its outcome not yet
	invoked := map[string]bool{}   // operation ids: each invoked once, completed after its invoke
	completed := map[string]bool{} // operation ids completed: each has one outcome
	for _, op := range h {
		switch {
		case (op.Type == OK || op.Type == Fail || op.Type == Info) && completed[op.ID]:
			add(Violation{Check: "history", What: fmt.Sprintf("operation %s completed twice (the second %s): an operation has one outcome, and the verdict would rest on a guess of which", op.ID, op.Type), Ops: []Op{op}})
		case op.Type == OK || op.Type == Fail || op.Type == Info:
			if !invoked[op.ID] {
				add(Violation{Check: "history", What: fmt.Sprintf("operation %s completed (%s) with no invoke before it", op.ID, op.Type), Ops: []Op{op}})
			}
			completed[op.ID] = true
		case op.Type == Invoke && invoked[op.ID]:
			add(Violation{Check: "history", What: fmt.Sprintf("operation id %s invoked twice: the history cannot tell the operations apart", op.ID), Ops: []Op{op}})
		case op.Type == Invoke:
			invoked[op.ID] = true
		case op.Type == Corrupt:
			add(Violation{Check: "history", What: fmt.Sprintf("%s: unparsable history line (not the torn last one): %s", op.Process, op.Value)})
		case op.Type == NemesisEvent && strings.HasPrefix(op.Value, "start"):
			// The nemesis records "start" before injecting and "start" with the error when the
			// injection failed: a failed injection is not a fault.
			id := op.F + "/" + op.Target
			switch {
			case op.Err == "":
				res.Faults[op.F]++
				injecting[id] = true
			case injecting[id]:
				res.Faults[op.F]--
				injecting[id] = false
			}
		case op.Type == Stats && op.F == "hints" && op.Backlog > res.MaxBacklog["hints "+op.Target]:
			res.MaxBacklog["hints "+op.Target] = op.Backlog
		case op.Type == Stats && op.F != "hints" && op.Backlog > res.MaxBacklog[op.Process]:
			res.MaxBacklog[op.Process] = op.Backlog
		case op.Type == NemesisEvent && op.F == KindPhase && op.Target == "migration":
			if res.Flips == nil {
				res.Flips = map[string]int{}
			}
			verb, _, _ := strings.Cut(op.Value, " ")
			if verb == "applied" && op.Err != "" {
				verb = "wait-failed"
			}
			res.Flips[verb]++
		}
	}

	if len(ops) == 0 {
		// A campaign whose writers never started (or whose history was not read) checks nothing:
		// "0 violations" would be a verdict on no traffic.
		add(Violation{Check: "history", What: "the history holds no operation: the workload never ran, so nothing was checked"})
	}

	// 1. Every acknowledged write on every side that must hold it (in every datacenter of the
	// global keyspace: a write acknowledged in one region and not visible in another after heal,
	// hints and repair is lost), with its timestamp; nothing no client issued.
	keys := map[int]bool{}
	for k := range byKey {
		keys[k] = true
	}
	sides := sortedKeys(f.Rows)
	for _, side := range sides {
		for k := range f.Rows[side] {
			keys[k] = true
		}
	}
	// Sides that hold the same writers' writes must hold the same cells (diverged).
	groups := map[string][]string{}
	for _, side := range sides {
		g := strings.Join(f.Holds[side], ",")
		groups[g] = append(groups[g], side)
	}
	for _, k := range sortedInts(keys) {
		for _, side := range sides {
			ws := heldBy(byKey[k], f.Holds[side])
			row := f.Rows[side][k]
			missing := func(w writeOp, v Violation) {
				if why := lostDisk(w, side); why != "" {
					res.Explained = append(res.Explained, Explained{What: v.What, Why: why})
					return
				}
				add(v)
			}
			checkV(k, side, row, ws, prov, byValue, add, missing)
			checkTags(k, side, row, ws, add, missing)
		}
		for _, g := range sortedKeys(groups) {
			first := groups[g][0]
			a := f.Rows[first][k]
			for _, other := range groups[g][1:] {
				b := f.Rows[other][k]
				if str(a.V) != str(b.V) || a.VWT != b.VWT || strings.Join(a.Tags, ",") != strings.Join(b.Tags, ",") {
					add(Violation{Check: "diverged", What: fmt.Sprintf("kv k=%d: %s v=%q wt=%d tags=%v, %s v=%q wt=%d tags=%v",
						k, first, str(a.V), a.VWT, a.Tags, other, str(b.V), b.VWT, b.Tags), Ops: lastOps(heldBy(byKey[k], f.Holds[first]), 4)})
				}
			}
		}
	}
	if f.ForkliftVerify != "" && !f.ForkliftClean {
		// Other regions write the global keyspace too: a cell of the island that a newer delete
		// there removed is "missing" to verify, which reads no tombstone (forklift's documented
		// limit). At most those cells (verify counts a set's elements its own way), and no
		// mismatch, is the expected verdict; a cell forklift failed to copy would be an EU
		// write missing in the global keyspace, which invariant 1 reports on its own.
		missing, mismatched, ok := verifyCounts(f.ForkliftVerify)
		if want := tombstonedInGlobal(f, byKey); ok && mismatched == 0 && missing <= want && missing > 0 {
			res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("forklift verify (island -> global, lww): %d cells missing in the global keyspace", missing),
				Why: "each is an island cell a newer delete from another region removed in the global keyspace: verify reads no tombstone (forklift's documented limit), and the checker found the delete newer"})
		} else {
			add(Violation{Check: "diverged", What: fmt.Sprintf("forklift verify (island -> global, lww) not clean (%d cells removed by newer deletes expected missing): %s", want, f.ForkliftVerify)})
		}
	}

	// 2. Every cache entry is the database's newest value or absent.
	faults := faultWindows(h)
	writers := writerRegions(h)
	skew := historySkew(h)
	var histEnd int64
	for _, op := range h {
		histEnd = max(histEnd, op.Time)
	}
	lagFindings := map[string]int{}
	resent := resentAfterOutage(ops, h, cmp.Or(opt.ResendWindow, CampaignResendWindow))
	for _, region := range sortedKeys(f.Cache) {
		bound := opt.SecondInvalidation + agentWindow
		if opt.SecondInvalidation <= 0 {
			bound = time.Minute + agentWindow // unknown (a history checked without the run's configuration): a minute
		}
		brokerLost := killLoses(faults, bound, region, writers, resent, "elasticmq", "elasticmq-"+short(region))
		cacheLostAfter := killAfter(faults, bound, region, writers, nil, "memcached-"+short(region))
		for _, key := range sortedKeys(f.Cache[region]) {
			e := f.Cache[region][key]
			var k int
			if _, err := fmt.Sscanf(key, "chaos-row:%d", &k); err == nil {
				db := dbFor(f, region)[k]
				if db.V != nil && *db.V == e.Value {
					continue
				}
				src, ok := prov[cell{k, e.Value}]
				if !ok {
					what := fmt.Sprintf("%s cache %s holds %q, which no write issued", region, key, e.Value)
					if o, other := byValue[e.Value]; other {
						what = fmt.Sprintf("%s cache %s holds %q, which write %s wrote to another key", region, key, e.Value, o.c.Invoke.ID)
					}
					add(Violation{Check: "invented", What: what})
					continue
				}
				if !src.mayHave() {
					add(Violation{Check: "failed-write", What: fmt.Sprintf("%s cache %s holds %q, the value of write %s, which failed", region, key, e.Value, src.c.Invoke.ID), Ops: []Op{src.c.Invoke, src.c.End}})
					continue
				}
				why, _, invs := staleExplained(ops, k, src, db, region, brokerLost)
				if why != "" {
					res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s holds %q, database %q", region, key, e.Value, str(db.V)), Why: why})
					continue
				}
				// cachesync promises convergence when a region's replica has a write by the time
				// its second event arrives (SecondInvalidation > the replica lag): a lag the
				// campaign's faults made longer breaches the configuration, not the code. Each
				// acknowledged, invalidated write superseding the entry rules it out on its own,
				// so the entry is outside the contract only when every one of them lagged.
				if len(invs) > 0 && opt.SecondInvalidation > 0 {
					type lagged struct {
						iv      invalidated
						arrival int64
						cause   string
					}
					var all []lagged
					for _, iv := range invs {
						arrival, cause := replicaArrival(h, faults, iv.w, region)
						if arrival <= iv.d.End.Time+int64(opt.SecondInvalidation) {
							all = nil
							break
						}
						all = append(all, lagged{iv, arrival, cause})
					}
					if len(all) > 0 {
						l := all[0] // the newest
						lag := time.Duration(l.arrival - l.iv.w.End.Time)
						lagFindings[fmt.Sprintf("contract breach by the campaign: %s's datacenter got write %s %s after its acknowledgement (%s), later than its second invalidation (SecondInvalidation %s): cachesync promises caches converge only when the replica lag is shorter",
							region, l.iv.w.Invoke.ID, lag.Round(time.Millisecond), l.cause, opt.SecondInvalidation)]++
						res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s holds %q, database %q", region, key, e.Value, str(db.V)),
							Why: fmt.Sprintf("%s's replica got write %s %s after it was acknowledged (%s), after the second invalidation: outside cachesync's contract (a finding)", region, l.iv.w.Invoke.ID, lag.Round(time.Millisecond), l.cause)})
						continue
					}
				}
				involved := append([]Op{src.c.Invoke}, newer(byKey[k], src.ts, 3)...)
				for _, c := range ops { // the fills in that region that stored the value
					if c.Invoke.F == FCacheFill && c.Invoke.Region == region && c.Invoke.Key == key && c.End.Value == e.Value {
						involved = append(involved, c.Invoke, c.End)
					}
				}
				add(Violation{Check: "stale-cache", What: fmt.Sprintf("%s cache %s holds %q (version %d %s) after quiescence; the database holds %q (wt %d)",
					region, key, e.Value, e.Version.Micros, e.Version.Origin, str(db.V), db.VWT), Ops: involved})
				continue
			}
			// Cache-only key: the newest acknowledged set or delete, or something newer.
			src, ok := cacheSets[e.Value]
			switch {
			case !ok:
				add(Violation{Check: "invented", What: fmt.Sprintf("%s cache %s holds %q, which no set issued", region, key, e.Value)})
				continue
			case src.Invoke.Key != key:
				add(Violation{Check: "invented", What: fmt.Sprintf("%s cache %s holds %q, which set %s wrote to %s", region, key, e.Value, src.Invoke.ID, src.Invoke.Key), Ops: []Op{src.Invoke}})
				continue
			case src.Outcome == Fail:
				add(Violation{Check: "failed-write", What: fmt.Sprintf("%s cache %s holds %q, the value of set %s, which was not applied (%s)", region, key, e.Value, src.Invoke.ID, src.End.Err), Ops: []Op{src.Invoke, src.End}})
				continue
			case src.Invoke.Region != region && sentOnlyInvalidation(src):
				add(Violation{Check: "failed-write", What: fmt.Sprintf("%s cache %s holds %q, the value of set %s made in %s, whose only event was an invalidation (%s): no event carried the value", region, key, e.Value, src.Invoke.ID, src.Invoke.Region, src.End.Err), Ops: []Op{src.Invoke, src.End}})
				continue
			case src.End.TS > 0 && (e.Version.Micros != src.End.TS || e.Version.Origin != src.Invoke.Region): // the op log has no Version.Writer
				// The set's version as recorded — acknowledged, or of unknown outcome (Set returns
				// the version it made with its error): an entry of its value carries that version.
				add(Violation{Check: "version", What: fmt.Sprintf("%s cache %s holds %q with version %d %s; its set %s (%s) returned version %d %s", region, key, e.Value, e.Version.Micros, e.Version.Origin, src.Invoke.ID, src.Outcome, src.End.TS, src.Invoke.Region), Ops: []Op{src.Invoke, src.End}})
				continue
			case src.Outcome != OK && src.End.TS <= 0 && e.Version.Micros > (cmp.Or(src.End.Time, histEnd)+int64(skew)+int64(time.Second))/1000:
				// A set of unknown outcome: its version is the writing client's clock when it made
				// it (cachesync.Version), a hybrid clock that follows only versions other clocks
				// made: at most the set's completion time plus the history's largest composed
				// skew (and a second of the clocks' granularity). Later is a version no clock made.
				add(Violation{Check: "version", What: fmt.Sprintf("%s cache %s holds %q with version %d %s, %s after set %s completed (%s): no clock made it (the history's largest skew is %s)",
					region, key, e.Value, e.Version.Micros, e.Version.Origin, time.Duration(e.Version.Micros*1000-cmp.Or(src.End.Time, histEnd)).Round(time.Millisecond), src.Invoke.ID, src.Outcome, skew), Ops: []Op{src.Invoke, src.End}})
				continue
			case e.Version.Origin != src.Invoke.Region: // a set of unknown outcome: its version unknown, its origin not
				add(Violation{Check: "version", What: fmt.Sprintf("%s cache %s holds %q with version %d %s; its set %s was made in %s", region, key, e.Value, e.Version.Micros, e.Version.Origin, src.Invoke.ID, src.Invoke.Region), Ops: []Op{src.Invoke, src.End}})
				continue
			}
			// Every set or delete of the key newer than the entry that reached region removed
			// it there (a newer value, a tombstone, an invalidation at its version): an
			// acknowledged one, or one whose error says its event went out (cachesync's
			// failedWrite). Each one must be excused on its own — any one unexcused rules the
			// entry out (an older value never overwrites a newer version or tombstone):
			//   - another region's: its events were lost in a kill -9 of the broker (brokerLost);
			//   - the region's own whose local store failed: only its second event (own queue)
			//     reaches region, lost the same way;
			//   - any: region's memcached was killed after it, while an event CARRYING THE
			//     ENTRY'S VALUE (src's first or second event) could still arrive after the kill
			//     (a kill empties memcached; only such an event writes the value back).
			eV := e.Version
			srcEnd := cmp.Or(src.End.Time, histEnd)
			valueSent := !sentOnlyInvalidation(src)
			for i := range ops {
				c := &ops[i]
				if c.Invoke.Key != key || (c.Invoke.F != FCacheSet && c.Invoke.F != FCacheDel) || c.Invoke.ID == src.Invoke.ID || c.End.TS <= 0 {
					continue
				}
				if c.Outcome != OK && !(c.Outcome == Info && eventWentOut(*c)) {
					continue
				}
				cv := cachesync.Version{Micros: c.End.TS, Origin: c.Invoke.Region}
				if !eV.Less(cv) {
					continue
				}
				switch {
				case valueSent && cacheLostAfter(srcEnd, c.End.Time, src.Invoke.Region, src.Invoke.Process):
					res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s older than op %s", region, key, c.Invoke.ID),
						Why: "memcached in " + region + " was killed after it, losing the newer value (or its tombstone), while an event of set " + src.Invoke.ID + "'s value could still arrive after the restart"})
					continue
				case (c.Invoke.Region != region || c.Outcome != OK) && brokerLost(c.End.Time, c.Invoke.Region, c.Invoke.Process):
					res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s older than op %s", region, key, c.Invoke.ID), Why: "ElasticMQ was killed after it: its in-memory queue lost the event"})
					continue
				}
				add(Violation{Check: "stale-cache", What: fmt.Sprintf("%s cache %s holds %q (version %d %s); a newer %s %s (version %d %s, %s) reached it",
					region, key, e.Value, e.Version.Micros, e.Version.Origin, c.Invoke.F, c.Invoke.ID, c.End.TS, c.Invoke.Region, c.Outcome), Ops: []Op{src.Invoke, c.Invoke, c.End}})
				break
			}
		}
	}

	for _, f := range sortedKeys(lagFindings) {
		res.Findings = append(res.Findings, fmt.Sprintf("%s (%d stale cache entries)", f, lagFindings[f]))
	}

	// The campaign's own configuration against the library's contract.
	if opt.SecondInvalidation > 0 {
		if skew := historySkew(h); opt.SecondInvalidation < opt.TombstoneTTL+2*skew {
			res.Findings = append(res.Findings, fmt.Sprintf("contract breach by the campaign: SecondInvalidation %s < TombstoneTTL %s + 2 × skew %s (composed skews of the history): stale cache entries may follow without a fault of the code",
				opt.SecondInvalidation, opt.TombstoneTTL, skew))
		}
	}

	if f.Repair != "" {
		res.Findings = append(res.Findings, "the global keyspace's datacenters were not all brought together after healing (a write missing in one datacenter may follow from it): "+f.Repair)
	}

	// 3. No panic, replay logs drained, dead letters explained.
	for _, l := range f.Logs {
		if p := panicIn(l); p != "" {
			add(Violation{Check: "panic", What: l + ": " + p})
		}
	}
	last := map[string]Op{} // writer -> the Drained line of its last incarnation
	lastInc := map[string]string{}
	for _, op := range h {
		if strings.HasPrefix(op.Process, "writer-") && op.Region != "" {
			lastInc[writerName(op.Process)] = op.Process
		}
	}
	for _, op := range h {
		if op.Type == Drained && op.Process == lastInc[writerName(op.Process)] {
			last[writerName(op.Process)] = op
		}
	}
	for _, wr := range sortedKeys(lastInc) {
		d, ok := last[wr]
		switch {
		case !ok:
			add(Violation{Check: "drain", What: fmt.Sprintf("%s never reported its end (stuck, or died)", lastInc[wr])})
		case d.Backlog > 0 || d.Err != "":
			add(Violation{Check: "drain", What: fmt.Sprintf("%s: replay log not drained after healing: %d writes still waiting (%s)", d.Process, d.Backlog, d.Err)})
		}
	}
	// The promise "no dualwrite/cachesync goroutine after Close" is per Close: every incarnation's
	// Drained line is read, not only the last one's (a later clean Close does not undo a leak
	// measured in another process).
	for _, op := range h {
		if op.Type == Drained && strings.HasPrefix(op.Process, "writer-") && op.Leaked > 0 {
			add(Violation{Check: "goroutines", What: fmt.Sprintf("%s: %d goroutines still running after Close of its dualwrite session and cachesync publisher (their stacks are in its log)", op.Process, op.Leaked), Ops: []Op{op}})
		}
	}
	// Every writer the final state names (its spill, one per writer configuration) must have recorded
	// operations: a writer silent from its start (stuck before its first line, its history lost)
	// exercised nothing, and 0 violations over it would be a verdict on no traffic.
	for _, wr := range namedWriters(f) {
		if _, ok := lastInc[wr]; !ok {
			add(Violation{Check: "drain", What: fmt.Sprintf("%s, named by the final state (its publisher spill), recorded no operation: it never reported its start or its end (stuck, or died)", wr)})
		}
	}
	for _, dir := range sortedKeys(f.Pending) {
		if n := f.Pending[dir]; n > 0 {
			add(Violation{Check: "drain", What: fmt.Sprintf("%s still holds %d pending entries after every writer exited: writes one side may lack (islands replay inspect %s)", dir, n, dir)})
		}
	}
	for name, n := range f.DeadLetters {
		if n > 0 {
			add(Violation{Check: "dead-letter", What: fmt.Sprintf("%s holds %d entries: the workload issues no statement a side could refuse (islands replay inspect shows them)", name, n)})
		}
	}
	for _, m := range f.DLQMessages {
		add(Violation{Check: "dead-letter", What: "cachesync event dead-lettered: " + m})
	}
	for _, dir := range sortedKeys(f.Spill) {
		if n := f.Spill[dir]; n > 0 {
			add(Violation{Check: "spill", What: fmt.Sprintf("cachesync spill %s still holds %d events after every writer exited: invalidations or sets its agents never got", dir, n)})
		}
	}

	// A caller waiting on the follower while its own side answered (reported per op).
	migrating := migrationRegions(h)
	var lats []time.Duration
	waits := 0
	deathOf := processDeaths(h, faults)
	atBarrier := flipBarriers(h, migrating)
	for _, c := range ops {
		if len(c.Invoke.Muts) == 0 {
			continue
		}
		lat := time.Duration(c.End.LatencyNs)
		how := "completed (" + c.Outcome + ")"
		if c.End.Type == "" {
			// A write its process died in waited until the death: the wait it had before it,
			// not one the kill caused, is judged (a hung write is not hidden by a later kill).
			died := deathOf(c.Invoke.Process, c.Invoke.Time)
			if died <= c.Invoke.Time {
				continue
			}
			lat, how = time.Duration(died-c.Invoke.Time), "had no answer when its process died"
			c.End.Time = died
		} else {
			lats = append(lats, lat)
		}
		if lat <= opt.CallerWait {
			continue
		}
		leader, follower := sidesOf(c.Invoke.Region, c.Invoke.Phase)
		writer := writerName(c.Invoke.Process)
		// A fault on the authoritative side or on the writer itself excuses the part of the
		// wait it covered (and a second after it), not the rest: the wait minus that part is
		// judged against the bound.
		end := c.Invoke.Time + int64(lat)
		excused := []string{leader, writer}
		var barrier time.Duration
		// A flip of this writer's own phase still in progress as the write began (flipBarriers:
		// from the set until the writer recorded it applied, or `set --wait` returned) may have
		// held it at dualwrite's barrier, which waits for the old phase's writes (each bounded, its sides healthy, by
		// CallerWait) and holds new ones only while it switches (flipBarrier): the flip excuses
		// those, and faults on either phase's authoritative side — the follower of this phase
		// led the other — not the whole wait.
		if atBarrier(writer, c.Invoke.Region, c.Invoke.Time) {
			barrier = flipBarrier + opt.CallerWait
			if follower != "" {
				excused = append(excused, follower)
			}
		}
		faulted := time.Duration(faults.covered(c.Invoke.Time, end, int64(recoveryGrace), excused...)) + barrier
		if lat-faulted <= opt.CallerWait {
			continue
		}
		state := "healthy"
		if follower == "" {
			state = "absent (the write has one side)"
		} else if faults.hit(follower, c.Invoke.Time, c.End.Time) {
			state = "faulted"
		}
		if waits++; waits <= 5 {
			add(Violation{Check: "caller-wait", What: fmt.Sprintf("write %s %s after %.1fs, %.1fs of it while its authoritative side (%s) and its writer were healthy and the follower (%s) %s: the caller waited for the follower",
				c.Invoke.ID, how, lat.Seconds(), (lat - faulted).Seconds(), leader, follower, state), Ops: []Op{c.Invoke, c.End}})
		}
	}
	if waits > 5 {
		add(Violation{Check: "caller-wait", What: fmt.Sprintf("… and %d more writes like these", waits-5)})
	}
	res.WriteLat = quantiles(lats)

	// The migration's epoch rule: every write that began after `set --wait` returned ran under the
	// epoch that set made, or a later one.
	res.Violations = append(res.Violations, epochRule(h, ops)...)

	// Every value a cache read returned, or a fill read, is one a write of that key wrote.
	res.Violations = append(res.Violations, readValues(ops, prov, byValue, cacheSets, neverAppliedIn(h, f))...)

	// A cache read older than the reader's own region's completed invalidation.
	res.Violations = append(res.Violations, staleReads(ops, byKey, prov, faults, migrating)...)
	res.Violations = append(res.Violations, cacheOnlyStaleReads(ops, cacheSets, faults)...)

	res.Affected = affectedTraffic(h, ops)
	res.Handoff = handoffFigures(h)

	// 4. Staleness of cache reads while faults were active (a distribution, not a verdict).
	res.Staleness = staleness(ops, byKey, prov, faults)
	return res
}

// checkV judges the v cell of key k on side against the writes ws the side must hold.
// Provenance: the value must be one a write of ws wrote to k (another region's write, which the
// side never receives, is as invented as a value nobody wrote). Reconciliation is Cassandra's: the
// newer timestamp wins; at equal timestamps a tombstone beats a live cell, and of two live cells
// the greater value wins — so a held cell some acknowledged write beats is a lost write.
func checkV(k int, side string, row RowState, ws []writeOp, prov map[cell]writeOp, byValue map[string]writeOp, add func(Violation), missing func(writeOp, Violation)) {
	var maxSet int64 = -1    // newest set of v that must be there
	var maxDelAny int64 = -1 // newest delete that may have applied
	var lastSet writeOp
	for _, w := range ws {
		for _, m := range w.c.Invoke.Muts {
			if m.K != k {
				continue
			}
			switch m.F {
			case FInsert, FUpdate:
				if w.acked() && w.ts > maxSet {
					maxSet, lastSet = w.ts, w
				}
			case FDelete:
				if w.mayHave() && w.ts > maxDelAny {
					maxDelAny = w.ts
				}
			}
		}
	}
	if row.V == nil {
		if maxSet >= 0 && maxSet > maxDelAny {
			missing(lastSet, Violation{Check: lastSet.lostKind(side, k), What: fmt.Sprintf("kv k=%d v absent on the %s side; write %s (ts %d, %s) set it and no delete is newer",
				k, side, lastSet.c.Invoke.ID, maxSet, lastSet.c.Outcome), Ops: []Op{lastSet.c.Invoke, lastSet.c.End}})
		}
		return
	}
	var src writeOp
	found := false
	for _, w := range ws {
		if setsV(w, k, *row.V) && (!found || w.ts == row.VWT) {
			src, found = w, true
		}
	}
	if !found {
		what := fmt.Sprintf("kv k=%d v=%q on the %s side: no client wrote it", k, *row.V, side)
		var involved []Op
		if o, other := prov[cell{k, *row.V}]; other {
			what = fmt.Sprintf("kv k=%d v=%q on the %s side: write %s of %s wrote it, and this side receives no write of that region", k, *row.V, side, o.c.Invoke.ID, o.c.Invoke.Region)
			involved = []Op{o.c.Invoke}
		} else if o, other := byValue[*row.V]; other {
			what = fmt.Sprintf("kv k=%d v=%q on the %s side: write %s wrote that value to another key, never to this one", k, *row.V, side, o.c.Invoke.ID)
			involved = []Op{o.c.Invoke}
		}
		add(Violation{Check: "invented", What: what, Ops: involved})
		return
	}
	if !src.mayHave() {
		add(Violation{Check: "failed-write", What: fmt.Sprintf("kv k=%d v=%q on the %s side: its write %s failed (%s)", k, *row.V, side, src.c.Invoke.ID, src.c.End.Err),
			Ops: []Op{src.c.Invoke, src.c.End}})
		return
	}
	if src.ts != row.VWT {
		add(Violation{Check: "timestamp", What: fmt.Sprintf("kv k=%d v=%q on the %s side has writetime %d; its write %s used %d", k, *row.V, side, row.VWT, src.c.Invoke.ID, src.ts),
			Ops: []Op{src.c.Invoke}})
	}
	// The newest acknowledged write that beats the held cell (a delete before a set at a tie).
	var lost writeOp
	beaten := false
	for _, w := range ws {
		if !w.acked() {
			continue
		}
		for _, m := range w.c.Invoke.Muts {
			if m.K != k {
				continue
			}
			beats := false
			switch m.F {
			case FDelete:
				beats = w.ts >= row.VWT
			case FInsert, FUpdate:
				beats = w.ts > row.VWT || (w.ts == row.VWT && m.V > *row.V)
			}
			if beats && (!beaten || w.ts > lost.ts || (w.ts == lost.ts && m.F == FDelete)) {
				lost, beaten = w, true
			}
		}
	}
	if beaten {
		how := "newer"
		if lost.ts == row.VWT {
			how = "of the same timestamp, and wins the tie (a tombstone beats a live cell, then the greater value)"
		}
		missing(lost, Violation{Check: lost.lostKind(side, k), What: fmt.Sprintf("kv k=%d on the %s side holds %q (wt %d) but write %s (ts %d, %s) is %s",
			k, side, *row.V, row.VWT, lost.c.Invoke.ID, lost.ts, lost.c.Outcome, how), Ops: append([]Op{src.c.Invoke}, newer(ws, row.VWT-1, 3)...)})
	}
}

// setsV reports whether w wrote value v to key k's v cell.
func setsV(w writeOp, k int, v string) bool {
	for _, m := range w.c.Invoke.Muts {
		if m.K == k && (m.F == FInsert || m.F == FUpdate) && m.V == v {
			return true
		}
	}
	return false
}

func checkTags(k int, side string, row RowState, ws []writeOp, add func(Violation), missing func(writeOp, Violation)) {
	have := map[string]bool{}
	for _, e := range row.Tags {
		have[e] = true
	}
	for i := 0; i < 6; i++ {
		e := fmt.Sprintf("e%d", i)
		var maxAdd, maxAddAny, maxRm, maxRmAny int64 = -1, -1, -1, -1
		var lastAdd writeOp
		for _, w := range ws {
			for _, m := range w.c.Invoke.Muts {
				if m.K != k {
					continue
				}
				switch {
				case !w.mayHave():
				case m.F == FAdd && m.Elem == e:
					maxAddAny = max(maxAddAny, w.ts)
					if w.acked() && w.ts > maxAdd {
						maxAdd, lastAdd = w.ts, w
					}
				case m.F == FDelete || (m.F == FRemove && m.Elem == e):
					maxRmAny = max(maxRmAny, w.ts)
					if w.acked() {
						maxRm = max(maxRm, w.ts)
					}
				}
			}
		}
		switch {
		case have[e] && (maxAddAny < 0 || maxAddAny <= maxRm):
			add(Violation{Check: "lost-write", What: fmt.Sprintf("kv k=%d tags holds %s on the %s side, but an acknowledged remove/delete (ts %d) is newer than every add (newest %d)",
				k, e, side, maxRm, maxAddAny), Ops: newer(ws, maxAddAny, 3)})
		case !have[e] && maxAdd >= 0 && maxAdd > maxRmAny:
			missing(lastAdd, Violation{Check: lastAdd.lostKind(side, k), What: fmt.Sprintf("kv k=%d tags lacks %s on the %s side; add %s (ts %d) is newer than every remove/delete",
				k, e, side, lastAdd.c.Invoke.ID, maxAdd), Ops: []Op{lastAdd.c.Invoke, lastAdd.c.End}})
		}
	}
	for e := range have {
		if len(e) != 2 || e[0] != 'e' || e[1] < '0' || e[1] > '5' {
			add(Violation{Check: "invented", What: fmt.Sprintf("kv k=%d tags holds %q on the %s side: no client added it", k, e, side)})
		}
	}
}

// newer returns up to n writes of ws with a timestamp above ts, oldest first.
func newer(ws []writeOp, ts int64, n int) []Op {
	var out []writeOp
	for _, w := range ws {
		if w.ts > ts {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ts < out[j].ts })
	var ops []Op
	for i := 0; i < len(out) && i < n; i++ {
		op := out[i].c.Invoke
		op.Err = out[i].c.Outcome + " " + out[i].c.End.Err
		ops = append(ops, op)
	}
	return ops
}

func lastOps(ws []writeOp, n int) []Op {
	if len(ws) > n {
		ws = ws[len(ws)-n:]
	}
	var ops []Op
	for _, w := range ws {
		op := w.c.Invoke
		op.Err = w.c.Outcome + " " + w.c.End.Err
		ops = append(ops, op)
	}
	return ops
}

// invalidated is a write superseding a stale entry and the invalidation that reached the entry's
// region for it.
type invalidated struct {
	w, d Completed
}

// staleExplained says why a stale row entry is not the libraries' fault, or "" with the writes
// that should have replaced it, each with its invalidation that reached region (the caller weighs
// each one's replica lag: any one promptly replicated rules the entry out). Only writes
// superseding the entry's value that took effect — or may have, on the side the region's fills
// read (db) — count: a write the final state shows never applied there changed nothing a fill
// could read. When one was acknowledged and its invalidation reached region, every fill after it
// read a value at least as new, whatever older or newer writes did; only when none did may the
// newest superseding write excuse the entry, and only by what could really hold its events back
// from region:
//   - it did not complete, or its process died before it invalidated: no event went out;
//   - its invalidation returned an error: in its writer's own region the local delete failed
//     (memcached down); when the error says the event went out (cachesync's failedWrite:
//     "locally (the event went out)") the events to other regions went out all the same, and so
//     did its second event to the region's OWN queue (the publisher sends second events there
//     too: NewPublisherTo's own destination; the campaign reads caches only after every queue,
//     delayed messages included, drained): it excuses nothing, in any region — only that second
//     event's loss in the own queue's broker kill does (brokerLost);
//   - the queue of region lost its events in a kill -9 of the broker (brokerLost: a kill within
//     the time faults on the events' own path could hold them): in another region both events go
//     through that queue; in the writer's own region the first event is a direct delete and only
//     the second goes through it, which matters only when the region's fills read a follower that
//     lags the acknowledgement (fillsSeeWrite false).
func staleExplained(ops []Completed, k int, src writeOp, db RowState, region string, brokerLost func(at int64, from, proc string) bool) (why string, newest *Completed, invs []invalidated) {
	key := RowKey(k)
	var cands []*Completed // the writes superseding src that may have applied where region's fills read
	for i := range ops {
		c := &ops[i]
		w := c.Invoke
		if len(w.Muts) == 0 || w.TS <= src.ts || c.Outcome == Fail || notAppliedOn(w, k, db) {
			continue
		}
		changesV := false
		for _, m := range w.Muts {
			if m.K == k && (m.F == FInsert || m.F == FUpdate || m.F == FDelete) {
				changesV = true
			}
		}
		if changesV {
			cands = append(cands, c)
			if newest == nil || w.TS > newest.Invoke.TS {
				newest = c
			}
		}
	}
	if newest == nil {
		return "", nil, nil
	}
	own := func(c *Completed) bool { return region == c.Invoke.Region }
	// lost reports whether the broker's kill may have lost the events of c that region depended on.
	lost := func(c *Completed, d Completed) bool {
		if own(c) && d.Outcome == OK && fillsSeeWrite(region, c.Invoke.Phase) {
			return false // the direct delete removed every older fill; later fills read c
		}
		return brokerLost(d.End.Time, c.Invoke.Region, d.Invoke.Process)
	}
	// out reports whether c's events went out to region: its invalidation completed, or (another
	// region) it returned the local memcached's error with the events sent.
	out := func(c *Completed) (Completed, bool) {
		d, ok := invalidationOf(ops, *c, key)
		if !ok {
			return d, false
		}
		return d, d.Outcome == OK || eventWentOut(d)
	}
	for _, c := range cands {
		if c.Outcome != OK {
			continue
		}
		if d, ok := out(c); ok && !lost(c, d) {
			invs = append(invs, invalidated{*c, d})
		}
	}
	if len(invs) > 0 {
		sort.Slice(invs, func(i, j int) bool { return invs[i].w.Invoke.TS > invs[j].w.Invoke.TS })
		return "", &invs[0].w, invs
	}
	w := newest.Invoke
	if newest.Outcome != OK {
		return fmt.Sprintf("write %s, the newest to supersede it, did not complete (%s), so its writer never invalidated the caches", w.ID, newest.Outcome), newest, nil
	}
	d, ok := out(newest)
	if !ok {
		if d.End.Type != "" && own(newest) {
			return fmt.Sprintf("the invalidation after write %s failed in its own region's memcached (%s)", w.ID, d.End.Err), newest, nil
		}
		return fmt.Sprintf("the invalidation after write %s did not complete (writer killed, or its events not sent)", w.ID), newest, nil
	}
	if own(newest) && d.Outcome != OK {
		return fmt.Sprintf("the invalidation after write %s failed in its own region's memcached (%s) and ElasticMQ of that region was killed while it may still have held its second event (killLoses)", w.ID, d.End.Err), newest, nil
	}
	if own(newest) {
		return "ElasticMQ of the writer's own region was killed after the invalidation, while it may still have held its second event (killLoses), the only one that removes a fill of the region's lagging follower", newest, nil
	}
	return "ElasticMQ was killed after the invalidation was sent, while it may still have held it (killLoses): its in-memory queue lost it", newest, nil
}

// eventWentOut reports whether a cache write that returned an error (its completion recorded)
// sent its events all the same: cachesync's failedWrite says so ("locally (the event went out)")
// and joins nothing else (a failed publish would follow on another line).
func eventWentOut(d Completed) bool {
	return d.End.Type != "" && strings.Contains(d.End.Err, "(the event went out)") && !strings.Contains(d.End.Err, "\n")
}

// sentOnlyInvalidation reports whether cache set c returned cachesync's failedWrite error for a
// set: its local store failed and the only event it published was an invalidation at its
// version, never its value ("invalidate … locally (the event went out)", a refused publish joined
// to it or not) — so its value reached no other region.
func sentOnlyInvalidation(c Completed) bool {
	return c.Invoke.F == FCacheSet && c.End.Type != "" && strings.HasPrefix(c.End.Err, "cachesync: invalidate ") && strings.Contains(c.End.Err, "locally (the event went out)")
}

// notAppliedOn reports whether the final row db shows that write w's mutation of key k's v never
// took effect there: v holds a cell the mutation would have beaten (Cassandra's reconciliation:
// newer timestamp, then a tombstone, then the greater value). An absent v shows nothing (a delete
// may have removed the write's value).
func notAppliedOn(w Op, k int, db RowState) bool {
	if db.V == nil {
		return false
	}
	for _, m := range w.Muts {
		if m.K != k {
			continue
		}
		switch m.F {
		case FDelete:
			if db.VWT <= w.TS {
				return true
			}
		case FInsert, FUpdate:
			if db.VWT < w.TS || (db.VWT == w.TS && *db.V < m.V) {
				return true
			}
		}
	}
	return false
}

// processDeaths returns when the writer incarnation proc, alive at a given time, died: the start
// of the first kill (or kill-disk) of its writer after that time, else the first line of a later incarnation
// of its writer, else its own last line (it exited); 0 when nothing shows it.
func processDeaths(h []Op, faults windows) func(proc string, after int64) int64 {
	return func(proc string, after int64) int64 {
		writer := writerName(proc)
		var died int64
		for _, w := range faults {
			if (w.kind == KindKill || w.kind == KindKillDisk) && w.target == writer && w.start >= after && (died == 0 || w.start < died) {
				died = w.start
			}
		}
		if died > 0 {
			return died
		}
		var last int64
		for _, op := range h {
			if op.Time < after || !strings.HasPrefix(op.Process, "writer-") || writerName(op.Process) != writer {
				continue
			}
			if op.Process != proc {
				return op.Time
			}
			last = op.Time
		}
		return last
	}
}

// neverAppliedIn returns whether the final state f shows that write w's mutation of key k took
// effect on no side that receives it: every such side's row holds a cell the mutation would have
// beaten (notAppliedOn) — after hints and repair, a mutation applied on any replica would have
// reached them all and won. A kill -9 of a Cassandra node may lose what it applied and had not
// synced (commitlog_sync periodic: commitlogSyncPeriod), and the writes it missed reach it as
// hints after its restart: the final state shows nothing of a write whose life [invoke,
// completion — or the end of the history when it has none] overlaps a kill's window from
// commitlogSyncPeriod before it to the delivery of the hints after it (the first sample of
// pending hints back at none after one showing some; the end of the history when they never
// drained; recoveryGrace after the restart when no sample after it showed any). Every other
// write is judged (one kill early in a campaign blinds nothing after it). Nor does a write no
// side receives show anything.
func neverAppliedIn(h []Op, f Final) func(w Completed, k int) bool {
	var histEnd int64
	for _, op := range h {
		histEnd = max(histEnd, op.Time)
	}
	type span struct{ from, to int64 }
	var shields []span
	for _, w := range faultWindows(h) {
		if w.kind != KindKill || !strings.HasPrefix(w.target, "cassandra") {
			continue
		}
		done := w.end + int64(recoveryGrace)
		pending := map[string]bool{}
		for _, op := range h {
			if op.Type != Stats || op.F != "hints" || op.Time < w.end {
				continue
			}
			if op.Backlog > 0 {
				pending[op.Target] = true
			} else if pending[op.Target] {
				delete(pending, op.Target)
				done = max(done, op.Time)
			}
		}
		if len(pending) > 0 {
			done = histEnd
		}
		shields = append(shields, span{w.start - int64(commitlogSyncPeriod), done})
	}
	return func(c Completed, k int) bool {
		w := c.Invoke
		end := c.End.Time
		if c.End.Type == "" {
			end = histEnd
		}
		for _, s := range shields {
			if w.Time <= s.to && end >= s.from {
				return false
			}
		}
		n := 0
		for _, side := range sortedKeys(f.Rows) {
			if holds := f.Holds[side]; len(holds) > 0 && !slices.Contains(holds, w.Region) {
				continue
			}
			if !notAppliedOn(w, k, f.Rows[side][k]) {
				return false
			}
			n++
		}
		return n > 0
	}
}

// commitlogSyncPeriod is Cassandra's default commitlog_sync_period (periodic sync): what a node
// applied longer ago than this is on its disk, and a kill -9 does not lose it.
const commitlogSyncPeriod = 10 * time.Second

// replicaArrival returns when region's datacenter of the global keyspace received write w of
// another region, when something held it back (0 when nothing did: the write was replicated as it
// was acknowledged), and the cause. The write enters the global keyspace through its writer's
// datacenter: when that node is the writer's follower (a migrating writer in a phase where the
// island is authoritative), only once the writer's replay log delivered it (replayArrival), and
// every other datacenter gets it after that. A write acknowledged (or delivered) while region's
// node was paused or killed, or while a partition cut the two regions apart, reaches it as a hint
// its writer's coordinator delivers after the cut heals. The coordinator's pending hint files are
// for every node it could not reach: region's are delivered by the first sample after the end of
// the cut showing no more files than the nodes of the other datacenters that were cut when the
// write got to the coordinator (each holds a hint of it) and still are (their hints wait for
// them); the end of the cut itself when no sample after it showed more; the end of the history
// when they never drained.
func replicaArrival(h []Op, faults windows, w Completed, region string) (int64, string) {
	from := w.Invoke.Region
	if from == region {
		return replayArrival(h, w, region)
	}
	if from == "" {
		return 0, ""
	}
	at := w.End.Time
	replayed, replayCause := replayArrival(h, w, from)
	if replayed > 0 {
		at = replayed
	}
	cutsNode := func(f window, node string) bool {
		switch f.kind {
		case KindPause, KindKill:
			return f.target == globalService(node)
		case KindPartition:
			return f.target == "wan" || f.target == "isolate-"+node || f.target == "isolate-"+from
		}
		return false
	}
	cutAt := func(node string, t int64) bool {
		for _, f := range faults {
			if cutsNode(f, node) && f.start <= t && f.end >= t {
				return true
			}
		}
		return false
	}
	var end int64
	var cause string
	for changed := true; changed; {
		changed = false
		for _, f := range faults {
			if cutsNode(f, region) && f.start <= max(at, end) && f.end >= at && f.end > end {
				end, cause, changed = f.end, f.kind+" "+f.target, true
			}
		}
	}
	if replayed > 0 {
		cause = strings.TrimPrefix(replayCause+", then "+cause, ", then ")
	}
	if end == 0 {
		return replayed, replayCause
	}
	// othersHeld counts the other datacenters' nodes whose hints of w still wait at t.
	othersHeld := func(t int64) int64 {
		var n int64
		for _, r := range Regions {
			if r != region && r != from && cutAt(r, at) && cutAt(r, t) {
				n++
			}
		}
		return n
	}
	arrival, pending := end, false
	coordinator := globalService(from)
	var last int64
	for _, op := range h {
		last = max(last, op.Time)
		if op.Type != Stats || op.F != "hints" || op.Target != coordinator || op.Time < end {
			continue
		}
		if op.Backlog > othersHeld(op.Time) {
			pending = true
			continue
		}
		if pending {
			return op.Time, cause + ", then hints of " + coordinator
		}
		return arrival, cause
	}
	if pending {
		return last, cause + ", then hints of " + coordinator + " never drained"
	}
	return arrival, cause
}

// replayArrival returns when region's datacenter of the global keyspace received write w of a
// writer of the same region whose follower it is (a migrating writer in a phase where the island
// is authoritative): the follower's copy waits in the writer's replay log when the follower did
// not answer within its budget. The writer's first backlog sample after the acknowledgement
// showing writes waiting puts w among them (0 when it shows none: the follower had it as it was
// acknowledged); the arrival is the first sample after it showing the log empty (the end of the
// history when it never emptied). A later incarnation of the writer replays the same directory.
func replayArrival(h []Op, w Completed, region string) (int64, string) {
	if _, follower := sidesOf(region, w.Invoke.Phase); follower != globalService(region) || w.End.Time == 0 {
		return 0, ""
	}
	writer := writerName(w.Invoke.Process)
	pending := false
	var last int64
	for _, op := range h {
		last = max(last, op.Time)
		if op.Type != Stats || op.F != "" || op.Time < w.End.Time || !strings.HasPrefix(op.Process, "writer-") || writerName(op.Process) != writer {
			continue
		}
		switch {
		case op.Backlog > 0:
			pending = true
		case pending:
			return op.Time, "replay log of " + writer + " (the follower " + globalService(region) + " lagging)"
		default:
			return 0, ""
		}
	}
	if pending {
		return last, "replay log of " + writer + " never drained"
	}
	return 0, ""
}

// invalidationOf returns the invalidation of key that write c caused: the cache-del naming c as
// its cause (histories without causes: the first cache-del of key by c's process after c).
func invalidationOf(ops []Completed, c Completed, key string) (Completed, bool) {
	for _, d := range ops {
		if d.Invoke.F != FCacheDel || d.Invoke.Key != key {
			continue
		}
		if d.Invoke.Cause == c.Invoke.ID || (d.Invoke.Cause == "" && d.Invoke.Process == c.Invoke.Process && d.Invoke.Time >= c.End.Time) {
			return d, true
		}
	}
	return Completed{}, false
}

// historySkew returns the largest composed clock offset of any region in the history: the skews
// injected on a region (not their failed injections) sum while they overlap.
func historySkew(h []Op) time.Duration {
	active := map[string][]time.Duration{} // region -> offsets active
	var most time.Duration
	for _, op := range h {
		if op.Type != NemesisEvent || op.F != KindSkew {
			continue
		}
		verb, arg, _ := strings.Cut(op.Value, " ")
		d, err := time.ParseDuration(arg)
		if err != nil {
			continue
		}
		switch {
		case verb == "start" && op.Err == "":
			active[op.Target] = append(active[op.Target], d)
		case verb == "end", verb == "start": // a heal, or a failed injection: that offset is gone
			if i := slices.Index(active[op.Target], d); i >= 0 {
				active[op.Target] = slices.Delete(active[op.Target], i, i+1)
			}
		}
		var sum time.Duration
		for _, x := range active[op.Target] {
			sum += x
		}
		most = max(most, sum, -sum)
	}
	return most
}

// affectedTraffic counts, per fault kind, the faults injected during which (or within a second
// after) traffic was affected: an operation overlapping the window failed, timed out or took over
// a second, a writer reported a replay backlog (writes waiting for a side), or a global node held
// hints (writes waiting for another datacenter); for the WAN's faults also an acknowledged write
// of the global keyspace (replicated across it) or a cache event sent across it. Instantaneous steps
// (phase flips) count when a write was invoked within a second after them.
func affectedTraffic(h []Op, ops []Completed) map[string]int {
	type win struct {
		kind, target string
		start, end   int64
	}
	var wins []win
	open := map[string]int{} // kind/target -> index in wins of the window open
	var last int64
	for _, op := range h {
		last = max(last, op.Time)
		if op.Type != NemesisEvent || op.Target == "" {
			continue
		}
		id := op.F + "/" + op.Target
		verb, _, _ := strings.Cut(op.Value, " ")
		switch {
		case verb == "start" && op.Err == "":
			open[id] = len(wins)
			wins = append(wins, win{kind: op.F, target: op.Target, start: op.Time, end: -1})
			if op.F == KindPhase {
				wins[len(wins)-1].end = op.Time
				delete(open, id)
			}
		case verb == "start": // the injection failed: no fault
			if i, ok := open[id]; ok {
				wins[i].kind = ""
				delete(open, id)
			}
		case verb == "end":
			if i, ok := open[id]; ok {
				wins[i].end = op.Time
				delete(open, id)
			}
		}
	}
	grace := int64(time.Second)
	out := map[string]int{}
	for _, w := range wins {
		if w.kind == "" {
			continue
		}
		if w.end < 0 {
			w.end = last
		}
		hit := false
		for _, c := range ops {
			from, to := c.Invoke.Time, c.End.Time
			if to == 0 {
				to = last
			}
			if from > w.end+grace || to < w.start {
				continue
			}
			event := (c.Invoke.F == FCacheDel || c.Invoke.F == FCacheSet) && c.Outcome == OK // an event to the other region
			// A fill refused (no row, the key changed since BeginFill) or a set refused (a newer
			// version held) is the library working, not traffic a fault hurt.
			refused := c.Outcome == Fail && (c.Invoke.F == FCacheFill || c.Invoke.F == FCacheSet)
			hurt := (c.Outcome != OK && !refused) || c.End.LatencyNs > int64(time.Second)
			switch w.kind {
			case KindPhase:
				hit = len(c.Invoke.Muts) > 0
			case KindSkew: // the skewed region's writes carried shifted timestamps
				hit = len(c.Invoke.Muts) > 0 && c.Invoke.Region == w.target
			case KindForklift: // judged below, by whether the kill caught a run under way
			case KindPartition, KindLatency:
				// The events crossed the WAN, delayed or held; every acknowledged write of the
				// global keyspace is replicated to the other datacenters through it.
				// (An isolated region's node receives every write too, or sends it.)
				hit = event || hurt || (len(c.Invoke.Muts) > 0 && c.Outcome == OK)
			case KindSQSCut: // events from the cut path's origin region
				_, from, _ := strings.Cut(w.target, "-sqs-from-")
				hit = event && c.Invoke.Region == from
			default:
				hit = hurt
			}
			if hit {
				break
			}
		}
		for _, op := range h {
			if hit {
				break
			}
			if w.kind == KindForklift {
				hit = op.Type == NemesisEvent && op.F == KindForklift && strings.HasPrefix(op.Value, "killed")
				continue
			}
			if w.kind == KindKillDisk { // the lost disk held entries: only the hand-off carried them
				hit = op.Type == NemesisEvent && op.F == KindKillDisk && op.Target == w.target && op.Backlog > 0 &&
					op.Time >= w.start && op.Time <= w.end
				continue
			}
			hit = op.Type == Stats && op.Backlog > 0 && op.Time >= w.start && op.Time <= w.end+grace
		}
		if _, ok := out[w.kind]; !ok {
			out[w.kind] = 0
		}
		if hit {
			out[w.kind]++
		}
	}
	return out
}

// handoffFigures sums what the migrating writers' hand-off did over the run: the disks kill-disk
// deleted and the entries they held, and the entries copied to the shared store, handed off at
// Close and adopted (each incarnation's largest count: its figures are cumulative).
func handoffFigures(h []Op) map[string]int64 {
	per := map[string]Op{} // incarnation -> its largest counts
	out := map[string]int64{}
	for _, op := range h {
		switch {
		case op.Type == NemesisEvent && op.F == KindKillDisk && op.Value == "disk lost":
			out["disks_lost"]++
			out["entries_on_lost_disks"] += op.Backlog
		case (op.Type == Stats || op.Type == Drained) && strings.HasPrefix(op.Process, "writer-"):
			p := per[op.Process]
			p.Copied, p.HandedOff, p.Adopted = max(p.Copied, op.Copied), max(p.HandedOff, op.HandedOff), max(p.Adopted, op.Adopted)
			per[op.Process] = p
		}
	}
	for _, p := range per {
		out["copied"] += p.Copied
		out["handed_off"] += p.HandedOff
		out["adopted"] += p.Adopted
	}
	if out["disks_lost"]+out["copied"]+out["handed_off"]+out["adopted"] == 0 {
		return nil
	}
	return out
}

// lastBrokerRestart returns when the SQS server holding region's queue (the events to region)
// was last restarted after a kill -9: elasticmq-us / elasticmq-eu, or the first world's single
// elasticmq (0: never).
func lastBrokerRestart(h []Op, region string) int64 {
	return max(lastKill(h, "elasticmq"), lastKill(h, "elasticmq-"+short(region)))
}

// agentWindow is how long a cache event can wait in its queue while the agent polling it and the
// path to it are healthy: the agent's long poll (WaitSeconds 1 s), the visibility timeout of a
// message received and not yet deleted (5 s), a retry's delay (1 s), rounded up to 10 s
// (agent.go's AgentOptions). The delayed second event adds SecondInvalidation before it is
// visible at all.
const agentWindow = 10 * time.Second

// namedWriters returns the writers the final state names by their publisher spill
// "replay-<name>-spill" (SpillDrained: one per writer configuration the campaign ran; Spill), as
// "writer-<name>". (Pending is not read: a replay directory exists only once a writer opened it.)
func namedWriters(f Final) []string {
	names := map[string]bool{}
	add := func(dir string) {
		base := strings.TrimSuffix(filepath.Base(dir), "-spill")
		if n, ok := strings.CutPrefix(base, "replay-"); ok && n != "" && !strings.Contains(n, "-") {
			names["writer-"+n] = true
		}
	}
	for d := range f.SpillDrained {
		add(d)
	}
	for d := range f.Spill {
		add(d)
	}
	return sortedKeys(names)
}

// killLoses returns whether a kill -9 of one of targets (region's broker's in-memory queue, its
// cache) could have lost an event bound for region from a writer of region from, sent at a given
// time: the kill began after it, within the time the event may have waited to be applied — bound
// (SecondInvalidation + agentWindow) of healthy time, to which every fault window on the event's
// own path between the event and the kill adds its length: the writer's process that publishes
// it (a writer of from), region's SQS server, agent and memcached, and — from another region —
// the WAN (a partition or latency of it, the isolation of either region, the cut of region's SQS
// from from). A fault elsewhere holds nothing bound for region; a kill minutes after the event,
// with nothing on its path holding it, found the queue without it: the agent had applied it long
// before. writers maps each writer (writer-eu) to its region.
//
// resent (nil: none) reports whether the publisher of process proc sent again, after the kill
// [start, end], an event it had accepted at at (cachesync's ResendWindow): such a kill loses
// nothing of it, and only a kill the contract allows to lose the event excuses its loss.
func killLoses(faults windows, bound time.Duration, region string, writers map[string]string, resent func(at, start, end int64, proc string) bool, targets ...string) func(at int64, from, proc string) bool {
	after := killAfter(faults, bound, region, writers, resent, targets...)
	return func(at int64, from, proc string) bool { return after(at, at, from, proc) }
}

// killAfter is killLoses for a kill that must also come at or after a later time notBefore
// (another write's effect it must have undone): whether a kill of targets at or after both at
// and notBefore came while events sent at at could still be held on their path.
func killAfter(faults windows, bound time.Duration, region string, writers map[string]string, resent func(at, start, end int64, proc string) bool, targets ...string) func(at, notBefore int64, from, proc string) bool {
	var kills []window
	for _, w := range faults {
		if w.kind == KindKill && slices.Contains(targets, w.target) {
			kills = append(kills, w)
		}
	}
	return func(at, notBefore int64, from, proc string) bool {
		path := []string{"elasticmq", "elasticmq-" + short(region), "agent-" + short(region), "memcached-" + short(region)}
		for wr, r := range writers {
			if r == from {
				path = append(path, wr)
			}
		}
		var on windows
		for _, w := range faults {
			if w.target == "phase" || (w.kind == KindKill && slices.Contains(targets, w.target)) {
				continue
			}
			wan := from != region && (w.kind == KindPartition || w.kind == KindLatency || w.kind == KindSQSCut) &&
				(w.target == "wan" || w.target == "isolate-"+region || w.target == "isolate-"+from || w.target == region+"-sqs-from-"+from)
			if wan || slices.Contains(path, w.target) {
				on = append(on, w)
			}
		}
		all := make([]string, 0, len(on))
		for _, w := range on {
			all = append(all, w.target)
		}
		for _, k := range kills {
			t := k.start
			if t >= at && t >= notBefore && time.Duration(t-at-on.covered(at, t, int64(recoveryGrace), all...)) <= bound &&
				(resent == nil || !resent(at, k.start, k.end, proc)) {
				return true
			}
		}
		return false
	}
}

// resentAfterOutage returns whether a publisher resent, after a broker kill [start, end], an
// event it had accepted at at — cachesync's promise (PublisherOptions.ResendWindow): when SQS
// refuses sends, the events it accepted during ResendWindow before are sent again once it takes
// sends again. It holds when all of: the publisher's process proc sent during the kill (a cache
// event it invoked in [start, end): the refusal that opens the outage, and the first such send
// is no earlier), that first refused send came at most window after at (the event was accepted
// at or after its invalidation completed, so inside the window), and proc was still running
// after the kill ended (a later line of it: the recovery's send) or closed after that send (its
// Drained line: Close spilled what it set aside, for the next publisher to send). Otherwise the contract allows the loss (no outage seen, the event older than the
// window, the publisher gone with its memory). window ≤ 0: no resend.
func resentAfterOutage(ops []Completed, h []Op, window time.Duration) func(at, start, end int64, proc string) bool {
	lastLine := map[string]int64{}
	closed := map[string]int64{} // process -> its Drained line: Close spilled what it set aside
	for _, op := range h {
		lastLine[op.Process] = max(lastLine[op.Process], op.Time)
		if op.Type == Drained {
			closed[op.Process] = op.Time
		}
	}
	sends := map[string][]int64{} // process -> invoke times of its cache events, in order
	for _, c := range ops {
		if c.Invoke.F == FCacheSet || c.Invoke.F == FCacheDel {
			sends[c.Invoke.Process] = append(sends[c.Invoke.Process], c.Invoke.Time)
		}
	}
	return func(at, start, end int64, proc string) bool {
		if window <= 0 || proc == "" {
			return false
		}
		for _, t := range sends[proc] {
			if t >= start && t < end {
				return t-at <= int64(window) && (lastLine[proc] > end || closed[proc] >= t)
			}
		}
		return false
	}
}

// writerRegions maps each writer of the history (writer-eu, without its incarnation) to its region.
func writerRegions(h []Op) map[string]string {
	out := map[string]string{}
	for _, op := range h {
		if strings.HasPrefix(op.Process, "writer-") && op.Region != "" {
			out[writerName(op.Process)] = op.Region
		}
	}
	return out
}

// lastKill returns when target was last restarted after a kill -9 (0: never killed).
func lastKill(h []Op, target string) int64 {
	var t int64
	for _, op := range h {
		if op.Type == NemesisEvent && op.F == KindKill && op.Target == target && nemesisVerb(op) == "end" {
			t = op.Time
		}
	}
	return t
}

// panicIn searches the whole file, in chunks, for the first panic, fatal error or data race.
func panicIn(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	markers := []string{"panic:", "fatal error:", "WARNING: DATA RACE"}
	const keep = 64 // longer than every marker: a marker split between chunks is found
	buf := make([]byte, 0, 1<<20+keep)
	chunk := make([]byte, 1<<20)
	for {
		n, rerr := io.ReadFull(f, chunk)
		buf = append(buf, chunk[:n]...)
		for _, marker := range markers {
			if i := strings.Index(string(buf), marker); i >= 0 {
				more := make([]byte, 300)
				m, _ := io.ReadFull(f, more)
				rest := append(buf[i:], more[:m]...)
				return strings.ReplaceAll(string(rest[:min(len(rest), 300)]), "\n", " | ")
			}
		}
		if rerr != nil {
			return ""
		}
		buf = append(buf[:0], buf[len(buf)-min(len(buf), keep):]...)
	}
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func sortedInts(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// heldBy returns the writes of ws a side holding the writes of regions must hold (every write
// when regions is empty).
func heldBy(ws []writeOp, regions []string) []writeOp {
	if len(regions) == 0 {
		return ws
	}
	var out []writeOp
	for _, w := range ws {
		if slices.Contains(regions, w.c.Invoke.Region) {
			out = append(out, w)
		}
	}
	return out
}

// dbFor returns the rows a cache of region is filled from: the global keyspace in the region's
// datacenter (or, in a history without one, the first global side).
func dbFor(f Final, region string) map[int]RowState {
	if rows, ok := f.Rows[globalSide(region)]; ok {
		return rows
	}
	for _, side := range sortedKeys(f.Rows) {
		if strings.HasPrefix(side, "global/") {
			return f.Rows[side]
		}
	}
	return nil
}

// sidesOf returns the Cassandra nodes (scripts/regions' services) a write of a writer in region
// and phase waits on: the authoritative side, and the follower ("" for a single-sided write). A
// migrating (EU) writer's sides are the island and the global keyspace's EU node; the others
// write the global keyspace in their own datacenter (LOCAL_QUORUM: the other datacenters are
// replicated to, not waited on). A history of the earlier two-cluster topology names us-east-1's
// writer in a dual phase: its sides are then us-east-1's node and the island.
func sidesOf(region, phase string) (leader, follower string) {
	flipped := phase == "dual-flipped" || phase == "secondary-only"
	switch {
	case region == EURegion && flipped:
		return globalService(EURegion), islandService
	case region == EURegion:
		return islandService, globalService(EURegion)
	case phase == "":
		return globalService(region), ""
	case flipped:
		return islandService, globalService(region)
	}
	return globalService(region), islandService
}

// epochRule checks the migration's promise (migration invariant 3): every write of an instance of
// the migration that began after a phase change's `set --wait` returned (the nemesis's "applied"
// event, with no error) runs under that change's epoch or a later one, and in the phase of the
// epoch it carries. An instance is a writer of a region with instances (migrationRegions): a
// write of one carrying no epoch (0) after such a wait is a write outside the control plane's
// barrier. The phase of an epoch is the one its set/applied events name; a write may show the
// phase of a later epoch (its session reads the epoch, then the phase: a flip may fall between),
// never one its epoch and no later one set before it began (laterPhase) had. A wait that failed (timed
// out naming an instance that had not applied) promises nothing. At most 5 violations are
// listed, then a count.
func epochRule(h []Op, ops []Completed) []Violation {
	type applied struct {
		at    int64
		epoch int64
		op    Op
	}
	var sets []applied
	phaseOf := map[int64]string{} // epoch -> the phase its change made
	setAt := map[int64]int64{}    // epoch -> when its change was recorded
	for _, op := range h {
		if op.Type != NemesisEvent || op.F != KindPhase || op.Epoch <= 0 {
			continue
		}
		verb, phase, _ := strings.Cut(op.Value, " ")
		if verb == "set" || verb == "applied" {
			phaseOf[op.Epoch] = phase
			if _, ok := setAt[op.Epoch]; !ok {
				setAt[op.Epoch] = op.Time
			}
		}
		if verb == "applied" && op.Err == "" {
			sets = append(sets, applied{op.Time, op.Epoch, op})
		}
	}
	if len(sets) == 0 {
		return nil
	}
	under := controlPlaneInstances(h)
	var out []Violation
	n := 0
	for _, c := range ops {
		w := c.Invoke
		if len(w.Muts) == 0 || (w.Epoch == 0 && !under(w)) {
			continue
		}
		// The newest epoch whose wait returned before the write began.
		var need *applied
		for i := range sets {
			if sets[i].at < w.Time && (need == nil || sets[i].epoch > need.epoch) {
				need = &sets[i]
			}
		}
		if need == nil {
			continue
		}
		var what string
		switch {
		case w.Epoch < need.epoch:
			what = fmt.Sprintf("write %s began %.0f ms after `set --wait` returned for epoch %d (%s) and ran under epoch %d (%s)",
				w.ID, float64(w.Time-need.at)/1e6, need.epoch, strings.TrimPrefix(need.op.Value, "applied "), w.Epoch, w.Phase)
		case phaseOf[w.Epoch] != "" && w.Phase != phaseOf[w.Epoch] && !laterPhase(phaseOf, setAt, w.Epoch, w.Phase, w.Time):
			what = fmt.Sprintf("write %s began %.0f ms after `set --wait` returned for epoch %d (%s) and ran under epoch %d in phase %s, not that epoch's phase %s",
				w.ID, float64(w.Time-need.at)/1e6, need.epoch, strings.TrimPrefix(need.op.Value, "applied "), w.Epoch, w.Phase, phaseOf[w.Epoch])
		default:
			continue
		}
		if n++; n <= 5 {
			out = append(out, Violation{Check: "epoch", What: what, Ops: []Op{need.op, w, c.End}})
		}
	}
	if n > 5 {
		out = append(out, Violation{Check: "epoch", What: fmt.Sprintf("… and %d more writes like these", n-5)})
	}
	return out
}

// controlPlaneInstances returns whether a write's writer is an instance of the migration under
// its control plane: one whose writes or applied phases carry an epoch, or a writer of a region
// with instances (migrationRegions) whose history does not show otherwise — a session under the
// control plane applies the migration's state when it opens, so a phase it reports applied with
// no epoch (Stats "phase", epoch 0) shows a writer following the phase some other way (a build
// without the control plane), to which the epoch rule promises nothing.
func controlPlaneInstances(h []Op) func(Op) bool {
	migrating := migrationRegions(h)
	epoch, none := map[string]bool{}, map[string]bool{}
	for _, op := range h {
		if !strings.HasPrefix(op.Process, "writer-") {
			continue
		}
		w := writerName(op.Process)
		switch {
		case (op.Type == Invoke || op.Type == Stats) && op.Epoch > 0:
			epoch[w] = true
		case op.Type == Stats && op.F == "phase":
			none[w] = true
		}
	}
	return func(op Op) bool {
		w := writerName(op.Process)
		return epoch[w] || (migrating[op.Region] && !none[w])
	}
}

// laterPhase reports whether an epoch after e with phase p was set before t, the time the write
// began (or within a second after: the nemesis records the set once the change is made, and a
// session may apply it first). The write reads its session's epoch, then its phase, as it begins:
// a phase set seconds after that cannot be the one it read.
func laterPhase(phaseOf map[int64]string, setAt map[int64]int64, e int64, p string, t int64) bool {
	for epoch, phase := range phaseOf {
		if epoch > e && phase == p && setAt[epoch] <= t+int64(time.Second) {
			return true
		}
	}
	return false
}

var verifyCountsRE = regexp.MustCompile(`(\d+) missing, (\d+) mismatched`)

// verifyCounts reads forklift verify's counts of missing and mismatched cells from its output.
func verifyCounts(out string) (missing, mismatched int, ok bool) {
	m := verifyCountsRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	missing, _ = strconv.Atoi(m[1])
	mismatched, _ = strconv.Atoi(m[2])
	return missing, mismatched, true
}

// tombstonedInGlobal counts the island's cells (v and each set element) that the global
// keyspace's eu-west-1 datacenter (forklift's destination) does not hold at all and that a
// delete (or remove) of another region — a write the island never receives — may have removed
// there: a v cell when such a delete is at least as new as it, an element when such a remove or
// delete exists (elements carry no writetime). A cell the EU writers' own delete removed in the
// global keyspace only is a divergence, not forklift's limit.
func tombstonedInGlobal(f Final, byKey map[int][]writeOp) int {
	island, global := f.Rows[IslandSide], f.Rows[globalSide(EURegion)]
	foreign := func(k int, ts int64, match func(Mut) bool) bool {
		for _, w := range byKey[k] {
			if w.mayHave() && w.ts >= ts && !slices.Contains(f.Holds[IslandSide], w.c.Invoke.Region) && len(f.Holds[IslandSide]) > 0 && slices.ContainsFunc(w.c.Invoke.Muts, match) {
				return true
			}
		}
		return false
	}
	n := 0
	for k, row := range island {
		g := global[k]
		if row.V != nil && g.V == nil && foreign(k, row.VWT, func(m Mut) bool { return m.K == k && m.F == FDelete }) {
			n++
		}
		for _, e := range row.Tags {
			if !slices.Contains(g.Tags, e) && foreign(k, -1, func(m Mut) bool { return m.K == k && (m.F == FDelete || (m.F == FRemove && m.Elem == e)) }) {
				n++
			}
		}
	}
	return n
}

// handoffLossWindow is what docs/dualwrite.md states a crash that also loses the disk may lose
// with the campaign's hand-off (WriterHandoffCopyAfter): "the entries logged in the last
// HandoffCopyAfter + one tick (a quarter of it, at most 500 ms) + the time a copy takes, and only
// those". A copy is one batch written to the control keyspace in the writer's own datacenter:
// handoffCopyTime while that node answers; the time its node (or the writer itself) was paused
// or down is added to it where the window is judged ("it grows while the store cannot be
// reached").
func handoffLossWindow() time.Duration {
	tick := min(max(WriterHandoffCopyAfter/4, 50*time.Millisecond), 500*time.Millisecond) // dualwrite's handoffState.tick
	return WriterHandoffCopyAfter + tick + handoffCopyTime
}

// handoffCopyTime bounds one copy to a healthy control keyspace (a write at LOCAL_QUORUM in the
// writer's own datacenter).
const handoffCopyTime = 100 * time.Millisecond

// lostDiskWindow returns why an acknowledged write missing on side is a loss dualwrite documents
// ("" when it is not): a kill-disk of its writer — the incarnation that made the write, with
// entries on the lost disk — began within the hand-off's loss window after the write's
// acknowledgement (its follower's copy is logged before the acknowledgement), and side is the
// write's follower (the island, or every datacenter of the global keyspace), which only that log
// owed it. The window is handoffLossWindow plus the time the control keyspace's node (the
// writer's datacenter) or the writer itself was faulted between the acknowledgement and the kill.
func lostDiskWindow(h []Op, faults windows) func(w writeOp, side string) string {
	type lost struct {
		start   int64
		entries int64
	}
	disks := map[string][]lost{} // writer -> its lost disks
	for _, f := range faults {
		if f.kind == KindKillDisk {
			disks[f.target] = append(disks[f.target], lost{start: f.start})
		}
	}
	for _, op := range h {
		if op.Type == NemesisEvent && op.F == KindKillDisk && op.Value == "disk lost" {
			ls := disks[op.Target]
			for i := len(ls) - 1; i >= 0; i-- {
				if ls[i].start <= op.Time {
					ls[i].entries = op.Backlog
					break
				}
			}
		}
	}
	deathOf := processDeaths(h, faults)
	return func(w writeOp, side string) string {
		c := w.c
		// An acknowledged write's follower copy was logged before its acknowledgement; a write
		// still unanswered when the disk was lost (no completion: its process died in it) logged
		// its copy no earlier than its invoke, and the application was never told it succeeded
		// ("a write in flight when the process dies may be on the authoritative side only").
		inFlight := c.End.Type == "" && c.Outcome == Info
		if (c.Outcome != OK || c.End.Time == 0) && !inFlight {
			return ""
		}
		from := c.End.Time
		if inFlight {
			from = c.Invoke.Time
		}
		_, follower := sidesOf(c.Invoke.Region, c.Invoke.Phase)
		switch {
		case follower == "":
			return ""
		case follower == islandService && side != IslandSide:
			return ""
		case follower != islandService && !strings.HasPrefix(side, "global/"):
			return ""
		}
		writer := writerName(c.Invoke.Process)
		died := deathOf(c.Invoke.Process, from)
		for _, d := range disks[writer] {
			if d.start != died || d.entries == 0 {
				continue
			}
			window := handoffLossWindow() + time.Duration(faults.covered(from, d.start, 0, globalService(c.Invoke.Region), writer))
			if time.Duration(d.start-from) <= window {
				how := "logged"
				if inFlight {
					how = "unanswered, its copy logged at most"
				}
				return fmt.Sprintf("write %s's follower copy (%s) was %s %s before its writer's disk was lost (kill-disk, %d entries): inside dualwrite's documented loss window (HandoffCopyAfter %s + a tick + a copy's time, %s here)",
					c.Invoke.ID, follower, how, time.Duration(d.start-from).Round(time.Millisecond), d.entries, WriterHandoffCopyAfter, window.Round(time.Millisecond))
			}
		}
		return ""
	}
}
