package cachesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/globalcloud/islands/internal/recordlog"
)

// The spill: one durable log (internal/recordlog) per destination queue, in a directory of its
// own under SpillDir (spillDirName). Invariants:
//  1. A destination's events go to its own spill only; its drainer sends them to it, oldest
//     first, and consumes them (commits its own cursor) once SQS took them. So a destination that
//     is down holds back, and resends, only its own events: the others' spills drain and commit
//     whatever it does.
//  2. pending follows the log: it counts the records durable in the spill and not consumed, as the
//     log itself counts them (recordlog Stats.Records), not as the appends' callers saw them — an
//     append whose caller stopped waiting may land all the same (recordlog: "may or may not
//     appear"). spillOut raises it to the log's count after each append it saw confirmed; the
//     drainer sets it to that count after every commit and raises it at every round (follow), so a
//     record that landed uncounted is sent within one round. While it is above zero Publish sends
//     that destination's events to its spill, behind them, and the other destinations' events to
//     their buffers.
//  3. The drain makes progress as the live sender does: each round sends the records of its window
//     (the 200 oldest not consumed) that SQS has not taken yet, notes each record SQS takes
//     (acked, by position), and commits the longest prefix of the window that SQS took wholly — a
//     log is consumed only from its front. A record SQS took is never sent again by this
//     Publisher, and only the records a call failed for are retried: an SQS that loses a share of
//     the calls drains the spill all the same (all-or-nothing rounds never did: one failed call in
//     a round sent the whole round again, for ever, and held every later event behind it).
//  4. A spill written by a version before per-destination spills (records in SpillDir itself) is
//     moved, record by record, into the destinations' spills when the Publisher opens, and
//     consumed only once they all hold it (a crash in between spills them twice: duplicates are
//     harmless).
type destSpill struct {
	queue   string
	log     *recordlog.Log
	pending atomic.Int64
	mu      sync.Mutex            // one drain at a time
	acked   map[spillPos]struct{} // records of the window SQS took, not yet committed (invariant 3; mu held)
}

// spillPos identifies one record of a spill (recordlog.Pos without its per-read ordinal).
type spillPos struct {
	seg uint64
	off int64
}

func posOf(p recordlog.Pos) spillPos { return spillPos{p.Segment, p.Offset} }

// spillDirName is the directory of the spill of the queue at url, under SpillDir.
func spillDirName(url string) string {
	h := sha256.Sum256([]byte(url))
	return "q-" + hex.EncodeToString(h[:8])
}

