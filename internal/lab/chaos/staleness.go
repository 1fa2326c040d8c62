package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// window is a time when a fault was active on a target. A phase flip is a window of an instant
// (target "phase"): applied by one writer (writer, region: its Stats line), or made by the
// nemesis through the control plane for every instance of the migration (writer "").
type window struct {
	kind, target   string
	writer, region string
	start, end     int64
}

type windows []window

// nemesisVerb is the step of a nemesis event: "start" or "end" (the nemesis appends the step's
// Arg to both: "end mid-flip", "start 250ms"), "set"/"applied" for the migration's flips.
func nemesisVerb(op Op) string {
	verb, _, _ := strings.Cut(op.Value, " ")
	return verb
}

// faultWindows returns the fault windows of the history (a fault never healed lasts to the end)
// and the phase flips. A window closes on the "end" step of its kind and target, whatever Arg
// the event carries; a failed injection (the nemesis records "start" before injecting, then
// "start" with the error) withdraws the window its start opened. Faults of one kind on one
// target may overlap (a writer paused mid-flip, then by the process track before the first pause
// ends): each start opens its own window and an end closes the earliest still open, so the
// first's window is never lost to the second's start.
func faultWindows(h []Op) windows {
	open := map[string][]window{}
	var out windows
	var last int64
	for _, op := range h {
		last = max(last, op.Time)
		if op.Type == Stats && op.F == "phase" { // a writer applied a phase flip
			out = append(out, window{kind: KindPhase, target: "phase", writer: writerName(op.Process), region: op.Region, start: op.Time, end: op.Time})
			continue
		}
		if op.Type != NemesisEvent || op.Target == "" {
			continue
		}
		id := op.F + "/" + op.Target
		switch verb := nemesisVerb(op); {
		case op.F == KindPhase && (verb == "set" || verb == "applied"):
			// The change made, the fleet's wait returned: the instances apply it in between.
			out = append(out, window{kind: KindPhase, target: "phase", start: op.Time, end: op.Time})
		case verb == "end":
			if ws := open[id]; len(ws) > 0 {
				w := ws[0]
				w.end = op.Time
				out = append(out, w)
				open[id] = ws[1:]
			}
		case verb == "start" && op.Err != "":
			// The injection failed: the nemesis recorded its start before injecting, then this
			// start with the error — the latest window of the id was never a fault.
			if ws := open[id]; len(ws) > 0 {
				open[id] = ws[:len(ws)-1]
			}
		case verb == "start" && op.F == KindPhase:
			out = append(out, window{kind: KindPhase, target: "phase", start: op.Time, end: op.Time})
		case verb == "start":
			open[id] = append(open[id], window{kind: op.F, target: op.Target, start: op.Time})
		}
	}
	for _, id := range sortedKeys(open) {
		for _, w := range open[id] {
			w.end = last
			out = append(out, w)
		}
	}
	return out
}

// hit reports whether a fault on target overlapped [from, to].
func (ws windows) hit(target string, from, to int64) bool {
	for _, w := range ws {
		if w.target == target && w.start <= to && w.end >= from {
			return true
		}
	}
	return false
}

// covered returns how much of [from, to] the faults on targets covered, each window extended by
// grace after its end (the node answering the requests queued while it was paused, the client
// reconnecting after a restart). Overlapping windows count once.
func (ws windows) covered(from, to, grace int64, targets ...string) int64 {
	type span struct{ a, b int64 }
	var spans []span
	for _, w := range ws {
		if !slices.Contains(targets, w.target) {
			continue
		}
		a, b := max(w.start, from), min(w.end+grace, to)
		if a < b {
			spans = append(spans, span{a, b})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].a < spans[j].a })
	var sum, reach int64 = 0, from
	for _, s := range spans {
		if s.b <= reach {
			continue
		}
		sum += s.b - max(s.a, reach)
		reach = s.b
	}
	return sum
}

