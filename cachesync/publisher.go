package cachesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// MaxMessageBytes is the largest SQS message body (256 KiB); an event that encodes larger is sent
// as an invalidation.
const MaxMessageBytes = 256 * 1024

// ErrDropped: the event could not be buffered nor spilled; it is lost (counted and logged).
var ErrDropped = errors.New("cachesync: publish buffer full and no spill, event dropped")

// ErrUnconfirmed: the event went to the spill, whose append did not answer in time (a stalled
// disk): it may or may not be on disk — it goes on without the caller, sent if it lands, counted
// as dropped and logged if it fails. Retry as for ErrDropped (a duplicate event is harmless).
var ErrUnconfirmed = errors.New("cachesync: event handed to the spill, not confirmed durable")

// ErrTooLarge: an event that is not a set (an application event, a key far past memcached's) is
// larger than one SQS message; nothing is sent. A set is sent as an invalidation instead.
var ErrTooLarge = errors.New("cachesync: event larger than one SQS message")

// ErrClosed: the publisher is closed and has no spill to keep the event in.
var ErrClosed = errors.New("cachesync: publisher closed")

// Publisher sends events to the other regions' queues, batching per queue. Publish never waits
// longer than PublishTimeout (or its context), plus 1 s at most when it spills, to hear the spill's
// answer; Close never panics and returns by its deadline with every goroutine stopped.
type Publisher struct {
	sqs    sqsSender // each queue URL's own region's client (destination.go)
	opts   PublisherOptions
	queues []*outQueue
	own    *outQueue
	m      *metrics
	logger *slog.Logger

	wg      sync.WaitGroup // batchers and their senders
	drainWG sync.WaitGroup // spill drainers: Close waits for them within a bound (the disk may stall)
	mu      sync.RWMutex   // Publish holds it shared while it hands events over; Close exclusive
	closed  bool
	// stopWait is closed when Close begins, before it takes mu: a Publish waiting for room stops
	// waiting at once and spills, so it never holds Close back while holding mu shared (Close
	// returns by its deadline). A Publish waiting for its spill's answer holds no lock at all
	// (spillStart's invariant 1).
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
	spill  spillPos  // the spill record it was read from (the drain's entries only)
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
		p.drainWG.Add(1)
		go p.drainSpill(ds)
	}
	return p, nil
}

