package chaos

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Evidence of application. A write of unknown outcome (info, or its process died) is in the final
// state or not; when a side's final state at some key can only be accounted for by that write,
// the write took effect — and, a logged batch applying whole, every cell of it must be on every
// side that receives it (the island and each datacenter of the global keyspace agree on it:
// dualwrite's invariant 1). A side is read per key, in each of its cells:
//   - v holding the value a write wrote to the key, with its timestamp;
//   - v absent while an acknowledged write set it: a delete at least as new took effect, and when
//     only one write that may have applied is such a delete, it did;
//   - a set element present when only one write that may have applied added it after every
//     acknowledged remove;
//   - a set element absent while an acknowledged write added it: only one write that may have
//     applied removed it (or deleted the row) at least as late.
//
// Only the writes the side receives count (Final.Holds): the island's evidence is the EU
// writers' alone.

// appliedEvidence returns, per write id, the sides and keys whose final state shows the write
// took effect.
func appliedEvidence(f Final, byKey map[int][]writeOp) map[string][]evidence {
	out := map[string][]evidence{}
	note := func(w *writeOp, side string, k int) {
		if w != nil && w.c.Outcome != OK {
			out[w.c.Invoke.ID] = append(out[w.c.Invoke.ID], evidence{side, k})
		}
	}
	keys := make([]int, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, side := range sortedKeys(f.Rows) {
		for _, k := range keys {
			ws := heldBy(byKey[k], f.Holds[side])
			row := f.Rows[side][k]
			// The v cell.
			if row.V != nil {
				for i := range ws {
					if ws[i].mayHave() && ws[i].ts == row.VWT && setsV(ws[i], k, *row.V) {
						note(&ws[i], side, k)
					}
				}
			} else if set := newestOK(ws, func(m Mut) bool { return m.K == k && (m.F == FInsert || m.F == FUpdate) }); set >= 0 {
				note(onlyCandidate(ws, set, true, func(m Mut) bool { return m.K == k && m.F == FDelete }), side, k)
			}
			// The set elements.
			for _, e := range elementsOf(ws, k, row.Tags) {
				adds := func(m Mut) bool { return m.K == k && m.F == FAdd && m.Elem == e }
				removes := func(m Mut) bool { return m.K == k && (m.F == FDelete || (m.F == FRemove && m.Elem == e)) }
				if slices.Contains(row.Tags, e) {
					rm := newestOK(ws, removes) // an add must be newer (a tombstone wins a tie)
					note(onlyCandidate(ws, rm, false, adds), side, k)
				} else if add := newestOK(ws, adds); add >= 0 {
					note(onlyCandidate(ws, add, true, removes), side, k)
				}
			}
		}
	}
	return out
}

// newestOK returns the timestamp of the newest acknowledged write of ws with a mutation matching
// (-1 when none).
func newestOK(ws []writeOp, match func(Mut) bool) int64 {
	newest := int64(-1)
	for _, w := range ws {
		if w.c.Outcome == OK && w.ts > newest && slices.ContainsFunc(w.c.Invoke.Muts, match) {
			newest = w.ts
		}
	}
	return newest
}

// onlyCandidate returns the one write of ws that may have applied, with a mutation matching and
// a timestamp after ts (at ts too when tie), or nil when there is none or more than one.
func onlyCandidate(ws []writeOp, ts int64, tie bool, match func(Mut) bool) *writeOp {
	var only *writeOp
	for i := range ws {
		w := &ws[i]
		if !w.mayHave() || w.ts < ts || (w.ts == ts && !tie) || !slices.ContainsFunc(w.c.Invoke.Muts, match) {
			continue
		}
		if only != nil {
			return nil
		}
		only = w
	}
	return only
}

// elementsOf returns the set elements of key k that writes of ws added or removed, or the side
// holds, sorted.
func elementsOf(ws []writeOp, k int, have []string) []string {
	set := map[string]bool{}
	for _, e := range have {
		set[e] = true
	}
	for _, w := range ws {
		for _, m := range w.c.Invoke.Muts {
			if m.K == k && m.Elem != "" {
				set[m.Elem] = true
			}
		}
	}
	return sortedKeys(set)
}

// searchBudget bounds the work of explainOutcomes' search for one group of writes of unknown
// outcome (choices and cell evaluations): a group whose search runs out of it is not judged, and says so in
// a finding (never clean by omission). A variable only so a test can lower it.
var searchBudget = 1 << 20

// explainOutcomes asks whether some consistent choice of which writes of unknown outcome applied
// explains the final state: each write of unknown outcome applied wholly, on every side that
// receives it, or nowhere (dualwrite's invariant 1; a logged batch applies whole), with the
// acknowledged writes, under Cassandra's reconciliation. A cell (side, key, v or element) no
// choice explains tells nothing about the choice (a lost acknowledged write, reported on its own)
// and is set aside; when no choice explains all the others together, the writes are reported:
// diverged when each side alone is explained by some choice (the writes applied on one side and
// not on another), torn-batch otherwise (only part of a write can account for the side).
//
// The search. Invariants: a write of unknown outcome is a variable only in the cells it can
// change (relevant): in a v cell when its timestamp is not older than every acknowledged write
// of that cell; in an element's cell an add newer than every acknowledged add and remove, a
// remove (or delete) not older than every acknowledged add and newer than every acknowledged
// remove — a write relevant to no cell changes nothing whatever happened to it and is left out;
// the writes are split into independent components (writes that share no relevant cell are
// searched apart); a component is searched depth-first, newest write first, every cell naming a variable checked
// forward after each choice (cellSatisfiable's argument: a dead branch is cut at its first
// choice), within searchBudget steps (a cell alone needs none: cellSatisfiable).
// A component whose search runs out of the budget is returned as a finding (its cells not
// judged), never passed over silently.
//
// split(w, side) marks a write of unknown outcome that may have applied on the other sides and
// not on side (an unanswered write whose follower copy was lost with its writer's disk: dualwrite
// documents it on the authoritative side only): on side it is a choice of its own.
func explainOutcomes(f Final, byKey map[int][]writeOp, split func(w writeOp, side string) bool) (out []Violation, findings []string) {
	unknown := map[string]writeOp{}
	keys := make([]int, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		for _, w := range byKey[k] {
			if w.c.Outcome != OK && w.mayHave() {
				unknown[w.c.Invoke.ID] = w
			}
		}
	}
	ids := sortedKeys(unknown)
	index := map[string]int{}
	tsOf := make([]int64, len(ids))
	for i, id := range ids {
		index[id] = i
		tsOf[i] = unknown[id].ts
	}
	sideIndex := map[string]map[string]int{} // side -> index, a split write's own choice there
	nwrites := len(ids)
	for _, side := range sortedKeys(f.Rows) {
		idx, cloned := index, false
		for _, id := range ids[:nwrites] {
			w := unknown[id]
			if split == nil || !split(w, side) {
				continue
			}
			if !cloned {
				idx, cloned = maps.Clone(index), true
			}
			pseudo := id + " on " + side
			idx[id] = len(ids)
			ids = append(ids, pseudo)
			tsOf = append(tsOf, w.ts)
			unknown[pseudo] = w
		}
		sideIndex[side] = idx
	}
	// The cells the writes of unknown outcome touch, on the sides that receive them, with the
	// writes relevant to each.
	var cells []outcomeCell
	for _, side := range sortedKeys(f.Rows) {
		for _, k := range keys {
			ws := heldBy(byKey[k], f.Holds[side])
			touched := false
			for _, w := range ws {
				if _, ok := unknown[w.c.Invoke.ID]; ok {
					touched = true
				}
			}
			if !touched {
				continue
			}
			cells = append(cells, outcomeCell{side: side, k: k, vars: relevantVars(ws, k, "", sideIndex[side])})
			for _, e := range elementsOf(ws, k, f.Rows[side][k].Tags) {
				cells = append(cells, outcomeCell{side: side, k: k, elem: e, vars: relevantVars(ws, k, e, sideIndex[side])})
			}
		}
	}
	eval := func(c outcomeCell, applied []bool) bool {
		return explainsCell(f, byKey, c, func(w writeOp) bool {
			if w.c.Outcome == OK {
				return true
			}
			i, ok := sideIndex[c.side][w.c.Invoke.ID]
			return ok && applied[i]
		})
	}
	// Cells no choice explains are set aside.
	var judged []outcomeCell
	for _, c := range cells {
		if cellSatisfiable(c, len(ids), eval) {
			judged = append(judged, c)
		}
	}
	// Components: writes sharing a judged cell.
	parent := make([]int, len(ids))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	for _, c := range judged {
		for _, v := range c.vars[min(1, len(c.vars)):] {
			parent[find(v)] = find(c.vars[0])
		}
	}
	comp := map[int][]outcomeCell{}
	for _, c := range judged {
		if len(c.vars) > 0 {
			comp[find(c.vars[0])] = append(comp[find(c.vars[0])], c)
		}
	}
	roots := make([]int, 0, len(comp))
	for r := range comp {
		roots = append(roots, r)
	}
	sort.Ints(roots)
	for _, r := range roots {
		cs := comp[r]
		var members []string
		gkeys := map[int]bool{}
		for i := range ids {
			if find(i) == r {
				members = append(members, ids[i])
				for k := range keysOf(unknown[ids[i]].c.Invoke.Muts) {
					gkeys[k] = true
				}
			}
		}
		budget := searchBudget
		sat, done := searchOutcomes(cs, tsOf, eval, &budget)
		if !done {
			findings = append(findings, fmt.Sprintf("writes %v of unknown outcome (%d, keys %v): the search of which applied ran out of its budget (%d steps), so their %d cells were not judged — neither clean nor a violation",
				members, len(members), sortedInts(gkeys), searchBudget, len(cs)))
			continue
		}
		if sat {
			continue
		}
		kind := "diverged"
		for _, side := range sortedKeys(f.Rows) {
			var own []outcomeCell
			for _, c := range cs {
				if c.side == side {
					own = append(own, c)
				}
			}
			budget := searchBudget
			if sat, done := searchOutcomes(own, tsOf, eval, &budget); done && !sat {
				kind = "torn-batch"
			}
		}
		var involved []Op
		for _, id := range members {
			op := unknown[id].c.Invoke
			op.Err = unknown[id].c.Outcome + " " + unknown[id].c.End.Err
			involved = append(involved, op)
		}
		out = append(out, Violation{Check: kind, What: fmt.Sprintf("writes %v of unknown outcome: no choice of which applied, each wholly on every side that receives it, explains the final state of keys %v (%d cells)",
			members, sortedInts(gkeys), len(cs)), Ops: involved})
	}
	return out, findings
}

// cellSatisfiable reports whether some choice of the writes of unknown outcome explains cell c
// alone. No choice but none or one applied write needs trying: a v cell holding a value is
// explained by the writes of that value at its timestamp (one does what all do) with every other
// relevant write left out (applied, it beats it or loses); an absent v by none, or by the one
// delete that wins; an element present by none or one add newer than every remove, absent by none
// or one remove not older than every add — whatever else applied only loses or breaks it.
func cellSatisfiable(c outcomeCell, nvars int, eval func(outcomeCell, []bool) bool) bool {
	applied := make([]bool, nvars)
	if eval(c, applied) {
		return true
	}
	for _, v := range c.vars {
		applied[v] = true
		ok := eval(c, applied)
		applied[v] = false
		if ok {
			return true
		}
	}
	return false
}

// outcomeCell is one cell of the final state a write of unknown outcome touches: side, key, and
// element ("" for v), with vars, the indexes of the writes of unknown outcome that can change it
// (relevantVars), ascending.
type outcomeCell struct {
	side string
	k    int
	elem string
	vars []int
}

// relevantVars returns the indexes (index) of the writes of unknown outcome of ws that can change
// key k's cell (v when elem is "", else that set element) whatever the others did: see
// explainOutcomes' invariants.
func relevantVars(ws []writeOp, k int, elem string, index map[string]int) []int {
	var ackV, ackAdd, ackRm int64 = -1, -1, -1
	for _, w := range ws {
		if w.c.Outcome != OK {
			continue
		}
		for _, m := range w.c.Invoke.Muts {
			switch {
			case m.K != k:
			case elem == "" && (m.F == FInsert || m.F == FUpdate || m.F == FDelete):
				ackV = max(ackV, w.ts)
			case elem != "" && m.F == FAdd && m.Elem == elem:
				ackAdd = max(ackAdd, w.ts)
			case elem != "" && (m.F == FDelete || (m.F == FRemove && m.Elem == elem)):
				ackRm = max(ackRm, w.ts)
			}
		}
	}
	set := map[int]bool{}
	for _, w := range ws {
		i, ok := index[w.c.Invoke.ID]
		if !ok || w.c.Outcome == OK || !w.mayHave() {
			continue
		}
		for _, m := range w.c.Invoke.Muts {
			switch {
			case m.K != k:
			case elem == "" && (m.F == FInsert || m.F == FUpdate || m.F == FDelete):
				if w.ts >= ackV {
					set[i] = true
				}
			case elem != "" && m.F == FAdd && m.Elem == elem:
				if w.ts > ackAdd && w.ts > ackRm {
					set[i] = true
				}
			case elem != "" && (m.F == FDelete || (m.F == FRemove && m.Elem == elem)):
				if w.ts >= ackAdd && w.ts > ackRm {
					set[i] = true
				}
			}
		}
	}
	return sortedInts(set)
}

// searchOutcomes reports whether some choice of the writes of unknown outcome (nvars of them)
// satisfies every cell of cs (sat), searching depth-first over the cells' variables only; done is
// false when budget (choices and cell evaluations, decremented) ran out before an answer. After each choice every cell
// naming the variable is checked: whole once all its variables are chosen, else forward (some
// extension of the choice so far still explains it: the unchosen left out, or one of them
// applied — cellSatisfiable's argument holds with the chosen writes fixed), so a dead branch is
// cut at its first choice, not at its leaves.
func searchOutcomes(cs []outcomeCell, ts []int64, eval func(outcomeCell, []bool) bool, budget *int) (sat, done bool) {
	// Variables newest first: under Cassandra's reconciliation the newest writes decide a cell,
	// so once those newer than its value are chosen the forward check settles it (an older write
	// is chosen after the conflict it cannot resolve was found).
	seen := map[int]bool{}
	var order []int
	for _, c := range cs {
		for _, v := range c.vars {
			if !seen[v] {
				seen[v] = true
				order = append(order, v)
			}
		}
	}
	sort.Slice(order, func(i, j int) bool {
		return ts[order[i]] > ts[order[j]] || (ts[order[i]] == ts[order[j]] && order[i] < order[j])
	})
	pos := map[int]int{}
	for i, v := range order {
		pos[v] = i
	}

	steps := func() bool { *budget--; return *budget >= 0 }
	eval0 := eval
	eval = func(c outcomeCell, applied []bool) bool { steps(); return eval0(c, applied) }
	applied := make([]bool, len(ts)) // the unchosen are false
	byVar := make([][]outcomeCell, len(order))
	for _, c := range cs {
		if len(c.vars) == 0 {
			if !eval(c, applied) {
				return false, true
			}
			continue
		}
		for _, v := range c.vars {
			byVar[pos[v]] = append(byVar[pos[v]], c)
		}
	}
	// feasible reports whether some extension of the choices at positions ≤ d explains c.
	feasible := func(c outcomeCell, d int) bool {
		if eval(c, applied) {
			return true
		}
		for _, v := range c.vars {
			if pos[v] <= d {
				continue
			}
			applied[v] = true
			ok := eval(c, applied)
			applied[v] = false
			if ok {
				return true
			}
		}
		return false
	}
	var dfs func(d int) (bool, bool)
	dfs = func(d int) (bool, bool) {
		if d == len(order) {
			return true, true
		}
		for _, val := range []bool{false, true} {
			if !steps() {
				applied[order[d]] = false
				return false, false
			}
			applied[order[d]] = val
			ok := true
			for _, c := range byVar[d] {
				if !feasible(c, d) {
					ok = false
					break
				}
			}
			if *budget < 0 {
				applied[order[d]] = false
				return false, false
			}
			if ok {
				if sat, done := dfs(d + 1); !done || sat {
					if !done {
						applied[order[d]] = false
					}
					return sat, done
				}
			}
		}
		applied[order[d]] = false
		return false, true
	}
	return dfs(0)
}

// explainsCell reports whether cell c of the final state is what the writes held by its side
// make of it, applied reporting which writes applied, under Cassandra's reconciliation (newest
// timestamp; a tombstone wins a tie, then the greater value; an element is present when its
// newest add is newer than its newest remove or delete).
func explainsCell(f Final, byKey map[int][]writeOp, c outcomeCell, applied func(writeOp) bool) bool {
	row := f.Rows[c.side][c.k]
	ws := heldBy(byKey[c.k], f.Holds[c.side])
	if c.elem != "" {
		var add, rm int64 = -1, -1
		for _, w := range ws {
			if !w.mayHave() || !applied(w) {
				continue
			}
			for _, m := range w.c.Invoke.Muts {
				switch {
				case m.K != c.k:
				case m.F == FAdd && m.Elem == c.elem:
					add = max(add, w.ts)
				case m.F == FDelete || (m.F == FRemove && m.Elem == c.elem):
					rm = max(rm, w.ts)
				}
			}
		}
		return (add > rm) == slices.Contains(row.Tags, c.elem)
	}
	var ts int64 = -1
	var v *string
	touched := false
	for _, w := range ws {
		if !w.mayHave() || !applied(w) {
			continue
		}
		for _, m := range w.c.Invoke.Muts {
			if m.K != c.k || (m.F != FInsert && m.F != FUpdate && m.F != FDelete) {
				continue
			}
			touched = true
			switch {
			case w.ts > ts:
			case w.ts < ts:
				continue
			case m.F == FDelete: // a tombstone wins a tie
			case v == nil || m.V <= *v:
				continue
			}
			ts = w.ts
			if m.F == FDelete {
				v = nil
			} else {
				mv := m.V
				v = &mv
			}
		}
	}
	if !touched || v == nil { // nothing applied set v, or the newest was a delete
		return row.V == nil
	}
	return row.V != nil && *row.V == *v && row.VWT == ts
}
