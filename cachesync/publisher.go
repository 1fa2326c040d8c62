package cachesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// MaxMessageBytes is the largest SQS message body (256 KiB); an event that encodes larger is sent
// as an invalidation.
const MaxMessageBytes = 256 * 1024

// ErrDropped: the event could not be buffered nor spilled; it is lost (counted and logged).
var ErrDropped = errors.New("cachesync: publish buffer full and no spill, event dropped")

// ErrTooLarge: an event that is not a set (an application event, a key far past memcached's) is
// larger than one SQS message; nothing is sent. A set is sent as an invalidation instead.
var ErrTooLarge = errors.New("cachesync: event larger than one SQS message")

// spillAppendTimeout bounds one spill append that no caller waits for.
const spillAppendTimeout = 5 * time.Second

// ErrClosed: the publisher is closed and has no spill to keep the event in.
var ErrClosed = errors.New("cachesync: publisher closed")

// Publisher sends events to the other regions' queues, batching per queue. Publish never waits
// longer than PublishTimeout (or its context); Close never panics and returns by its deadline
// with every goroutine stopped.
type Publisher struct {
	sqs    sqsSender // each queue URL's own region's client (destination.go)
	opts   PublisherOptions
	queues []*outQueue
	own    *outQueue
	m      *metrics
	logger *slog.Logger

	wg     sync.WaitGroup // senders and the spill drainer
	mu     sync.RWMutex   // Publish holds it shared while it hands events over; Close exclusive
	closed bool
	// stopWait is closed when Close begins, before it takes mu: a Publish waiting for room (or
	// for its spill's fsync) stops waiting at once and spills, so it never holds Close back
	// while holding mu shared (Close returns by its deadline).
	stopWait    chan struct{}
	stopOnce    sync.Once
	closing     chan struct{} // closed by Close: senders flush and stop
	ctx         context.Context
	cancel      context.CancelFunc                              // ends every SQS call and retry: Close's deadline passed
	spills      map[string]*destSpill                           // per destination queue URL (spill.go); nil without SpillDir
	spillWG     sync.WaitGroup                                  // spill appends in progress
	appendSpill func(ctx context.Context, payload []byte) error // appends one spillRecord to its destination's spill (a test hook)
	spillCtx    context.Context                                 // ends every spill append: Close's deadline passed
	spillStop   context.CancelFunc

	sent, dropped, spilled, resent, degraded, refused atomic.Int64

	recentMu sync.Mutex
	resend   map[string]*resendState // per destination queue URL (ResendWindow)
}

// resendState is one destination's ResendWindow bookkeeping. Invariants: an outage is one
// destination's (another region's SQS refusing sends opens none here); an entry is kept in recent
// from the time SQS first accepted it, and a resend does not make it younger, so an entry is
// resent at most once per outage of its destination and never after ResendWindow from its first
// acceptance (a flapping or long outage cannot multiply the resends).
type resendState struct {
	recent  []sentEntry   // accepted in the last ResendWindow
	outage  bool          // the last call to this destination failed
	suspect []spillRecord // accepted just before the outage: sent again when it ends
}

type outQueue struct {
	url string
	ch  chan outEntry
}

type outEntry struct {
	body   string
	op     Op
	delay  int32
	sent   int64 // unix ns when SQS first accepted it (a resend); 0: never
	id     string
	queued time.Time // when Publish buffered it (zero for spilled and resent entries)
}

// Sent is one event SQS accepted, with its times (PublisherOptions.OnSent).
type Sent struct {
	ID, Queue string
	Delay     int32     // DelaySeconds (second events)
	Queued    time.Time // Publish buffered it
	SendStart time.Time // the call that carried it began
	SendEnd   time.Time // and returned
	Batch     int       // entries in that call
}

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

// NewPublisher starts the senders of every destination queue URL (the other regions' queues),
// all reached through one SQS client, and, with SpillDir, sends what an earlier run left in the
// spill. One client fits one SQS server holding every queue (the local world's us-east-1
// ElasticMQ); in AWS each region's SQS is its own endpoint and credential scope: use
// NewPublisherTo, one Destination (client, queue) per region.
func NewPublisher(client SQS, queueURLs []string, opts PublisherOptions) (*Publisher, error) {
	if client == nil || len(queueURLs) == 0 {
		return nil, fmt.Errorf("%w: a publisher needs an SQS client and at least one destination queue URL", ErrConfig)
	}
	return newPublisher(byQueue{fallback: client}, queueURLs, opts)
}

