package chaos

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/globalcloud/islands/cachesync"
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
	// applied: the final state shows one of its cells (value and writetime), so the write took
	// effect whatever its caller was told; a logged batch then took effect whole.
	applied bool
}

// acked reports whether the write must be in the final state: acknowledged, or seen applied.
func (w writeOp) acked() bool { return w.c.Outcome == OK || w.applied }

// mayHave reports whether the write may have applied (every outcome but a definite failure).
func (w writeOp) mayHave() bool { return w.c.Outcome != Fail }

// lostKind names the violation of a write that must be in the final state and is not: a torn
// batch when the only evidence it applied is another of its cells.
func (w writeOp) lostKind() string {
	if w.c.Outcome != OK && len(keysOf(w.c.Invoke.Muts)) > 1 {
		return "torn-batch"
	}
	return "lost-write"
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
	// Evidence of application: a cell holding a write's value with its timestamp on any side.
	applied := map[string]bool{}
	for _, side := range sortedKeys(f.Rows) {
		for k, row := range f.Rows[side] {
			if row.V == nil {
				continue
			}
			if src, ok := prov[cell{k, *row.V}]; ok && src.ts == row.VWT && src.mayHave() {
				applied[src.c.Invoke.ID] = true
			}
		}
	}
	for k, ws := range byKey {
		for i := range ws {
			ws[i].applied = applied[ws[i].c.Invoke.ID]
		}
		byKey[k] = ws
	}
	add := func(v Violation) { res.Violations = append(res.Violations, v) }
	injecting := map[string]bool{} // kind/target -> a start recorded, its outcome not yet
	invoked := map[string]bool{}   // operation ids: each invoked once, completed after its invoke
	for _, op := range h {
		switch {
		case op.Type == Invoke && invoked[op.ID]:
			add(Violation{Check: "history", What: fmt.Sprintf("operation id %s invoked twice: the history cannot tell the operations apart", op.ID), Ops: []Op{op}})
		case op.Type == Invoke:
			invoked[op.ID] = true
		case (op.Type == OK || op.Type == Fail || op.Type == Info) && !invoked[op.ID]:
			add(Violation{Check: "history", What: fmt.Sprintf("operation %s completed (%s) with no invoke before it", op.ID, op.Type), Ops: []Op{op}})
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
			checkV(k, side, row, ws, prov, byValue, add)
			checkTags(k, side, row, ws, add)
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
		if want := tombstonedInGlobal(f); ok && mismatched == 0 && missing <= want && missing > 0 {
			res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("forklift verify (island -> global, lww): %d cells missing in the global keyspace", missing),
				Why: "each is an island cell a newer delete from another region removed in the global keyspace: verify reads no tombstone (forklift's documented limit), and the checker found the delete newer"})
		} else {
			add(Violation{Check: "diverged", What: fmt.Sprintf("forklift verify (island -> global, lww) not clean (%d cells removed by newer deletes expected missing): %s", want, f.ForkliftVerify)})
		}
	}

	// 2. Every cache entry is the database's newest value or absent.
	for _, region := range sortedKeys(f.Cache) {
		brokerLost := lastBrokerRestart(h, region)
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
				if why := staleExplained(ops, k, src, region, brokerLost); why != "" {
					res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s holds %q, database %q", region, key, e.Value, str(db.V)), Why: why})
					continue
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
			case src.Outcome == OK && src.End.TS > 0 && e.Version != (cachesync.Version{Micros: src.End.TS, Origin: src.Invoke.Region}):
				add(Violation{Check: "version", What: fmt.Sprintf("%s cache %s holds %q with version %d %s; its set %s returned version %d %s", region, key, e.Value, e.Version.Micros, e.Version.Origin, src.Invoke.ID, src.End.TS, src.Invoke.Region), Ops: []Op{src.Invoke, src.End}})
				continue
			case e.Version.Origin != src.Invoke.Region: // a set of unknown outcome: its version unknown, its origin not
				add(Violation{Check: "version", What: fmt.Sprintf("%s cache %s holds %q with version %d %s; its set %s was made in %s", region, key, e.Value, e.Version.Micros, e.Version.Origin, src.Invoke.ID, src.Invoke.Region), Ops: []Op{src.Invoke, src.End}})
				continue
			}
			var newest *Completed
			for i := range ops {
				c := &ops[i]
				if c.Invoke.Key == key && (c.Invoke.F == FCacheSet || c.Invoke.F == FCacheDel) && c.Outcome == OK && c.End.TS > 0 {
					if newest == nil || (cachesync.Version{Micros: newest.End.TS, Origin: newest.Invoke.Region}).Less(cachesync.Version{Micros: c.End.TS, Origin: c.Invoke.Region}) {
						newest = c
					}
				}
			}
			if newest != nil && e.Version.Less(cachesync.Version{Micros: newest.End.TS, Origin: newest.Invoke.Region}) {
				if lost := lastKill(h, "memcached-"+short(region)); lost > newest.End.Time {
					res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s older than op %s", region, key, newest.Invoke.ID),
						Why: "memcached in " + region + " was killed after it, losing the newer value (or its tombstone); an older event arrived after the restart"})
					continue
				}
				if brokerLost > 0 && newest.Invoke.Region != region && newest.End.Time < brokerLost {
					res.Explained = append(res.Explained, Explained{What: fmt.Sprintf("%s cache %s older than op %s", region, key, newest.Invoke.ID), Why: "ElasticMQ was killed after it: its in-memory queue lost the event"})
					continue
				}
				add(Violation{Check: "stale-cache", What: fmt.Sprintf("%s cache %s holds %q (version %d %s); a newer %s (version %d %s) was acknowledged",
					region, key, e.Value, e.Version.Micros, e.Version.Origin, newest.Invoke.F, newest.End.TS, newest.Invoke.Region), Ops: []Op{src.Invoke, newest.Invoke}})
			}
		}
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
		if ok && d.Leaked > 0 {
			add(Violation{Check: "goroutines", What: fmt.Sprintf("%s: %d goroutines still running after Close of its dualwrite session and cachesync publisher (their stacks are in its log)", d.Process, d.Leaked)})
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
	faults := faultWindows(h)
	var lats []time.Duration
	waits := 0
	for _, c := range ops {
		if len(c.Invoke.Muts) == 0 || c.End.Type == "" { // a write its process died in is no wait
			continue
		}
		lat := time.Duration(c.End.LatencyNs)
		lats = append(lats, lat)
		if lat <= opt.CallerWait {
			continue
		}
		leader, follower := sidesOf(c.Invoke.Region, c.Invoke.Phase)
		writer := writerName(c.Invoke.Process)
		if faults.hit(leader, c.Invoke.Time, c.End.Time) || faults.hit(writer, c.Invoke.Time, c.End.Time) || faults.phaseFlip(c.Invoke.Time-int64(5*time.Millisecond), c.Invoke.Time+int64(5*time.Millisecond)) {
			continue
		}
		state := "healthy"
		if follower == "" {
			state = "absent (the write has one side)"
		} else if faults.hit(follower, c.Invoke.Time, c.End.Time) {
			state = "faulted"
		}
		if waits++; waits <= 5 {
			add(Violation{Check: "caller-wait", What: fmt.Sprintf("write %s completed (%s) after %.1fs while its authoritative side (%s) was healthy and the follower (%s) %s: the caller waited for the follower",
				c.Invoke.ID, c.Outcome, lat.Seconds(), leader, follower, state), Ops: []Op{c.Invoke, c.End}})
		}
	}
	if waits > 5 {
		add(Violation{Check: "caller-wait", What: fmt.Sprintf("… and %d more writes like these", waits-5)})
	}
	res.WriteLat = quantiles(lats)

	// The migration's epoch rule: every write that began after `set --wait` returned ran under the
	// epoch that set made, or a later one.
	res.Violations = append(res.Violations, epochRule(h, ops)...)

	// A cache read older than the reader's own region's completed invalidation.
	res.Violations = append(res.Violations, staleReads(h, ops, byKey, byValue, faults)...)

	res.Affected = affectedTraffic(h, ops)
	res.Handoff = handoffFigures(h)

	// 4. Staleness of cache reads while faults were active (a distribution, not a verdict).
	res.Staleness = staleness(ops, byKey, byValue, faults)
	return res
}

