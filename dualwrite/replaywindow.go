package dualwrite

// A side's window of the replay log: what the replayer holds in memory for one side.
//
// Invariants (replayer.go's run relies on them):
//   - held is this side's entries read and not yet popped, in log order; an entry is popped once
//     it and every held entry before it are done. At most maxHeld are held, and only while the
//     side has fewer than window unfinished entries is more read for it.
//   - run, when set, stands for this side's entries in (run.after, run.until] of the log that are
//     not held (parked): only two positions, however many they are. It comes after every held
//     entry, and new entries of this side extend it until it is taken back (unpark), so held
//     followed by run is always this side's backlog in log order.
//   - frontier is the position of the record just before this side's first unfinished entry (or
//     the last record read when it has none): every entry of this side up to it is done. The
//     log's cursor may pass the earlier of the two sides' frontiers, never more.
type sideWindow struct {
	held       []*replaySlot
	queue      []*replaySlot // held, not yet given to a worker
	run        *parkedRun
	unfinished int
}

// parkedRun is a side's parked entries: those of the side in (after, until], n of them.
type parkedRun struct {
	after, until Pos
	n            int
}

// rereader is a ReplayLog that can read its records again from a position, independently of
// Pending (FileLog, MemLog): what the replayer parked is read back this way. Records after
// `after`, in order; withdrawn and undecodable ones with SetAside (Pending already set the
// undecodable ones aside when it handed them out).
type rereader interface {
	reread(after Pos, max int) ([]Record, error)
}

// wants reports whether the side can take more entries.
func (w *sideWindow) wants(window, maxHeld int) bool {
	return w.unfinished < window && len(w.held) < maxHeld
}

// empty reports whether the side holds or owes nothing.
func (w *sideWindow) empty() bool { return len(w.held) == 0 && w.run == nil }

// add takes rec, read by Pending after the record at prev: parked when the side already has a
// run (order) or when park says it is full, else held and queued.
func (w *sideWindow) add(rec Record, prev Pos, sd side, park bool) {
	switch {
	case w.run != nil:
		w.run.until = rec.Pos
		w.run.n++
	case park:
		w.run = &parkedRun{after: prev, until: rec.Pos, n: 1}
	default:
		w.hold(rec, prev, sd)
	}
}

func (w *sideWindow) hold(rec Record, prev Pos, sd side) {
	sl := &replaySlot{rec: rec, prev: prev, side: sd}
	w.held = append(w.held, sl)
	w.queue = append(w.queue, sl)
	w.unfinished++
}

// unpark reads back, from the log, parked entries of side sd while the side has room, returning
// how many records it read.
func (w *sideWindow) unpark(rr rereader, sd side, window, maxHeld int) (int, error) {
	read := 0
	for w.run != nil && w.wants(window, maxHeld) {
		recs, err := rr.reread(w.run.after, window)
		if err != nil || len(recs) == 0 {
			if err == nil { // the records are gone (cannot happen before the cursor passes them)
				w.run = nil
			}
			return read, err
		}
		for _, rec := range recs {
			if posBefore(w.run.until, rec.Pos) {
				w.run = nil // past the run: the rest is read by Pending
				break
			}
			read++
			prev := w.run.after
			w.run.after = rec.Pos
			if !rec.SetAside && entrySide(&rec.Entry) == sd {
				w.hold(rec, prev, sd)
				w.run.n--
			}
			if w.run.after == w.run.until || w.run.n == 0 {
				w.run = nil
				break
			}
			if !w.wants(window, maxHeld) {
				break
			}
		}
	}
	return read, nil
}

// pop drops the done entries at the head of held, returning how many.
func (w *sideWindow) pop() int {
	n := 0
	for n < len(w.held) && w.held[n].done {
		n++
	}
	clear(w.held[:n])
	w.held = w.held[n:]
	return n
}

// frontier returns the position up to which every entry of this side is done (see the type's
// invariants); lastRead is the position of the last record Pending handed out.
func (w *sideWindow) frontier(lastRead Pos) Pos {
	for _, sl := range w.held {
		if !sl.done {
			return sl.prev
		}
	}
	if w.run != nil {
		return w.run.after
	}
	return lastRead
}

// posBefore reports whether p is before q in the log.
func posBefore(p, q Pos) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}

func minPos(p, q Pos) Pos {
	if posBefore(q, p) {
		return q
	}
	return p
}

func maxPos(p, q Pos) Pos {
	if posBefore(p, q) {
		return q
	}
	return p
}
