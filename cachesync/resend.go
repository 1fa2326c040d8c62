package cachesync

import (
	"context"
	"time"
)

// resendState is one destination's ResendWindow bookkeeping. Invariants:
//
//  1. an outage is one destination's (another region's SQS refusing sends opens none here);
//  2. an event is judged by when its send began, never by when its answer was read: with several
//     Senders a call the server accepted before it restarted can have its answer read after
//     another sender's call failed (TestAttack8ResendWindowMissesAnAnswerReadAfterTheFailure).
//     So the resend set of an outage is every event whose send began within ResendWindow before
//     the outage's first failure (failAt): those in recent when it fails, and those whose answer
//     is read later (done puts them in suspect, and sendOK resends them even when the outage has
//     ended already);
//  3. only a call begun after the first failure ends the outage: a late OK of a call begun before
//     it says nothing about the server since;
//  4. an entry is kept in recent from when its first accepted send began, never after
//     ResendWindow from then; a resend (an entry
//
// with a first-acceptance time) is not kept in recent again, so an entry is resent at most once
// in all, however often SQS flaps (each flap opens an outage: re-keeping resends made every
// flap resend the whole window again, a duplicate storm). An entry is kept at most once: at its
// first acceptance. The spill's drain never sends again a record SQS took (destSpill.acked,
// spill.go invariant 3): its rounds used to send every record of a round again until one round
// was taken whole, and each acceptance kept them again, so each flap resent them again
// (TestAttack5DrainResendsEachEventAgainAtEveryFlap). What an outage set aside is resent when it
// ends, or spilled by Close (setAside) for the next Publisher to send; a resend carries its
// first-acceptance time (spillRecord.Sent), so it is never kept again, in this Publisher or the
// next. Limit: a record SQS took but the drain could not commit yet (behind one SQS had not
// taken) when the Publisher stopped is sent again by the next one, and kept again there.
type resendState struct {
	recent  []sentEntry   // accepted, their send begun in the last ResendWindow
	outage  bool          // the last call to this destination failed
	failAt  time.Time     // when the first failure of the last outage was seen (zero: none yet)
	suspect []spillRecord // accepted just before the outage: sent again when it ends
}

// state returns the resend bookkeeping of the queue at url (p.recentMu held).
func (p *Publisher) state(url string) *resendState {
	st := p.resend[url]
	if st == nil {
		st = &resendState{}
		p.resend[url] = st
	}
	return st
}

// sentEntry is an entry SQS accepted, kept for ResendWindow from when its send began (at).
type sentEntry struct {
	at  time.Time
	rec spillRecord
}

// sendFailed notes that the queue at url refused a call: the first failure of its outage sets
// aside what it accepted in the ResendWindow before, which the server may have lost with its
// state.
func (p *Publisher) sendFailed(url string) {
	if p.opts.ResendWindow <= 0 {
		return
	}
	p.recentMu.Lock()
	defer p.recentMu.Unlock()
	st := p.state(url)
	if st.outage {
		return
	}
	st.outage = true
	now := time.Now()
	st.failAt = now
	// What an earlier outage set aside and no call has sent yet stays set aside.
	for _, r := range st.recent {
		if now.Sub(r.at) <= p.opts.ResendWindow {
			r.rec.Sent = r.at.UnixNano()
			st.suspect = append(st.suspect, r.rec)
		}
	}
	st.recent = nil
	p.logger.Warn("cachesync: SQS refuses sends; publishing into the buffer and the spill", "queue", url, "resend_on_recovery", len(st.suspect))
}

// sendOK notes a successful call, begun at start, to the queue at url. A call begun after the
// outage's first failure ends it (a late answer to one begun before does not: invariant 3); then,
// or whenever no outage is on, what was set aside is sent again, once.
func (p *Publisher) sendOK(url string, start time.Time) {
	if p.opts.ResendWindow <= 0 {
		return
	}
	p.recentMu.Lock()
	st := p.state(url)
	if st.outage && start.Before(st.failAt) {
		p.recentMu.Unlock()
		return
	}
	if !st.outage && len(st.suspect) == 0 {
		p.recentMu.Unlock()
		return
	}
	st.outage = false
	again := st.suspect
	st.suspect = nil
	p.recentMu.Unlock()
	p.logger.Info("cachesync: SQS takes sends again; resending the events sent just before the outage", "queue", url, "events", len(again))
	p.resent.Add(int64(len(again)))
	if len(again) > 0 {
		if p.spills != nil {
			p.spillOut(context.Background(), "", again, spillAppendTimeout)
			return
		}
		es := make([]outEntry, len(again))
		for i, r := range again {
			es[i] = r.entry()
		}
		for _, b := range batches(es, p.opts.BatchSize) {
			p.send(url, b)
		}
	}
}

// Resent returns how many events were sent again after an outage (ResendWindow).
func (p *Publisher) Resent() int64 { return p.resent.Load() }

// setAside takes, for Close, every destination's entries set aside by an outage not yet over: they
// are spilled with what is buffered, so the next Publisher on the spill sends them (they keep
// their first-acceptance time, so they are not kept for resending again).
func (p *Publisher) setAside() []spillRecord {
	p.recentMu.Lock()
	defer p.recentMu.Unlock()
	var out []spillRecord
	for _, st := range p.resend {
		out = append(out, st.suspect...)
		st.suspect = nil
	}
	return out
}