// newPublisher is NewPublisher over a sender that routes each queue URL to its client.
func newPublisher(client sqsSender, queueURLs []string, opts PublisherOptions) (*Publisher, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Publisher{sqs: client, opts: opts, m: newMetrics(opts.Registerer), logger: opts.Logger, closing: make(chan struct{}),
		stopWait: make(chan struct{}),
		resend:   map[string]*resendState{}}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.spillCtx, p.spillStop = context.WithCancel(context.Background())
	urls := queueURLs
	if opts.OwnQueue != "" {
		urls = append(append([]string(nil), queueURLs...), opts.OwnQueue)
	}
	if opts.SpillDir != "" {
		if err := p.openSpills(urls); err != nil {
			p.cancel()
			p.spillStop()
			return nil, err
		}
	}
	for i, u := range urls {
		q := &outQueue{url: u, ch: make(chan outEntry, opts.Buffer)}
		if opts.OwnQueue != "" && i == len(urls)-1 {
			p.own = q
		} else {
			p.queues = append(p.queues, q)
		}
		p.wg.Add(1)
		go p.batcher(q)
	}
	for _, ds := range p.spills {
		p.wg.Add(1)
		go p.drainSpill(ds)
	}
	return p, nil
}

// Publish queues ev for every destination. It waits for room at most PublishTimeout and until
// ctx ends; an event that does not fit is spilled to disk (SpillDir) to be sent later (waiting
// for the fsync at most PublishTimeout more: an append still running then goes on without the
// caller, and is counted as dropped and logged if it fails), or else dropped (ErrDropped, counted
// and logged). After Close, Publish fails with ErrClosed (counted as
// dropped). A nil error means every destination has the event in memory or on disk.
func (p *Publisher) Publish(ctx context.Context, ev *Event) error {
	body, err := ev.Marshal()
	if err != nil {
		return fmt.Errorf("cachesync: encode event for %q: %w", ev.Key, err)
	}
	if len(body) > MaxMessageBytes && ev.Op == OpSet {
		// The encoded size decides, whatever ClientOptions.MaxValueBytes said: a set that does not
		// fit one message goes as the invalidation of its version (a miss there, never stale).
		p.degraded.Add(1)
		if p.m != nil {
			p.m.degraded.Inc()
		}
		p.logger.Info("cachesync: event too large for one SQS message, sending an invalidation", "key", ev.Key, "bytes", len(body), "limit", MaxMessageBytes)
		ev = &Event{Format: ev.Format, ID: ev.ID, Op: OpInvalidate, Key: ev.Key, Version: ev.Version, Expiry: ev.Expiry}
		if body, err = ev.Marshal(); err != nil {
			return fmt.Errorf("cachesync: encode event for %q: %w", ev.Key, err)
		}
	}
	if len(body) > MaxMessageBytes {
		return fmt.Errorf("cachesync: %s event for %q is %d bytes, more than one SQS message (%d): %w", ev.Op, ev.Key, len(body), MaxMessageBytes, ErrTooLarge)
	}
	type dest struct {
		q *outQueue
		e outEntry
	}
	first := outEntry{body: string(body), op: ev.Op, id: ev.ID, queued: time.Now()}
	var dests []dest
	for _, q := range p.queues {
		dests = append(dests, dest{q, first})
	}
	if p.opts.SecondInvalidation > 0 {
		if sec := SecondEvent(ev); sec != nil {
			b, err := sec.Marshal()
			if err != nil {
				return fmt.Errorf("cachesync: encode second event for %q: %w", ev.Key, err)
			}
			e := outEntry{body: string(b), op: sec.Op, delay: int32(p.opts.SecondInvalidation / time.Second), id: sec.ID, queued: first.queued}
			for _, q := range p.queues {
				dests = append(dests, dest{q, e})
			}
			if p.own != nil {
				dests = append(dests, dest{p.own, e})
			}
		}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	var over []spillRecord
	var timer *time.Timer
	start := time.Now()
	if p.closed {
		p.dropped.Add(int64(len(dests)))
		if p.m != nil {
			p.m.dropped.Add(float64(len(dests)))
		}
		p.logger.Warn("cachesync: publish after Close; event dropped", "key", ev.Key)
		return fmt.Errorf("cachesync: publish %q: %w", ev.Key, ErrClosed)
	}
	expired := false // the wait for room is over: the remaining destinations do not wait again
	for _, d := range dests {
		if p.pending(d.q.url) > 0 || expired {
			// This destination's events already wait on disk (its SQS is down or slow): to its
			// spill at once, behind them, no waiting. Another destination's spill holds nothing
			// back here.
			over = append(over, spillRecord{Queue: d.q.url, Body: d.e.body, Op: d.e.op, Delay: d.e.delay})
			continue
		}
		select {
		case d.q.ch <- d.e:
			continue
		default:
		}
		if timer == nil {
			timer = time.NewTimer(p.opts.PublishTimeout)
			defer timer.Stop()
		}
		select {
		case d.q.ch <- d.e:
		case <-timer.C:
			expired = true
			over = append(over, spillRecord{Queue: d.q.url, Body: d.e.body, Op: d.e.op, Delay: d.e.delay})
		case <-ctx.Done():
			expired = true
			over = append(over, spillRecord{Queue: d.q.url, Body: d.e.body, Op: d.e.op, Delay: d.e.delay})
		case <-p.stopWait:
			expired = true // Close began: it must not wait for this wait (stopWait)
			over = append(over, spillRecord{Queue: d.q.url, Body: d.e.body, Op: d.e.op, Delay: d.e.delay})
		}
	}
	if p.m != nil && timer != nil {
		p.m.publishWait.Observe(time.Since(start).Seconds())
	}
	if len(over) == 0 {
		return nil
	}
	return p.spillOut(ctx, ev.Key, over, p.opts.PublishTimeout)
}

// spillOut appends recs to the spill, or drops them (counted, logged) when there is none. The
// appends run at once, so that the spill writes and fsyncs them as one group (recordlog groups
// the appends that wait together), and the caller waits at most wait (and until ctx ends): appends
// not confirmed by then go on without it, and nil is returned (the events are in memory, queued
// to the spill's writer, as the buffer's are). Invariant: spilling counts exactly the
// records the spill confirmed and the drainer has not consumed, whether a caller still waits or
// not; an append that fails is counted as dropped and logged.
func (p *Publisher) spillOut(ctx context.Context, key string, recs []spillRecord, wait time.Duration) error {
	if p.spills == nil {
		p.logger.Warn("cachesync: publish buffer full and no spill; events dropped", "key", key, "events", len(recs))
		p.dropped.Add(int64(len(recs)))
		if p.m != nil {
			p.m.dropped.Add(float64(len(recs)))
		}
		return fmt.Errorf("cachesync: publish %q: %w", key, ErrDropped)
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
					ds.pending.Add(1)
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
				p.logger.Error("cachesync: spill failed; event dropped", "key", key, "err", err)
			}
			results <- err
		}()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	failed := 0
	for range recs {
		select {
		case err := <-results:
			if err != nil {
				failed++
			}
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		case <-p.spillCtx.Done():
			return nil // Close's deadline passed: the appends end now, failing (counted, logged)
		case <-p.stopWait:
			return nil // Close began: the appends go on (Close waits for them until its deadline)
		}
	}
	if failed > 0 {
		return fmt.Errorf("cachesync: publish %q: %d events: %w", key, failed, ErrDropped)
	}
	return nil
}