func checkV(k int, side string, row RowState, ws []writeOp, prov map[cell]writeOp, byValue map[string]writeOp, add func(Violation)) {
	var maxSet, maxDel int64 = -1, -1 // newest set / delete of v that must be there
	var maxDelAny int64 = -1          // newest delete that may have applied
	var lastSet, lastDel writeOp
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
				if w.acked() && w.ts > maxDel {
					maxDel, lastDel = w.ts, w
				}
				if w.mayHave() && w.ts > maxDelAny {
					maxDelAny = w.ts
				}
			}
		}
	}
	if row.V == nil {
		if maxSet >= 0 && maxSet > maxDelAny {
			add(Violation{Check: lastSet.lostKind(), What: fmt.Sprintf("kv k=%d v absent on the %s side; write %s (ts %d, %s) set it and no delete is newer",
				k, side, lastSet.c.Invoke.ID, maxSet, lastSet.c.Outcome), Ops: []Op{lastSet.c.Invoke, lastSet.c.End}})
		}
		return
	}
	src, ok := prov[cell{k, *row.V}]
	if !ok {
		what := fmt.Sprintf("kv k=%d v=%q on the %s side: no client wrote it", k, *row.V, side)
		var involved []Op
		if o, other := byValue[*row.V]; other {
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
	if newest := max(maxSet, maxDel); row.VWT < newest {
		lost := lastSet
		if maxDel > maxSet {
			lost = lastDel
		}
		add(Violation{Check: lost.lostKind(), What: fmt.Sprintf("kv k=%d on the %s side holds %q (wt %d) but write %s (ts %d, %s) is newer",
			k, side, *row.V, row.VWT, lost.c.Invoke.ID, newest, lost.c.Outcome), Ops: append([]Op{src.c.Invoke}, newer(ws, row.VWT, 3)...)})
	}
}

func checkTags(k int, side string, row RowState, ws []writeOp, add func(Violation)) {
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
			add(Violation{Check: lastAdd.lostKind(), What: fmt.Sprintf("kv k=%d tags lacks %s on the %s side; add %s (ts %d) is newer than every remove/delete",
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

// staleExplained says why a stale row entry is not the libraries' fault, or "". Only the newest
// write superseding the entry's value may excuse it: when that write was acknowledged and its own
// invalidation completed, every fill after it read a value at least as new, whatever older writes
// did.
func staleExplained(ops []Completed, k int, src writeOp, region string, brokerLost int64) string {
	key := RowKey(k)
	var newest *Completed
	for i := range ops {
		c := &ops[i]
		w := c.Invoke
		if len(w.Muts) == 0 || w.TS <= src.ts || c.Outcome == Fail {
			continue
		}
		changesV := false
		for _, m := range w.Muts {
			if m.K == k && (m.F == FInsert || m.F == FUpdate || m.F == FDelete) {
				changesV = true
			}
		}
		if changesV && (newest == nil || w.TS > newest.Invoke.TS) {
			newest = c
		}
	}
	if newest == nil {
		return ""
	}
	w := newest.Invoke
	if newest.Outcome != OK {
		return fmt.Sprintf("write %s, the newest to supersede it, did not complete (%s), so its writer never invalidated the caches", w.ID, newest.Outcome)
	}
	d, ok := invalidationOf(ops, *newest, key)
	if !ok || d.Outcome != OK {
		return fmt.Sprintf("the invalidation after write %s did not complete (writer killed, or memcached down)", w.ID)
	}
	if brokerLost > 0 && region != w.Region && d.End.Time < brokerLost {
		return "ElasticMQ was killed after the invalidation was sent: its in-memory queue lost it"
	}
	return ""
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

// lastKill returns when target was last restarted after a kill -9 (0: never killed).
func lastKill(h []Op, target string) int64 {
	var t int64
	for _, op := range h {
		if op.Type == NemesisEvent && op.F == KindKill && op.Target == target && op.Value == "end" {
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

// epochRule checks the migration's promise (migration invariant 3): every write that began after
// a phase change's `set --wait` returned (the nemesis's "applied" event, with no error) carries
// that change's epoch or a later one. A wait that failed (timed out naming an instance that had
// not applied) promises nothing. At most 5 violations are listed, then a count.
func epochRule(h []Op, ops []Completed) []Violation {
	type applied struct {
		at    int64
		epoch int64
		op    Op
	}
	var sets []applied
	for _, op := range h {
		if op.Type == NemesisEvent && op.F == KindPhase && strings.HasPrefix(op.Value, "applied") && op.Err == "" && op.Epoch > 0 {
			sets = append(sets, applied{op.Time, op.Epoch, op})
		}
	}
	if len(sets) == 0 {
		return nil
	}
	var out []Violation
	n := 0
	for _, c := range ops {
		w := c.Invoke
		if len(w.Muts) == 0 || w.Epoch == 0 {
			continue
		}
		// The newest epoch whose wait returned before the write began.
		var need *applied
		for i := range sets {
			if sets[i].at < w.Time && (need == nil || sets[i].epoch > need.epoch) {
				need = &sets[i]
			}
		}
		if need == nil || w.Epoch >= need.epoch {
			continue
		}
		if n++; n <= 5 {
			out = append(out, Violation{Check: "epoch", What: fmt.Sprintf("write %s began %.0f ms after `set --wait` returned for epoch %d (%s) and ran under epoch %d (%s)",
				w.ID, float64(w.Time-need.at)/1e6, need.epoch, strings.TrimPrefix(need.op.Value, "applied "), w.Epoch, w.Phase), Ops: []Op{need.op, w, c.End}})
		}
	}
	if n > 5 {
		out = append(out, Violation{Check: "epoch", What: fmt.Sprintf("… and %d more writes like these", n-5)})
	}
	return out
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
// keyspace's eu-west-1 datacenter (forklift's destination) does not hold at all.
func tombstonedInGlobal(f Final) int {
	island, global := f.Rows[IslandSide], f.Rows[globalSide(EURegion)]
	n := 0
	for k, row := range island {
		g := global[k]
		if row.V != nil && g.V == nil {
			n++
		}
		for _, e := range row.Tags {
			if !slices.Contains(g.Tags, e) {
				n++
			}
		}
	}
	return n
}