// Publish queues ev for every destination. It waits for room until PublishTimeout has passed (or
// ctx ends); each destination is judged on its own: the event goes into every buffer with room,
// and only the copies for destinations whose buffer stayed full are spilled to disk (SpillDir) to
// be sent later, or else dropped (ErrDropped, naming those destinations, counted and logged). A spill append is waited for in the time left, then up
// to 1 s more to hear its answer (a refusal, such as a full spill, is known at once): a refused
// append is ErrDropped, an append still unanswered then is ErrUnconfirmed (it goes on without the
// caller, counted as dropped and logged if it fails). After Close, Publish fails with ErrClosed
// (counted as dropped). A nil error means every destination has the event in memory or on disk.
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
		logKey(p.logger, slog.LevelInfo, "cachesync: event too large for one SQS message, sending an invalidation", ev.Key, "bytes", len(body), "limit", MaxMessageBytes)
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
	locked := true
	defer func() {
		if locked {
			p.mu.RUnlock()
		}
	}()
	// Invariant: each destination is judged on its own. The event goes into every buffer that has
	// room (at once, or within the one wait for room all destinations share); only the copies for
	// destinations whose buffer stayed full (or whose spill already holds events) go to the spill,
	// or are dropped without one. One region down never costs the others their events, whatever
	// the order of the destinations.
	var over []spillRecord
	var fullQ []dest
	start := time.Now()
	if p.closed {
		p.dropped.Add(int64(len(dests)))
		if p.m != nil {
			p.m.dropped.Add(float64(len(dests)))
		}
		logKey(p.logger, slog.LevelWarn, "cachesync: publish after Close; event dropped", ev.Key)
		return fmt.Errorf("cachesync: publish %q: %w", ev.Key, ErrClosed)
	}
	for _, d := range dests {
		if p.pending(d.q.url) > 0 {
			// This destination's events already wait on disk (its SQS is down or slow): to its
			// spill at once, behind them, no waiting. Another destination's spill holds nothing
			// back here.
			over = append(over, d.e.record(d.q.url))
			continue
		}
		select {
		case d.q.ch <- d.e:
		default:
			fullQ = append(fullQ, d)
		}
	}
	if len(fullQ) > 0 {
		// One wait for room, shared: PublishTimeout (or ctx, or Close beginning) bounds it in all.
		// Each full destination tries once more without waiting before its own wait, so one that
		// got room while another was waited for takes the event even after the wait is over.
		wctx, cancel := context.WithTimeout(ctx, p.opts.PublishTimeout)
		defer cancel()
		for _, d := range fullQ {
			select {
			case d.q.ch <- d.e:
				continue
			default:
			}
			select {
			case d.q.ch <- d.e:
			case <-wctx.Done():
				over = append(over, d.e.record(d.q.url))
			case <-p.stopWait: // Close began: it must not wait for this wait (stopWait)
				over = append(over, d.e.record(d.q.url))
			}
		}
		if p.m != nil {
			p.m.publishWait.Observe(time.Since(start).Seconds())
		}
	}
	if len(over) == 0 {
		return nil
	}
	// The appends start under p.mu (Close waits for them), the wait for their answers holds no
	// lock (spillStart's invariant 1). One bound for the whole call: the fsync gets what the
	// wait for room left.
	answers := p.spillStart(ev.Key, over)
	p.mu.RUnlock()
	locked = false
	return answers(ctx, max(p.opts.PublishTimeout-time.Since(start), 0))
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
// Publish calls run; later ones get ErrClosed. Publish calls waiting for room in a buffer when
// Close begins stop waiting at once (their events are spilled, or dropped without a spill), and a
// Publish waiting for its spill's answer holds no lock, so Close never waits for them; that
// answer's wait ends at the latest when Close ends the spill appends (its deadline plus
// closeSpillGrace): nil only if the append was durable, else ErrDropped or ErrUnconfirmed.
//
// The time left is split: sending stops a reserve before the deadline (half the time left, at
// most closeSpillReserve), and the reserve is for spilling what the buffers and the senders still
// hold. With a spill, durability of accepted events comes before the deadline, within a bound:
// spill appends may run up to closeSpillGrace past the deadline; only an append still waiting for
// its fsync then is ended, its events counted as dropped and logged (an append the disk completes
// later may still be found, and sent, by the next Publisher opened on SpillDir: a duplicate,
// harmless). So Close returns by its deadline plus at most closeSpillGrace. If a spill's writer is
// then still inside a write or an fsync, or a spill's drainer inside a read or its cursor's
// fsync, Close does not wait for it to stop (the error says so); that goroutine is the operating
// system's to finish.
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
	done := make(chan struct{}) // batchers and senders
	go func() { p.wg.Wait(); close(done) }()
	drained := make(chan struct{}) // spill drainers
	go func() { p.drainWG.Wait(); close(drained) }()
	all := make(chan struct{})
	go func() { <-done; <-drained; close(all) }()
	var err error
	select {
	case <-all:
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
	// What an outage set aside to resend (ResendWindow) is spilled too: SQS may have lost it.
	if aside := p.setAside(); len(aside) > 0 {
		p.resent.Add(int64(len(aside)))
		p.spillOut(spillCtx, "", aside, spillAppendTimeout)
	}
	p.spillWG.Wait() // appends whose callers stopped waiting: each ends by the deadline (spillCtx)
	// The drainers stop at their next round (closing) or when their sends end (p.ctx); one stuck
	// on the disk (reading its spill, fsyncing its cursor) is not waited for past the grace.
	select {
	case <-drained:
	case <-spillCtx.Done():
		p.logger.Error("cachesync: a spill drainer is stuck on the disk past Close's deadline (and its grace); not waiting for it")
		err = errors.Join(err, fmt.Errorf("cachesync: close: a spill drainer is stuck on the disk: %w", spillCtx.Err()))
	}
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
// Every event is followed by itself again (a new ID): a delete by a delete (it must go on winning
// a tie with a value of its time: Supersedes), an invalidation by an invalidation, a replicated
// set and a touch by themselves (a touch's second event re-applies its expiry, same stamp, where memcached
// evicted the touched value and a duplicate of its set stored it again without: see Agent.touch).
// Each one replaces every fill it meets (fills are weak, see store), so a fill whose read missed
// the write on a lagging replica cannot outlive it.
//
// The second event keeps the write's own version. Stamping it when sent (a version no database
// write has) would leave a tombstone that refuses the real writes made between the write and the
// stamp; the model test found a region left with a stale value that way (seed 131:
// "r1 holds p:2=... but the database's newest is ... deleted").
func SecondEvent(ev *Event) *Event {
	switch ev.Op {
	case OpDelete, OpInvalidate, OpSet, OpTouch:
		sec := *ev
		sec.ID = newID()
		return &sec
	}
	return nil
}