// Sent returns how many events SQS has accepted so far (each destination counts).
func (p *Publisher) Sent() int64 { return p.sent.Load() }

// Dropped returns how many events were lost: neither buffered nor spilled.
func (p *Publisher) Dropped() int64 { return p.dropped.Load() }

// Degraded returns how many set events did not fit one SQS message once encoded and were sent as
// invalidations.
func (p *Publisher) Degraded() int64 { return p.degraded.Load() }

// Spilled returns how many events went to the spill, and how many of them are not sent yet.
func (p *Publisher) Spilled() (total, pending int64) {
	for _, ds := range p.spills {
		pending += ds.pending.Load()
	}
	return p.spilled.Load(), pending
}

// DefaultCloseTimeout bounds Close when its context has no deadline.
const DefaultCloseTimeout = 10 * time.Second

// Close sends what is buffered until shortly before ctx's deadline (DefaultCloseTimeout when ctx
// has no deadline), then spills what is left (or drops it, counted, without a spill) and stops
// every goroutine, returning by the deadline whatever the disk does. It never panics, also while
// Publish calls run; later ones get ErrClosed. Publish calls waiting for room in a buffer, or for
// their spill's fsync, when Close begins stop waiting at once (their events are spilled, or
// dropped without a spill), so Close never waits for them.
//
// The time left is split: sending stops a reserve before the deadline (half the time left, at
// most closeSpillReserve), and the reserve is for spilling what the buffers and the senders still
// hold. With a spill, durability of accepted events comes before the deadline, within a bound:
// spill appends may run up to closeSpillGrace past the deadline; only an append still waiting for
// its fsync then is ended, its events counted as dropped and logged (an append the disk completes
// later may still be found, and sent, by the next Publisher opened on SpillDir: a duplicate,
// harmless). So Close returns by its deadline plus at most closeSpillGrace. If a spill's writer is
// then still inside a write or an fsync, Close does not wait for it to stop (the error says so);
// that goroutine is the operating system's to finish.
func (p *Publisher) Close(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCloseTimeout)
		defer cancel()
	}
	p.stopOnce.Do(func() { close(p.stopWait) }) // Publish calls stop waiting: mu is free at once
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	dl, _ := ctx.Deadline()
	sendCtx, cancelSend := context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/2, closeSpillReserve)))
	defer cancelSend()
	// Spill appends (and closing the spills) may take closeSpillGrace past the deadline: an event
	// Publish accepted is made durable rather than dropped when the disk or the CPU is merely slow.
	spillCtx, cancelSpillCtx := context.WithDeadline(context.WithoutCancel(ctx), dl.Add(closeSpillGrace))
	defer cancelSpillCtx()
	stopSpill := context.AfterFunc(spillCtx, p.spillStop) // the grace's end ends every spill append
	defer stopSpill()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-sendCtx.Done():
		err = fmt.Errorf("cachesync: publisher closed before its buffer was sent (the rest is spilled): %w", sendCtx.Err())
		p.cancel() // every send and retry ends; senders spill what they hold (until the deadline)
		<-done
	}
	p.cancel()
	// Whatever is still buffered (nobody sends into the channels any more) goes to the spill.
	for _, q := range p.allQueues() {
		var left []spillRecord
		for len(q.ch) > 0 {
			e := <-q.ch
			left = append(left, e.record(q.url))
		}
		if len(left) > 0 {
			p.spillOut(spillCtx, "", left, spillAppendTimeout)
		}
	}
	p.spillWG.Wait() // appends whose callers stopped waiting: each ends by the deadline (spillCtx)
	p.spillStop()
	if p.spills != nil {
		closed := make(chan error, 1)
		go func() { closed <- p.closeSpills() }()
		select {
		case cerr := <-closed:
			if cerr != nil && err == nil {
				err = cerr
			}
		case <-spillCtx.Done():
			p.logger.Error("cachesync: a spill's disk did not finish its write by Close's deadline (and its grace); not waiting for it")
			err = errors.Join(err, fmt.Errorf("cachesync: close spill: %w", spillCtx.Err()))
		}
	}
	return err
}