// openSpills opens one spill per destination in urls (SpillMaxBytes is shared evenly among them)
// and moves the records of a legacy single spill into them (invariant 4), a thousand at a time.
// A legacy spill held up to SpillMaxBytes for all destinations together, more than one
// destination's share: a destination's share is widened, for this run, by what the legacy spill
// holds for it, so the move always fits (refusing it would refuse every start, for good, and
// never send what was spilled). The next Publisher opens it at its share again; beyond that its
// new events are dropped, counted, until the drain has sent what was moved.
func (p *Publisher) openSpills(urls []string) (err error) {
	p.spills = map[string]*destSpill{}
	per := max(p.opts.SpillMaxBytes/int64(max(len(urls), 1)), 1<<20)
	legacy, err := recordlog.Open(p.opts.SpillDir, recordlog.Options{Logger: p.opts.Logger})
	if err != nil {
		return fmt.Errorf("cachesync: open spill %s: %w", p.opts.SpillDir, err)
	}
	defer legacy.Close()
	held, err := legacyBytes(legacy)
	if err != nil {
		return fmt.Errorf("cachesync: read legacy spill %s: %w", p.opts.SpillDir, err)
	}
	open := func(u string) (*destSpill, error) {
		if ds := p.spills[u]; ds != nil {
			return ds, nil
		}
		l, err := recordlog.Open(filepath.Join(p.opts.SpillDir, spillDirName(u)), recordlog.Options{MaxBytes: per + held[u], Logger: p.opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("cachesync: open spill of %s: %w", u, err)
		}
		ds := &destSpill{queue: u, log: l}
		ds.pending.Store(l.Stats().Records)
		p.spills[u] = ds
		return ds, nil
	}
	defer func() {
		if err != nil {
			p.closeSpills()
		}
	}()
	for _, u := range urls {
		if _, err := open(u); err != nil {
			return err
		}
	}
	if err := p.openOtherSpills(); err != nil {
		return err
	}
	p.appendSpill = func(ctx context.Context, b []byte) error {
		var sr spillRecord
		if err := json.Unmarshal(b, &sr); err != nil {
			return err
		}
		ds := p.spills[sr.Queue]
		if ds == nil {
			return fmt.Errorf("cachesync: no spill for queue %s", sr.Queue)
		}
		_, err := ds.log.Append(ctx, b)
		return err
	}
	moved := 0
	for {
		recs, err := legacy.Read(1000)
		if err != nil {
			return fmt.Errorf("cachesync: read legacy spill %s: %w", p.opts.SpillDir, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			var sr spillRecord
			if json.Unmarshal(r.Payload, &sr) != nil {
				continue // not ours: skip it
			}
			ds, err := open(sr.Queue) // a queue no longer a destination still gets what was its
			if err != nil {
				return err
			}
			if _, err := ds.log.Append(context.Background(), r.Payload); err != nil {
				return fmt.Errorf("cachesync: move legacy spill %s: %w", p.opts.SpillDir, err)
			}
			ds.pending.Add(1)
			moved++
		}
		if err := legacy.Commit(recs[len(recs)-1].Pos); err != nil {
			return fmt.Errorf("cachesync: commit legacy spill %s: %w", p.opts.SpillDir, err)
		}
	}
	if moved > 0 {
		p.logger.Info("cachesync: moved a single spill into per-destination spills", "dir", p.opts.SpillDir, "events", moved)
	}
	return nil
}

// spillRecordOverhead bounds what a record takes in a spill beyond its payload (recordlog's
// header is 12 bytes).
const spillRecordOverhead = 16

// legacyBytes returns how many bytes the legacy spill holds for each queue (records not consumed),
// and leaves its read position where it was (the cursor).
func legacyBytes(legacy *recordlog.Log) (map[string]int64, error) {
	held := map[string]int64{}
	defer legacy.Rewind()
	for {
		recs, err := legacy.Read(1000)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return held, nil
		}
		for _, r := range recs {
			var sr spillRecord
			if json.Unmarshal(r.Payload, &sr) == nil {
				held[sr.Queue] += int64(len(r.Payload) + spillRecordOverhead)
			}
		}
	}
}

// openOtherSpills opens the spills under SpillDir of queues that are not destinations of this
// Publisher (its options changed since a restart): they are drained to their queue all the same,
// as what was spilled for it must still reach it. The queue is read from the first record.
func (p *Publisher) openOtherSpills() error {
	names, err := os.ReadDir(p.opts.SpillDir)
	if err != nil {
		return fmt.Errorf("cachesync: read spill directory: %w", err)
	}
	known := map[string]bool{}
	for u := range p.spills {
		known[spillDirName(u)] = true
	}
	for _, e := range names {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "q-") || known[e.Name()] {
			continue
		}
		l, err := recordlog.Open(filepath.Join(p.opts.SpillDir, e.Name()), recordlog.Options{Logger: p.opts.Logger})
		if err != nil {
			return fmt.Errorf("cachesync: open spill %s: %w", e.Name(), err)
		}
		recs, err := l.Read(1)
		var sr spillRecord
		if err != nil || len(recs) == 0 || json.Unmarshal(recs[0].Payload, &sr) != nil || spillDirName(sr.Queue) != e.Name() {
			l.Close() // empty (or not ours): nothing to send
			continue
		}
		l.Rewind()
		ds := &destSpill{queue: sr.Queue, log: l}
		ds.pending.Store(l.Stats().Records)
		p.spills[sr.Queue] = ds
		p.logger.Info("cachesync: spill of a queue that is no longer a destination; sending it there", "queue", sr.Queue, "events", ds.pending.Load())
	}
	return nil
}

