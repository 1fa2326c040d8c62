package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/handoff"
)

// Taking a claimed batch from the shared store (H4): one path for every kind of batch — replay
// entries, dead letters, uncertain writes.
//
// Invariants:
//   - T1. An adopter never takes from the store a write the side its phase reads (its authority)
//     lacks. Each entry is owed to a side: its own (entrySide), or the batch's when it cannot be
//     decoded. An entry owed to the authority is taken only once it landed there (a synchronous
//     replay: landOwedToAuthority); one that cannot land — a dead letter or an uncertain write
//     (never replayed by an adopter), an entry this version cannot decode, an entry the side
//     refuses, for good or for now — leaves the whole batch in the store, where the fleet's Wait
//     and every instance's authority check (H5) count it. An instance that applied a phase counts
//     as having applied it (its heartbeat); an entry moved from the store into the log or the
//     aside stores of an instance already reading its side would be counted by neither.
//   - T2. T1 is checked under the phase gate's read side, held until the entries are durable
//     here: no switch of authority lands between the check and the keeping, and a switch after it
//     counts them in this instance's own owed-writes check (pendingFor).
//   - T3. What is taken is kept durably before the batch may be deleted (internal/handoff's
//     invariant 2), in the store of its kind: replay entries in the replay log (appended), an
//     undecodable replay entry in the dead-letter log, dead letters and uncertain writes in those
//     stores (never replayed: they wait for an operator here as they did on the origin).

// errOwedToAuthority: a claimed batch holds a write owed to the side this session's phase makes
// authoritative that did not land there; the batch stays in the store (T1).
var errOwedToAuthority = errors.New("holds a write owed to this session's authoritative side that did not land there")

// takenEntry is one entry of a claimed batch.
type takenEntry struct {
	raw []byte
	e   Entry
	bad error // cannot be decoded
	sd  side  // the side it is owed to (the batch's when it cannot be decoded)
}

// sink takes a claimed batch of any kind (T1–T3); nil only once its entries are kept here (or
// landed on this session's authority).
func (h *handoffState) sink(ctx context.Context, b handoff.Batch, raws [][]byte) error {
	kind := b.Kind()
	bside := primarySide
	if b.Side == secondarySide.String() {
		bside = secondarySide
	}
	ts := make([]takenEntry, len(raws))
	for i, raw := range raws {
		ts[i] = takenEntry{raw: raw, sd: bside}
		if ts[i].e, ts[i].bad = decodeEntry(raw); ts[i].bad == nil {
			ts[i].sd = entrySide(&ts[i].e)
		}
	}
	// T1: the replay entries owed to the side this phase reads land there first. Dead letters and
	// uncertain writes are never replayed by an adopter: they cannot land.
	landed := map[int]error{} // by index in ts: the outcome of each entry tried on the authority
	if kind == handoff.KindReplay {
		var es []Entry
		var at []int // es[j] is ts[at[j]]
		for i := range ts {
			if ts[i].bad == nil {
				es, at = append(es, ts[i].e), append(at, i)
			}
		}
		tried, err := h.landOwedToAuthority(ctx, b, es)
		if err != nil {
			return err
		}
		for j, res := range tried {
			landed[at[j]] = res
		}
	}
	if err := h.s.gate.rlock(ctx); err != nil {
		return fmt.Errorf("dualwrite: hand-off: adopting batch %s: %w", b.ID, err)
	}
	defer h.s.gate.runlock() // T2: held until the entries are kept
	auth := h.s.Phase().leader()
	var keep []int // the entries to keep here: not landed on the authority
	for i := range ts {
		res, tried := landed[i]
		switch {
		case tried && res == nil:
			continue // on its side already
		case ts[i].sd == auth:
			why := "a " + kindName(kind) + " (never replayed by an adopter)"
			switch {
			case ts[i].bad != nil:
				why = "an entry this version cannot decode"
			case tried:
				why = "refused there: " + res.Error()
			case kind == handoff.KindReplay:
				why = "the phase moved authority to its side while the batch was adopted"
			}
			return fmt.Errorf("dualwrite: hand-off: batch %s %w (the %s side: %s); left in the store, counted against it",
				b.ID, errOwedToAuthority, auth, why)
		}
		keep = append(keep, i)
	}
	if kind != handoff.KindReplay {
		return h.keepAside(ctx, b, kind, ts)
	}
	return h.keepReplay(ctx, b, ts, keep)
}