// closeSpillReserve bounds the part of Close's time kept for spilling what is left.
const closeSpillReserve = time.Second

// closeSpillGrace is how long past Close's deadline spill appends may still complete: durability of
// accepted events first, within a bound (TestCachesyncCloseRacesPublish: no accepted event dropped
// under load; TestAttackCloseOverrunsItsDeadlineOnASlowSpill: a stalled disk still bounds Close).
const closeSpillGrace = 500 * time.Millisecond

func (p *Publisher) allQueues() []*outQueue {
	if p.own != nil {
		return append(append([]*outQueue(nil), p.queues...), p.own)
	}
	return p.queues
}

// SecondEvent returns the delayed second event that follows ev (nil for events that have none).
// A delete or an invalidation is followed by an invalidation, a replicated set by itself again.
// Either one replaces every fill it meets (fills are weak, see store), so a fill whose read missed
// the write on a lagging replica cannot outlive it.
//
// The second event keeps the write's own version. Stamping it when sent (a version no database
// write has) would leave a tombstone that refuses the real writes made between the write and the
// stamp; the model test found a region left with a stale value that way (seed 131:
// "r1 holds p:2=... but the database's newest is ... deleted").
func SecondEvent(ev *Event) *Event {
	switch ev.Op {
	case OpDelete, OpInvalidate:
		sec := *ev
		sec.ID, sec.Op = newID(), OpInvalidate
		return &sec
	case OpSet:
		sec := *ev
		sec.ID = newID()
		return &sec
	}
	return nil
}