// follow raises pending to the log's own count of records not consumed: after an append it saw
// confirmed (spillOut), and at every drain round, since an append whose caller stopped waiting
// may still land and must be sent all the same (invariant 2). It only raises; a count above the
// log's (a commit between the count and the raise) is set right by the next drain, which reads
// nothing and stores the log's count.
func (ds *destSpill) follow() {
	n := ds.log.Stats().Records
	for {
		cur := ds.pending.Load()
		if n <= cur || ds.pending.CompareAndSwap(cur, n) {
			return
		}
	}
}

// pending returns how many events wait in the spill of the queue at url.
func (p *Publisher) pending(url string) int64 {
	if ds := p.spills[url]; ds != nil {
		return ds.pending.Load()
	}
	return 0
}

// closeSpills closes every spill; it returns the first error.
func (p *Publisher) closeSpills() error {
	var first error
	for _, ds := range p.spills {
		if err := ds.log.Close(); err != nil && first == nil {
			first = fmt.Errorf("cachesync: close spill of %s: %w", ds.queue, err)
		}
	}
	return first
}

// drainSpill sends one destination's spilled events, oldest first, until they are all sent; it
// checks again every 100 ms, backing off (up to 5 s) while its destination takes none of them.
// A round that SQS took in part is followed by the next after 100 ms, for the rest.
func (p *Publisher) drainSpill(ds *destSpill) {
	defer p.drainWG.Done()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.closing:
			return
		case <-time.After(backoff):
		}
		ds.follow()
		for ds.pending.Load() > 0 && p.ctx.Err() == nil {
			took, clean := p.drainOnce(ds)
			if clean {
				backoff = 100 * time.Millisecond
				continue
			}
			if took {
				backoff = 100 * time.Millisecond
			} else {
				backoff = min(backoff*2, 5*time.Second)
			}
			break
		}
	}
}

// drainWindow is how many of a spill's oldest records one drain round considers.
const drainWindow = 200

// drainOnce is one drain round (invariant 3): it sends the records of ds's window that SQS has not
// taken yet, in batches sent in parallel (Senders at a time), notes each one SQS took, and commits
// the longest prefix of the window SQS took. took reports whether SQS took any record this round,
// clean whether the round ended with nothing left to retry (no call failed, the commit held). A
// record is consumed only once SQS took it (a crash in between sends it again: duplicates are
// harmless).
func (p *Publisher) drainOnce(ds *destSpill) (took, clean bool) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.acked == nil {
		ds.acked = map[spillPos]struct{}{}
	}
	ds.log.Rewind()
	recs, err := ds.log.Read(drainWindow)
	if err != nil || len(recs) == 0 {
		if err != nil {
			p.logger.Warn("cachesync: read spill", "queue", ds.queue, "err", err)
		}
		if len(recs) == 0 && err == nil {
			clear(ds.acked)
			ds.pending.Store(ds.log.Stats().Records)
		}
		return false, err == nil
	}
	var entries []outEntry
	for _, r := range recs {
		at := posOf(r.Pos)
		if _, ok := ds.acked[at]; ok {
			continue // SQS took it in an earlier round: never sent again
		}
		var sr spillRecord
		if json.Unmarshal(r.Payload, &sr) != nil {
			ds.acked[at] = struct{}{} // not ours: skip it
			continue
		}
		e := sr.entry()
		e.spill = at
		entries = append(entries, e)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed = map[spillPos]bool{}
		sem    = make(chan struct{}, p.opts.Senders)
	)
	for _, batch := range batches(entries, p.opts.BatchSize) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			bad, err := p.sendAll(ds.queue, batch)
			mu.Lock()
			for _, e := range bad {
				failed[e.spill] = true // a replacement keeps its record's position
			}
			mu.Unlock()
			if err != nil {
				p.sendFailed(ds.queue)
			} else {
				p.sendOK(ds.queue, start)
			}
		}()
	}
	wg.Wait()
	for _, e := range entries {
		if !failed[e.spill] {
			ds.acked[e.spill] = struct{}{} // taken (or refused for good: replaced or dropped by sendAll)
			took = true
		}
	}
	n := 0
	for n < len(recs) {
		if _, ok := ds.acked[posOf(recs[n].Pos)]; !ok {
			break
		}
		n++
	}
	clean = len(failed) == 0
	if n == 0 {
		return took, clean
	}
	if err := ds.log.Commit(recs[n-1].Pos); err != nil {
		p.logger.Warn("cachesync: commit spill", "queue", ds.queue, "err", err)
		return took, false // acked keeps what SQS took: the next round commits it without sending it
	}
	for _, r := range recs[:n] {
		delete(ds.acked, posOf(r.Pos))
	}
	ds.pending.Store(ds.log.Stats().Records) // the log's count, not the callers' (invariant 2)
	if p.m != nil {
		p.m.unspilled.Add(float64(n))
	}
	return took, clean
}