// flipBarriers returns whether writer (of region) may have been held at dualwrite's barrier at t,
// a flip of its own phase still in progress. A flip made through the control plane (the nemesis's
// "set PHASE" with its epoch) holds an instance of the migration (a writer of a region in
// migrating) from the set — a second before its record: the LWT is made, then recorded, and the
// session may apply it first — until the writer recorded that epoch (or a later one) applied (its
// Stats "phase" line, written once the switch stored the new phase and reopened the gate), or
// until `set --wait` returned ("applied" with no error: every live instance had applied it),
// whichever came first; to the end of the history when neither did. A write begun after either
// met no barrier. Flips whose start the history does not show — a writer's phase line with no set
// of its epoch, a nemesis flip with no epoch (older histories) — count as an instant, within 5 ms
// of the write's start.
func flipBarriers(h []Op, migrating map[string]bool) func(writer, region string, t int64) bool {
	type set struct{ at, epoch int64 }
	var sets []set
	var instants []int64         // nemesis flips with no epoch
	lines := map[string][]Op{}   // writer -> its applied phases
	applied := map[int64]int64{} // epoch -> when its wait returned
	epochs := map[int64]bool{}
	var last int64
	for _, op := range h {
		last = max(last, op.Time)
		switch {
		case op.Type == Stats && op.F == "phase":
			lines[writerName(op.Process)] = append(lines[writerName(op.Process)], op)
		case op.Type == NemesisEvent && op.F == KindPhase && op.Err == "":
			switch verb := nemesisVerb(op); {
			case op.Epoch > 0 && verb == "set":
				sets = append(sets, set{op.Time, op.Epoch})
				epochs[op.Epoch] = true
			case op.Epoch > 0 && verb == "applied":
				if _, ok := applied[op.Epoch]; !ok {
					applied[op.Epoch] = op.Time
				}
			case verb == "set" || verb == "applied" || verb == "start":
				instants = append(instants, op.Time)
			}
		}
	}
	const near = int64(5 * time.Millisecond)
	slack := int64(time.Second)
	return func(writer, region string, t int64) bool {
		for _, l := range lines[writer] {
			if !epochs[l.Epoch] && l.Time-near <= t && t <= l.Time+near {
				return true
			}
		}
		if !migrating[region] {
			return false
		}
		for _, at := range instants {
			if at-near <= t && t <= at+near {
				return true
			}
		}
		for _, s := range sets {
			start := s.at - slack
			end := last
			if a, ok := applied[s.epoch]; ok {
				end = a
			}
			for _, l := range lines[writer] {
				if l.Epoch >= s.epoch && l.Time >= start {
					end = min(end, l.Time)
					break
				}
			}
			if start <= t && t <= end {
				return true
			}
		}
		return false
	}
}

// flipIn reports whether a phase flip of region's instances of the migration happened during
// [from, to]: one of them applied one, or the nemesis made one and region has instances.
func (ws windows) flipIn(region string, migrating map[string]bool, from, to int64) bool {
	for _, w := range ws {
		if w.target == "phase" && w.start <= to && w.end >= from && ((w.writer != "" && w.region == region) || (w.writer == "" && migrating[region])) {
			return true
		}
	}
	return false
}

// migrationRegions returns the regions whose writers are instances of the migration: the EU
// island's (the campaign's migrating writers), and any whose writers applied a phase or wrote
// under an epoch.
func migrationRegions(h []Op) map[string]bool {
	out := map[string]bool{EURegion: true}
	for _, op := range h {
		if op.Region != "" && ((op.Type == Stats && op.F == "phase") || (op.Type == Invoke && op.Epoch > 0)) {
			out[op.Region] = true
		}
	}
	return out
}

// any reports whether any fault other than a phase flip was active at t.
func (ws windows) any(t int64) bool {
	for _, w := range ws {
		if w.target != "phase" && w.start <= t && w.end >= t {
			return true
		}
	}
	return false
}

// StalenessReport is how far behind cache reads were: for each hit on a row's cache entry, the
// time since an acknowledged write had replaced the value it returned (0 when it was current).
type StalenessReport struct {
	Reads       int               `json:"reads"`
	StaleDuring int               `json:"stale_during_faults"`
	StaleCalm   int               `json:"stale_calm"`
	During      map[string]string `json:"during_faults"` // quantiles of the stale reads' staleness
	Calm        map[string]string `json:"calm"`
}