// batcher forms one queue's batches and hands each to one of Senders send goroutines: a batch
// goes out when it holds BatchSize entries, would pass MaxMessageBytes in all, or its first entry
// has waited FlushInterval. While every sender is busy the entries wait in the buffer, so the
// next batch is full at once. On Close it sends what is buffered; when Close's deadline passes,
// what it and the senders hold is spilled and they stop.
func (p *Publisher) batcher(q *outQueue) {
	defer p.wg.Done()
	batches := make(chan []outEntry)
	var senders sync.WaitGroup
	for i := 0; i < p.opts.Senders; i++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for b := range batches {
				p.send(q.url, b)
			}
		}()
	}
	defer func() {
		close(batches)
		senders.Wait()
	}()
	var batch []outEntry
	bytes := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		select {
		case batches <- batch:
		case <-p.ctx.Done():
			p.send(q.url, batch) // spills: the context is over
		}
		batch, bytes = nil, 0
	}
	add := func(e outEntry) {
		if !fitsBatch(len(batch), bytes, e, p.opts.BatchSize) {
			timer.Stop()
			flush()
		}
		if len(batch) == 0 {
			timer.Reset(p.opts.FlushInterval)
		}
		batch = append(batch, e)
		bytes += len(e.body)
		if len(batch) >= p.opts.BatchSize {
			timer.Stop()
			flush()
		}
	}
	for {
		select {
		case e := <-q.ch:
			add(e)
		case <-timer.C:
			flush()
		case <-p.ctx.Done():
			flush()
			return
		case <-p.closing:
			for p.ctx.Err() == nil {
				select {
				case e := <-q.ch:
					add(e)
					continue
				default:
				}
				break
			}
			flush()
			return
		}
	}
}

// MaxBatchBytes is the most the bodies of one SendMessageBatch may add up to (SQS: 256 KiB);
// SQS refuses a longer batch as a whole (BatchRequestTooLong).
const MaxBatchBytes = 256 * 1024

// fitsBatch reports whether e may join a batch of n entries whose bodies add up to size bytes,
// under the publisher's BatchSize (max) and MaxBatchBytes. An empty batch takes any entry (one
// event is at most one message, checked by Publish). Every batch, the live batcher's, the spill
// drain's and the ResendWindow resend's, is cut by this one rule (batches).
func fitsBatch(n, size int, e outEntry, max int) bool {
	return n == 0 || (n < max && size+len(e.body) <= MaxBatchBytes)
}