// spillConfirmWait bounds how long spillOut still waits, once its caller's wait has ended, for the
// spill to answer the appends it started: a refusal (a full spill, recordlog.ErrFull) is answered
// at once, without any I/O, and an fsync on a healthy disk takes milliseconds (1 s, not less: on
// a loaded host an fsync took over 250 ms, TestAttackOneRegionDownStopsTheSpillForTheOthers). An
// append not answered by then is reported as unconfirmed (ErrUnconfirmed), never as success.
const spillConfirmWait = time.Second

// spillAppendTimeout bounds one spill append that no caller waits for.
const spillAppendTimeout = 5 * time.Second

// spillRecord is one spilled entry with its destination.
type spillRecord struct {
	Queue string `json:"q"`
	Body  string `json:"b"`
	Op    Op     `json:"op"`
	Delay int32  `json:"d,omitempty"`
	Sent  int64  `json:"s,omitempty"` // outEntry.sent
}

func (r spillRecord) entry() outEntry {
	return outEntry{body: r.Body, op: r.Op, delay: r.Delay, sent: r.Sent}
}

func (e outEntry) record(queue string) spillRecord {
	return spillRecord{Queue: queue, Body: e.body, Op: e.op, Delay: e.delay, Sent: e.sent}
}

// spillOut appends recs to the spill, or drops them (counted, logged) when there is none, and
// waits for the answers: spillStart, then its wait.
func (p *Publisher) spillOut(ctx context.Context, key string, recs []spillRecord, wait time.Duration) error {
	return p.spillStart(key, recs)(ctx, wait)
}