func staleness(ops []Completed, byKey map[int][]writeOp, prov map[cell]writeOp, faults windows) StalenessReport {
	var rep StalenessReport
	var during, calm []time.Duration
	for _, c := range ops {
		if c.Invoke.F != FCacheGet || c.Outcome != OK || c.End.Err == "miss" {
			continue
		}
		rep.Reads++
		var k int
		if _, err := fmt.Sscanf(c.Invoke.Key, "chaos-row:%d", &k); err != nil {
			continue
		}
		src, ok := prov[cell{k, c.End.Value}] // a value of another key is judged by readValues
		if !ok {
			continue
		}
		// The earliest acknowledged write of v, newer than the value read, completed before the read.
		var since int64
		for _, w := range byKey[k] {
			if !w.acked() || w.ts <= src.ts || w.c.End.Time >= c.Invoke.Time {
				continue
			}
			changes := false
			for _, m := range w.c.Invoke.Muts {
				changes = changes || (m.K == k && (m.F == FInsert || m.F == FUpdate || m.F == FDelete))
			}
			if changes && (since == 0 || w.c.End.Time < since) {
				since = w.c.End.Time
			}
		}
		if since == 0 {
			continue
		}
		d := time.Duration(c.Invoke.Time - since)
		if faults.any(c.Invoke.Time) {
			during = append(during, d)
		} else {
			calm = append(calm, d)
		}
	}
	rep.StaleDuring, rep.StaleCalm = len(during), len(calm)
	rep.During, rep.Calm = quantiles(during), quantiles(calm)
	return rep
}

func quantiles(ds []time.Duration) map[string]string {
	if len(ds) == 0 {
		return nil
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) string {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond).String()
	}
	return map[string]string{"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": ds[len(ds)-1].Round(time.Millisecond).String(), "n": fmt.Sprint(len(ds))}
}

// fillsSeeWrite reports whether a fill in region reading after a write of that region's writer
// in phase p was acknowledged sees it: the region's fills read the global keyspace in its own
// datacenter, which a non-migrating writer writes at LOCAL_QUORUM (phase ""), and a migrating
// (EU) writer's write reaches before its acknowledgement only when the global keyspace is the
// authoritative side (dual-flipped). A history of the earlier topology (us-east-1 dual-writing,
// its fills on the primary) gives the same answers: us-east-1 authoritative but in dual-flipped.
func fillsSeeWrite(region, p string) bool {
	flipped := p == "dual-flipped" || p == "secondary-only"
	if region == EURegion {
		return flipped
	}
	return !flipped
}