// batches cuts entries, in order, into batches under fitsBatch.
func batches(entries []outEntry, max int) [][]outEntry {
	var out [][]outEntry
	start, size := 0, 0
	for i, e := range entries {
		if !fitsBatch(i-start, size, e, max) {
			out = append(out, entries[start:i:i])
			start, size = i, 0
		}
		size += len(e.body)
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// send delivers entries, retrying the ones SQS did not take until they are taken or the
// publisher's context ends (Close's deadline passed); then they are spilled. Entries SQS refuses
// for good are replaced or dropped (sendAll), never retried.
func (p *Publisher) send(url string, entries []outEntry) {
	backoff := 50 * time.Millisecond
	for len(entries) > 0 {
		if p.ctx.Err() != nil {
			recs := make([]spillRecord, len(entries))
			for i, e := range entries {
				recs[i] = e.record(url)
			}
			p.spillOut(context.Background(), "", recs, spillAppendTimeout)
			return
		}
		failed, err := p.sendAll(url, entries)
		if err == nil {
			p.sendOK(url)
		} else {
			p.sendFailed(url)
		}
		if len(failed) == 0 {
			return
		}
		if p.m != nil {
			p.m.sendErrors.Inc()
		}
		p.logger.Warn("cachesync: send to queue failed; retrying", "queue", url, "entries", len(failed), "err", err)
		entries = failed
		sleepCtx(p.ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// sendAll is one attempt to send entries: it returns those to try again (SQS or the network
// failed) and the error of a failed call. Invariant: an entry SQS refuses for good (a sender
// fault: InvalidMessageContents, too large …) is never retried as it is, since it would be
// refused for ever and hold a sender (and the spill's drain) for good; it is replaced (refused)
// and the replacement sent at once, or dropped, counted and logged.
func (p *Publisher) sendAll(url string, entries []outEntry) (failed []outEntry, err error) {
	for round := 0; len(entries) > 0; round++ {
		f, refused, e := p.sendSplit(url, entries)
		failed = append(failed, f...)
		if e != nil {
			err = e
		}
		entries = nil
		for _, r := range refused {
			if rep, ok := p.replacement(r); ok && round < 2 {
				entries = append(entries, rep)
				p.countRefused(url, r, "replaced")
			} else {
				p.countRefused(url, r, "dropped")
			}
		}
	}
	return failed, err
}

// replacement returns what to send instead of an entry SQS refused for good: the event encoded
// again (Marshal carries any key as key64 and escapes what SQS refuses: a body spilled by an
// older version may not), and a set or a touch as the invalidation of its version (a set's value
// may be what is too large). ok is false when nothing different can be sent.
func (p *Publisher) replacement(e outEntry) (outEntry, bool) {
	ev, err := ParseEvent(e.body)
	if err != nil {
		return e, false
	}
	if ev.Op == OpSet || ev.Op == OpTouch {
		ev = &Event{Format: ev.Format, ID: ev.ID, Op: OpInvalidate, Key: ev.Key, Version: ev.Version, Expiry: ev.Expiry}
	}
	b, err := ev.Marshal()
	if err != nil || string(b) == e.body || len(b) > MaxMessageBytes {
		return e, false
	}
	r := e
	r.body, r.op = string(b), ev.Op
	return r, true
}

func (p *Publisher) countRefused(url string, e outEntry, outcome string) {
	p.refused.Add(1)
	if p.m != nil {
		p.m.refused.WithLabelValues(outcome).Inc()
	}
	if outcome == "dropped" {
		p.dropped.Add(1)
		if p.m != nil {
			p.m.dropped.Inc()
		}
		p.logger.Error("cachesync: SQS refused an event for good and it cannot be sent otherwise; dropped", "queue", url, "op", e.op, "bytes", len(e.body))
		return
	}
	p.logger.Warn("cachesync: SQS refused an event for good; sending its invalidation instead", "queue", url, "op", e.op, "bytes", len(e.body))
}

// Refused returns how many entries SQS refused for good (each replaced or dropped, see sendAll).
func (p *Publisher) Refused() int64 { return p.refused.Load() }

// permanent reports whether a SendMessage error refuses the message itself, for good: sending
// it again cannot succeed.
func permanent(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorFault() == smithy.FaultServer {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidMessageContents", "AWS.SimpleQueueService.InvalidMessageContents", "InvalidParameterValue", "MessageTooLong":
		return true
	}
	return false
}

// sendSplit is sendOnce, except that a batch SQS refuses as a whole for its total size
// (BatchRequestTooLong: a batch formed by an older version, or a limit counted otherwise) is cut
// in halves, each sent the same way, never retried whole: it would be refused for ever and hold a
// sender or the spill's drain. A single entry refused so is refused for good (sendAll replaces it).
func (p *Publisher) sendSplit(url string, entries []outEntry) (failed, refused []outEntry, err error) {
	failed, refused, err = p.sendOnce(url, entries)
	if !batchTooLong(err) {
		return failed, refused, err
	}
	if len(entries) == 1 {
		return nil, entries, nil
	}
	p.logger.Warn("cachesync: SQS refused a batch as too long; splitting it", "queue", url, "entries", len(entries))
	h := len(entries) / 2
	f1, r1, e1 := p.sendSplit(url, entries[:h:h])
	f2, r2, e2 := p.sendSplit(url, entries[h:])
	if e1 == nil {
		e1 = e2
	}
	return append(f1, f2...), append(r1, r2...), e1
}

// batchTooLong reports whether err is SQS refusing a batch for its total size.
func batchTooLong(err error) bool {
	var tl *types.BatchRequestTooLong
	if errors.As(err, &tl) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong":
		return true
	}
	return false
}

// sendOnce sends entries in one call: failed are to be tried again, refused were refused for
// good (sender faults), err is the call's error or a retryable entry's.
func (p *Publisher) sendOnce(url string, entries []outEntry) (failed, refused []outEntry, err error) {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	defer func() {
		if p.opts.OnSent == nil {
			return
		}
		end, bad := time.Now(), map[string]bool{}
		if err != nil && len(failed) == len(entries) {
			return
		}
		for _, f := range failed {
			bad[f.body] = true
		}
		for _, f := range refused {
			bad[f.body] = true
		}
		for _, e := range entries {
			if !bad[e.body] && !e.queued.IsZero() {
				p.opts.OnSent(Sent{ID: e.id, Queue: url, Delay: e.delay, Queued: e.queued, SendStart: start, SendEnd: end, Batch: len(entries)})
			}
		}
	}()
	if len(entries) == 1 && p.opts.BatchSize == 1 {
		_, err := p.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url),
			MessageBody: aws.String(entries[0].body), DelaySeconds: entries[0].delay})
		if permanent(err) {
			return nil, entries, nil
		}
		if err != nil {
			return entries, nil, err
		}
		p.done(url, entries)
		return nil, nil, nil
	}
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
	for i, e := range entries {
		in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)),
			MessageBody: aws.String(e.body), DelaySeconds: e.delay})
	}
	out, err := p.sqs.SendMessageBatch(ctx, in)
	if err != nil {
		return entries, nil, err
	}
	ok := make([]outEntry, 0, len(entries))
	bad := map[int]bool{}
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		bad[i] = true
		if f.SenderFault {
			refused = append(refused, entries[i])
			continue
		}
		failed = append(failed, entries[i])
		if err == nil {
			err = fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	for i, e := range entries {
		if !bad[i] {
			ok = append(ok, e)
		}
	}
	p.done(url, ok)
	if p.m != nil {
		p.m.batches.Observe(float64(len(entries)))
	}
	return failed, refused, err
}

