package chaos

import (
	"fmt"
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

// maxUnknownSearch bounds the search of explainOutcomes: a group of more writes of unknown
// outcome sharing keys than this is not searched (2^12 choices, each a pass over its cells).
const maxUnknownSearch = 12

// explainOutcomes asks whether some consistent choice of which writes of unknown outcome applied
// explains the final state: each write of unknown outcome applied wholly, on every side that
// receives it, or nowhere (dualwrite's invariant 1; a logged batch applies whole), with the
// acknowledged writes, under Cassandra's reconciliation. Writes of unknown outcome are grouped by
// the keys they share; for each group (up to maxUnknownSearch writes) every choice is tried
// against the cells (side, key, v or element) its writes touch. A cell no choice explains tells
// nothing about the choice (a lost acknowledged write, reported on its own) and is set aside;
// when no choice explains all the others together, the group is reported: diverged when each
// side alone is explained by some choice (the writes applied on one side and not on another),
// torn-batch otherwise (only part of a write can account for the side).
func explainOutcomes(f Final, byKey map[int][]writeOp) []Violation {
	// Group the writes of unknown outcome by shared keys (union-find over ids).
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	unknown := map[string]writeOp{}
	keys := make([]int, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		first := ""
		for _, w := range byKey[k] {
			if w.c.Outcome == OK || !w.mayHave() {
				continue
			}
			id := w.c.Invoke.ID
			if _, ok := parent[id]; !ok {
				parent[id] = id
				unknown[id] = w
			}
			if first == "" {
				first = id
			} else {
				parent[find(id)] = find(first)
			}
		}
	}
	groups := map[string][]string{}
	for id := range unknown {
		groups[find(id)] = append(groups[find(id)], id)
	}
	type cellRef struct {
		side string
		k    int
		elem string // "" for v
	}
	var out []Violation
	for _, root := range sortedKeys(groups) {
		ids := groups[root]
		sort.Strings(ids)
		if len(ids) > maxUnknownSearch {
			continue
		}
		// The cells the group's writes touch, on the sides that receive them.
		var cells []cellRef
		gkeys := map[int]bool{}
		for _, id := range ids {
			for k := range keysOf(unknown[id].c.Invoke.Muts) {
				gkeys[k] = true
			}
		}
		for _, side := range sortedKeys(f.Rows) {
			for _, k := range sortedInts(gkeys) {
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
				cells = append(cells, cellRef{side, k, ""})
				for _, e := range elementsOf(ws, k, f.Rows[side][k].Tags) {
					cells = append(cells, cellRef{side, k, e})
				}
			}
		}
		index := map[string]int{}
		for i, id := range ids {
			index[id] = i
		}
		explains := func(c cellRef, choice int) bool {
			applied := func(w writeOp) bool {
				if w.c.Outcome == OK {
					return true
				}
				i, ok := index[w.c.Invoke.ID]
				return ok && choice&(1<<i) != 0
			}
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
		all := 1 << len(ids)
		satisfiable := func(cs []cellRef) bool {
			for choice := 0; choice < all; choice++ {
				ok := true
				for _, c := range cs {
					if !explains(c, choice) {
						ok = false
						break
					}
				}
				if ok {
					return true
				}
			}
			return false
		}
		var judged []cellRef
		for _, c := range cells {
			if satisfiable([]cellRef{c}) {
				judged = append(judged, c)
			}
		}
		if satisfiable(judged) {
			continue
		}
		kind := "diverged"
		for _, side := range sortedKeys(f.Rows) {
			var own []cellRef
			for _, c := range judged {
				if c.side == side {
					own = append(own, c)
				}
			}
			if !satisfiable(own) {
				kind = "torn-batch"
			}
		}
		var involved []Op
		for _, id := range ids {
			op := unknown[id].c.Invoke
			op.Err = unknown[id].c.Outcome + " " + unknown[id].c.End.Err
			involved = append(involved, op)
		}
		out = append(out, Violation{Check: kind, What: fmt.Sprintf("writes %v of unknown outcome: no choice of which applied, each wholly on every side that receives it, explains the final state of keys %v (%d cells)",
			ids, sortedInts(gkeys), len(judged)), Ops: involved})
	}
	return out
}