// kindName names a batch kind in messages.
func kindName(kind string) string {
	switch kind {
	case handoff.KindDeadLetter:
		return "dead letter"
	case handoff.KindUncertain:
		return "uncertain write"
	}
	return "replay entry"
}

// keepReplay appends the replay entries keep of a claimed batch to the local log, durably (T3),
// many at once so that they share fsyncs; one this version cannot decode goes to the dead-letter
// log, durably.
func (h *handoffState) keepReplay(ctx context.Context, b handoff.Batch, ts []takenEntry, keep []int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	var endMu sync.Mutex
	var end Pos // the last adopted entry's position here
	for _, i := range keep {
		t := ts[i]
		if t.bad != nil {
			// Written by a version this one cannot read: kept durably in the dead-letter log (as a
			// local undecodable entry is) before the batch may be deleted (H4, invariant 2).
			h.s.logger.Error("dualwrite: hand-off: an adopted entry cannot be decoded; dead-lettered", "batch", b.ID, "err", t.bad)
			if err := h.fl.asideRaw(h.fl.dead, "adopted (batch "+b.ID+"): "+t.bad.Error(), t.raw); err != nil {
				return fmt.Errorf("dualwrite: hand-off: dead-lettering an undecodable adopted entry: %w", err)
			}
			continue
		}
		g.Go(func() error {
			pos, err := h.fl.appendAt(gctx, &t.e)
			if err == nil {
				endMu.Lock()
				if passed(pos, end) {
					end = pos
				}
				endMu.Unlock()
			}
			return err
		})
	}
	err := g.Wait()
	// Adopted entries are old (their Logged time is the origin's): the background copy shares
	// them at its next pass even behind a younger entry of this instance's (adoptedEnd, H2, H4),
	// and UnsharedAge counts them until it has. Noted even after a failure: what was appended is
	// on this disk.
	h.mu.Lock()
	if passed(end, h.adoptedEnd) {
		h.adoptedEnd = end
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	h.noteAdopted(len(ts))
	return nil
}

// keepAside keeps a batch of dead letters or uncertain writes in the same local store, durably,
// never in the replay log (T3, invariant 6): they wait for an operator here as they did on the
// origin. Only batches none of whose entries is owed to this session's authority get here (T1).
func (h *handoffState) keepAside(ctx context.Context, b handoff.Batch, kind string, ts []takenEntry) error {
	into := h.fl.dead
	if kind == handoff.KindUncertain {
		into = h.fl.unc
	}
	cause := fmt.Sprintf("%s handed off by %s (batch %s)", kind, b.Origin, b.ID)
	for _, t := range ts {
		var err error
		if t.bad != nil {
			err = h.fl.asideRaw(into, cause+": cannot be decoded: "+t.bad.Error(), t.raw)
		} else {
			err = h.fl.aside(ctx, into, &t.e, errors.New(cause))
		}
		if err != nil {
			return fmt.Errorf("dualwrite: hand-off: keeping an adopted %s: %w", kind, err)
		}
	}
	h.noteAdopted(len(ts))
	h.s.logger.Warn("dualwrite: hand-off: adopted "+kind+" entries another instance left; they wait for an operator here",
		"batch", b.ID, "origin", b.Origin, "entries", len(ts))
	return nil
}

// noteAdopted counts n adopted entries (Handoff().Adopted and the metric).
func (h *handoffState) noteAdopted(n int) {
	h.adoptedN.Add(int64(n))
	if h.s.hm != nil {
		h.s.hm.entries.WithLabelValues("adopted").Add(float64(n))
	}
}

// lacksHere says whether batch b holds writes this session's authority lacks and cannot be
// landed by an adopter (a dead-letter or uncertain batch for the side its phase reads): the
// adopter does not claim it (T1; sink checks again under the gate, this is only the claim saved).
func (h *handoffState) lacksHere(b handoff.Batch) bool {
	return b.Kind() != handoff.KindReplay && b.Side == h.s.Phase().leader().String()
}