func (p *Publisher) done(url string, entries []outEntry) {
	p.sent.Add(int64(len(entries)))
	if p.m != nil {
		for _, e := range entries {
			p.m.published.WithLabelValues(string(e.op)).Inc()
		}
	}
	if p.opts.ResendWindow <= 0 {
		return
	}
	now := time.Now()
	p.recentMu.Lock()
	st := p.state(url)
	for _, e := range entries {
		at := now
		if e.sent != 0 {
			at = time.Unix(0, e.sent) // a resend keeps its first acceptance time
		}
		if now.Sub(at) <= p.opts.ResendWindow {
			st.recent = append(st.recent, sentEntry{at: at, rec: e.record(url)})
		}
	}
	// Trim what is older than the window (amortised: cut the front when it is half the slice).
	cut := 0
	for cut < len(st.recent) && now.Sub(st.recent[cut].at) > p.opts.ResendWindow {
		cut++
	}
	if cut > 0 && cut >= len(st.recent)/2 {
		st.recent = append(st.recent[:0:0], st.recent[cut:]...)
	}
	p.recentMu.Unlock()
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

// sentEntry is an entry SQS accepted, kept for ResendWindow from its first acceptance.
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
	st.suspect = st.suspect[:0]
	for _, r := range st.recent {
		if now.Sub(r.at) <= p.opts.ResendWindow {
			r.rec.Sent = r.at.UnixNano()
			st.suspect = append(st.suspect, r.rec)
		}
	}
	st.recent = nil
	p.logger.Warn("cachesync: SQS refuses sends; publishing into the buffer and the spill", "queue", url, "resend_on_recovery", len(st.suspect))
}

// sendOK notes a successful call to the queue at url; after its outage it sends again, once,
// what was set aside.
func (p *Publisher) sendOK(url string) {
	if p.opts.ResendWindow <= 0 {
		return
	}
	p.recentMu.Lock()
	st := p.state(url)
	if !st.outage {
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

// SQSHTTPClient returns an HTTP client for the SQS client of Publishers and Agents that keeps
// conns idle connections per host: the SDK's default keeps 10, and each concurrent call beyond the
// idle pool opens a new connection (a round trip, and TLS's, more across the WAN). Give it at
// least the Publisher's Senders per destination plus the Agent's Receivers and deleters.
func SQSHTTPClient(conns int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = max(t.MaxIdleConns, 4*conns)
		t.MaxIdleConnsPerHost = conns
	})
}
