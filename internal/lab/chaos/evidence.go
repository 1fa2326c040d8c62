package chaos

import (
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