// spillStart starts the appends of recs to the spill, or drops them (counted, logged) when there
// is none, and returns the wait for their answers. The appends run at once, so that the spill
// writes and fsyncs them as one group (recordlog groups the appends that wait together).
//
// Invariants:
//  1. No lock is held across a wait on the disk: Publish calls spillStart under p.mu held shared
//     (the appends join spillWG before Close, which takes p.mu, can wait for it), releases p.mu,
//     and only then waits. So neither Close nor any other Publish waits for this one's disk.
//  2. The answer is nil only when the spill confirmed every append (durable); a refused append (a
//     full spill, a failed write, one ended by Close) is ErrDropped, counted and logged; an append
//     whose answer is not known when the wait ends is ErrUnconfirmed (it goes on without the
//     caller: counted once durable, or counted as dropped and logged if it fails).
//  3. The wait lasts until wait has passed or ctx ends, then spillConfirmWait more at most (a
//     refusal is known at once, so an ended context never turns a dropped event into a nil); it
//     ends at the latest when Close ends the spill appends (its deadline plus closeSpillGrace),
//     whatever the disk does.
//
// spilling counts exactly the records the spill confirmed and the drainer has not consumed,
// whether a caller still waits or not.
func (p *Publisher) spillStart(key string, recs []spillRecord) func(ctx context.Context, wait time.Duration) error {
	if p.spills == nil {
		// Only these destinations' copies are dropped (their buffers were full): the error and
		// the log name them.
		var queues []string
		for _, r := range recs {
			if !slices.Contains(queues, r.Queue) {
				queues = append(queues, r.Queue)
			}
		}
		logKey(p.logger, slog.LevelWarn, "cachesync: publish buffer full and no spill; events dropped", key, "events", len(recs), "queues", queues)
		p.dropped.Add(int64(len(recs)))
		if p.m != nil {
			p.m.dropped.Add(float64(len(recs)))
		}
		err := fmt.Errorf("cachesync: publish %q: %d events to %s (buffer full): %w", key, len(recs), strings.Join(queues, ", "), ErrDropped)
		return func(context.Context, time.Duration) error { return err }
	}
	results := make(chan error, len(recs))
	p.spillWG.Add(len(recs))
	for _, r := range recs {
		b, _ := json.Marshal(r)
		go func() {
			defer p.spillWG.Done()
			actx, cancel := context.WithTimeout(p.spillCtx, spillAppendTimeout)
			err := p.appendSpill(actx, b)
			cancel()
			if err == nil {
				if ds := p.spills[r.Queue]; ds != nil {
					ds.follow() // the log's count, which holds this record now (invariant 2)
				}
				p.spilled.Add(1)
				if p.m != nil {
					p.m.spilled.Inc()
				}
			} else {
				p.dropped.Add(1)
				if p.m != nil {
					p.m.dropped.Inc()
				}
				logKey(p.logger, slog.LevelError, "cachesync: spill failed; event dropped", key, "err", err)
			}
			results <- err
		}()
	}
	return func(ctx context.Context, wait time.Duration) error {
		return p.spillAnswers(ctx, key, results, len(recs), wait)
	}
}

// spillAnswers waits for the n answers of the appends spillStart began (see its invariants 2, 3).
func (p *Publisher) spillAnswers(ctx context.Context, key string, results <-chan error, n int, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var (
		failed, answered int
		confirm          <-chan time.Time // set once the caller's wait has ended
		callerDone       = ctx.Done()
		waitOver         = timer.C
	)
	endWait := func() { // the caller's wait is over: spillConfirmWait more for the answers
		waitOver, callerDone = nil, nil
		confirm = time.After(spillConfirmWait)
	}
	unconfirmed := func() error {
		unknown := n - answered
		if failed > 0 {
			return fmt.Errorf("cachesync: publish %q: %d events: %w; %d more: %w", key, failed, ErrDropped, unknown, ErrUnconfirmed)
		}
		return fmt.Errorf("cachesync: publish %q: %d events: %w", key, unknown, ErrUnconfirmed)
	}
	take := func(err error) {
		answered++
		if err != nil {
			failed++
		}
	}
	for answered < n {
		select {
		case err := <-results:
			take(err)
		case <-waitOver:
			endWait()
		case <-callerDone:
			endWait()
		case <-confirm:
			return unconfirmed()
		case <-p.spillCtx.Done():
			// Close ended every spill append (its deadline and grace passed): the wait ends now.
			// The answers already in are taken; an append still inside the disk is unconfirmed.
			for answered < n {
				select {
				case err := <-results:
					take(err)
					continue
				default:
				}
				return unconfirmed()
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("cachesync: publish %q: %d events: %w", key, failed, ErrDropped)
	}
	return nil
}