// staleReads finds cache hits that returned a value older than a write whose own invalidation in
// the reader's region had completed before the read began, while that region's keyspace was the
// authoritative one (so any fill that read it after the write saw the write): a fill that read
// before the write stored its value after the invalidation. Returns the violations (at most 5
// listed, then a count).
func staleReads(ops []Completed, byKey map[int][]writeOp, prov map[cell]writeOp, faults windows, migrating map[string]bool) []Violation {
	// The invalidation each acknowledged write got from its own writer, in the writer's region.
	type inval struct {
		w   Completed
		end int64
	}
	// The workload records on each invalidation the id of the write that caused it (Cause); a
	// history without causes falls back to the last write its process invoked.
	var invs = map[string][]inval{} // cache key -> invalidations
	var lastWrite = map[string]Completed{}
	byID := map[string]Completed{}
	for _, c := range ops {
		if len(c.Invoke.Muts) > 0 {
			lastWrite[c.Invoke.Process] = c
			byID[c.Invoke.ID] = c
			continue
		}
		if c.Invoke.F != FCacheDel || c.Outcome != OK {
			continue
		}
		w, ok := lastWrite[c.Invoke.Process]
		if c.Invoke.Cause != "" {
			w, ok = byID[c.Invoke.Cause]
		}
		if !ok || w.Outcome != OK || w.End.Time > c.Invoke.Time {
			continue
		}
		for _, m := range w.Invoke.Muts {
			if RowKey(m.K) == c.Invoke.Key && (m.F == FInsert || m.F == FUpdate || m.F == FDelete) {
				invs[c.Invoke.Key] = append(invs[c.Invoke.Key], inval{w: w, end: c.End.Time})
			}
		}
	}
	var out []Violation
	n := 0
	margin := int64(300 * time.Millisecond)
	seen := map[string]bool{} // region, key and write: one violation each
	fills := map[string][]Completed{}
	for _, c := range ops {
		if c.Invoke.F == FCacheFill && c.Outcome == OK {
			fills[c.Invoke.Region+" "+c.Invoke.Key] = append(fills[c.Invoke.Region+" "+c.Invoke.Key], c)
		}
	}
	for _, c := range ops {
		if c.Invoke.F != FCacheGet || c.Outcome != OK || c.End.Err == "miss" {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(c.Invoke.Key, "chaos-row:%d", &k); err != nil {
			continue
		}
		src, ok := prov[cell{k, c.End.Value}] // a value of another key is judged by readValues
		if !ok {
			continue
		}
		for _, iv := range invs[c.Invoke.Key] {
			w := iv.w
			if w.Invoke.Region != c.Invoke.Region || w.Invoke.TS <= src.ts || iv.end >= c.Invoke.Time {
				continue
			}
			p := w.Invoke.Phase // as the writer's session had it
			// A flip of the region's instances of the migration between the write and the read
			// may have changed what its fills read; another region's flip changes nothing here.
			if !fillsSeeWrite(c.Invoke.Region, p) || faults.flipIn(c.Invoke.Region, migrating, w.Invoke.Time-margin, c.End.Time) {
				continue
			}
			id := c.Invoke.Region + " " + c.Invoke.Key + " " + w.Invoke.ID
			if seen[id] {
				break
			}
			seen[id] = true
			involved := []Op{src.c.Invoke, w.Invoke, w.End}
			// The fill that stored the stale value: its read began before the write was acknowledged.
			for _, f := range fills[c.Invoke.Region+" "+c.Invoke.Key] {
				if f.End.Value == c.End.Value && f.End.Time <= c.Invoke.Time && f.End.Time >= iv.end-margin {
					involved = append(involved, f.Invoke, f.End)
				}
			}
			involved = append(involved, c.Invoke, c.End)
			if n++; n <= 5 {
				out = append(out, Violation{Check: "stale-read", What: fmt.Sprintf("%s read %s = %q (written at ts %d) %.0f ms after its own writer's write %s (ts %d, acknowledged) and its invalidation there completed; %s's keyspace was authoritative (%s), so a fill that read before the write was stored after the invalidation",
					c.Invoke.Region, c.Invoke.Key, c.End.Value, src.ts, float64(c.Invoke.Time-iv.end)/1e6, w.Invoke.ID, w.Invoke.TS, c.Invoke.Region, p),
					Ops: involved})
			}
			break
		}
	}
	if n > 5 {
		out = append(out, Violation{Check: "stale-read", What: fmt.Sprintf("… and %d more reads like these", n-5)})
	}
	return out
}

// readValues judges the value of every cache read that returned one (a hit) and every fill (the
// value it read from the region's database): the value must be one a write of that key wrote, and
// invoked before the read returned it (the history's times are the machine's one clock, and a
// write's invoke is recorded before its statement is sent: a value read before is from nowhere
// this run put it, a previous run of the seed, a reply read on a reused connection) —
// cachesync's Get returns the key's item or a miss, so another key's value or one nobody wrote
// is invented (a reply read on a reused connection, a mixed-up key) — and not the value of a write
// that definitely failed, which no database ever held. A cache-only key's value must be one a
// set of that key made, not one of a set refused, nor, in another region, one of a set whose only
// event was an invalidation (sentOnlyInvalidation). Transient: the final state may be right, so
// only the read shows it. A write of unknown outcome that the final state shows never applied on
// any side that receives it (neverApplied: each holds a cell its mutation would have beaten, and
// no Cassandra node kill overlapped the write, so none lost it applied) wrote nothing a database held: its
// value read is invented too. At most 5 violations of each kind are listed, then a count.
func readValues(ops []Completed, prov map[cell]writeOp, byValue map[string]writeOp, cacheSets map[string]Completed, neverApplied func(w Completed, k int) bool) []Violation {
	var out []Violation
	count := map[string]int{}
	report := func(kind, what string, involved ...Op) {
		if count[kind]++; count[kind] <= 5 {
			out = append(out, Violation{Check: kind, What: what, Ops: involved})
		}
	}
	for _, c := range ops {
		// A hit's value is judged whatever it is, the empty one too (the workload never writes an
		// empty value, and Get answers the key's item or a miss: an empty hit is invented). A fill
		// that read nothing (no row, an error before its read, no completion) records no value.
		read := c.Invoke.F == FCacheGet && c.Outcome == OK && c.End.Err != "miss"
		fill := c.Invoke.F == FCacheFill && c.End.Type != "" && (c.End.Type != Fail || c.End.Value != "")
		if !(read || fill) {
			continue
		}
		what := "read"
		if fill {
			what = "fill read from the database"
		}
		key, v := c.Invoke.Key, c.End.Value
		var k int
		if _, err := fmt.Sscanf(key, "chaos-row:%d", &k); err == nil {
			src, ok := prov[cell{k, v}]
			switch {
			case !ok:
				msg := fmt.Sprintf("%s %s %s = %q, which no write wrote to that key", c.Invoke.Region, what, key, v)
				if o, other := byValue[v]; other {
					msg = fmt.Sprintf("%s %s %s = %q, the value write %s wrote to another key", c.Invoke.Region, what, key, v, o.c.Invoke.ID)
				}
				report("invented", msg, c.Invoke, c.End)
			case src.c.Invoke.Time > c.End.Time:
				report("invented", fmt.Sprintf("%s %s %s = %q %.0f ms before write %s, the only one that wrote it, was invoked: no database held it then", c.Invoke.Region, what, key, v, float64(src.c.Invoke.Time-c.End.Time)/1e6, src.c.Invoke.ID),
					c.Invoke, c.End, src.c.Invoke)
			case !src.mayHave():
				report("failed-write", fmt.Sprintf("%s %s %s = %q, the value of write %s, which failed (%s)", c.Invoke.Region, what, key, v, src.c.Invoke.ID, src.c.End.Err),
					src.c.Invoke, src.c.End, c.Invoke, c.End)
			case src.c.Outcome != OK && neverApplied(src.c, k):
				report("invented", fmt.Sprintf("%s %s %s = %q, the value of write %s (%s), which the final state shows never applied on any side: no database held it", c.Invoke.Region, what, key, v, src.c.Invoke.ID, src.c.Outcome),
					src.c.Invoke, src.c.End, c.Invoke, c.End)
			}
			continue
		}
		src, ok := cacheSets[v]
		switch {
		case !ok || src.Invoke.Key != key:
			report("invented", fmt.Sprintf("%s %s %s = %q, which no set of that key made", c.Invoke.Region, what, key, v), c.Invoke, c.End)
		case src.Invoke.Time > c.End.Time:
			report("invented", fmt.Sprintf("%s %s %s = %q %.0f ms before set %s, the only one that made it, was invoked", c.Invoke.Region, what, key, v, float64(src.Invoke.Time-c.End.Time)/1e6, src.Invoke.ID),
				c.Invoke, c.End, src.Invoke)
		case src.Outcome == Fail:
			report("failed-write", fmt.Sprintf("%s %s %s = %q, the value of set %s, which was not applied (%s)", c.Invoke.Region, what, key, v, src.Invoke.ID, src.End.Err),
				src.Invoke, src.End, c.Invoke, c.End)
		case src.Invoke.Region != c.Invoke.Region && sentOnlyInvalidation(src):
			report("failed-write", fmt.Sprintf("%s %s %s = %q, the value of set %s made in %s, whose only event was an invalidation (%s): no event carried the value there", c.Invoke.Region, what, key, v, src.Invoke.ID, src.Invoke.Region, src.End.Err),
				src.Invoke, src.End, c.Invoke, c.End)
		}
	}
	for _, kind := range sortedKeys(count) {
		if n := count[kind]; n > 5 {
			out = append(out, Violation{Check: kind, What: fmt.Sprintf("… and %d more cache reads like these", n-5)})
		}
	}
	return out
}

// cacheOnlyStaleReads finds reads of cache-only keys that went back in time in a region: a read
// returning the value of a set (acknowledged, or of unknown outcome: judged by the version the
// history records for it, Set returning it with its error) older (by version) than a set or delete of the same
// key made in the reader's own region and acknowledged before the read began. cachesync's Set
// and Delete store the value (or tombstone) at their version in the region's memcached before
// they return, and an older event never overwrites a newer value; a value set in a region never
// comes back to it by an event (its events go to the other regions, and second events are
// deletes). Only a kill -9 of the region's memcached between the two (losing the newer value) can
// excuse it. At most 5 violations are listed, then a count.
func cacheOnlyStaleReads(ops []Completed, cacheSets map[string]Completed, faults windows) []Violation {
	type write struct {
		c Completed
		v cachesync.Version
	}
	local := map[string][]write{} // region + key -> its acknowledged sets and deletes
	for _, c := range ops {
		if (c.Invoke.F == FCacheSet || c.Invoke.F == FCacheDel) && c.Outcome == OK && c.End.TS > 0 && !strings.HasPrefix(c.Invoke.Key, "chaos-row:") {
			id := c.Invoke.Region + " " + c.Invoke.Key
			local[id] = append(local[id], write{c, cachesync.Version{Micros: c.End.TS, Origin: c.Invoke.Region}})
		}
	}
	var out []Violation
	n := 0
	for _, c := range ops {
		if c.Invoke.F != FCacheGet || c.Outcome != OK || c.End.Err == "miss" || strings.HasPrefix(c.Invoke.Key, "chaos-row:") {
			continue
		}
		src, ok := cacheSets[c.End.Value]
		if !ok || src.Invoke.Key != c.Invoke.Key || src.Outcome == Fail || src.End.TS <= 0 {
			continue // judged by readValues, or its version unknown (a set of unknown outcome records its version when Set made one)
		}
		read := cachesync.Version{Micros: src.End.TS, Origin: src.Invoke.Region}
		for _, w := range local[c.Invoke.Region+" "+c.Invoke.Key] {
			if w.c.End.Time >= c.Invoke.Time || !read.Less(w.v) ||
				killedIn(faults, "memcached-"+short(c.Invoke.Region), w.c.Invoke.Time, c.End.Time) {
				continue
			}
			if n++; n <= 5 {
				out = append(out, Violation{Check: "stale-read", What: fmt.Sprintf("%s read %s = %q (version %d %s) %.0f ms after the region's own %s %s (version %d %s) was acknowledged: the region's memcached held the newer version, and nothing killed it",
					c.Invoke.Region, c.Invoke.Key, c.End.Value, read.Micros, read.Origin, float64(c.Invoke.Time-w.c.End.Time)/1e6, w.c.Invoke.F, w.c.Invoke.ID, w.v.Micros, w.v.Origin),
					Ops: []Op{src.Invoke, src.End, w.c.Invoke, w.c.End, c.Invoke, c.End}})
			}
			break
		}
	}
	if n > 5 {
		out = append(out, Violation{Check: "stale-read", What: fmt.Sprintf("… and %d more cache-only reads like these", n-5)})
	}
	return out
}

// killedIn reports whether target was killed -9 during [from, to].
func killedIn(ws windows, target string, from, to int64) bool {
	for _, w := range ws {
		if w.kind == KindKill && w.target == target && w.start <= to && w.end >= from {
			return true
		}
	}
	return false
}
