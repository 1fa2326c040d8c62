package cachesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/internal/recordlog"
)

// MaxMessageBytes is the largest SQS message body (256 KiB); an event that encodes larger is sent
// as an invalidation.
const MaxMessageBytes = 256 * 1024

// ErrDropped: the event could not be buffered nor spilled; it is lost (counted and logged).
var ErrDropped = errors.New("cachesync: publish buffer full and no spill, event dropped")

// ErrClosed: the publisher is closed and has no spill to keep the event in.
var ErrClosed = errors.New("cachesync: publisher closed")

// PublisherOptions configure a Publisher. Zero values take the defaults in brackets.
type PublisherOptions struct {
	BatchSize     int           // entries per SendMessageBatch, 1..10 [10]; 1 = one SendMessage per event
	FlushInterval time.Duration // longest an event waits for its batch to fill [5ms]
	Buffer        int           // events held in memory per destination queue [10000]
	Senders       int           // concurrent senders per destination queue [4]
	// PublishTimeout bounds how long Publish waits for room in a full buffer (and the caller's
	// context bounds it too) before it spills the event [20ms]. While the spill holds events,
	// Publish spills at once, without waiting.
	PublishTimeout time.Duration
	// SpillDir is the directory of the durable spill (internal/recordlog): events that find the
	// buffer full, or are still buffered when Close's deadline passes, are appended there and sent
	// when SQS takes messages again (also by the next Publisher opened on the directory, after a
	// restart). "" = no spill: such events are dropped, counted and logged (ErrDropped).
	SpillDir      string
	SpillMaxBytes int64 // bound of the spill on disk; beyond it events are dropped [1 GiB]
	// SecondInvalidation, when > 0, sends every cache event again after this delay (SQS
	// DelaySeconds, whole seconds, at most 15 min), see SecondEvent: it covers the window where a
	// region's database replica lags and a reader refills the cache with the old value, and the
	// eviction of a tombstone. Keep it above the replica lag and above TombstoneTTL + 2 × skew.
	SecondInvalidation time.Duration
	// ResendWindow: when SQS refuses sends (an outage), the events it accepted during this long
	// before are sent again once it takes sends again, since the server may have lost them with its
	// state (a restarted ElasticMQ keeps nothing). Duplicates are harmless. 0 = off [0].
	ResendWindow time.Duration
	// OwnQueue is this region's own queue: the second events go there too (memcached evicts in
	// the origin region as well). Optional.
	OwnQueue   string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Publisher sends events to the other regions' queues, batching per queue. Publish never waits
// longer than PublishTimeout (or its context); Close never panics and returns by its deadline
// with every goroutine stopped.
type Publisher struct {
	sqs    *sqs.Client
	opts   PublisherOptions
	queues []*outQueue
	own    *outQueue
	m      *metrics
	logger *slog.Logger

	wg       sync.WaitGroup // senders and the spill drainer
	mu       sync.RWMutex   // Publish holds it shared while it hands events over; Close exclusive
	closed   bool
	closing  chan struct{} // closed by Close: senders flush and stop
	ctx      context.Context
	cancel   context.CancelFunc // ends every SQS call and retry: Close's deadline passed
	spill    *recordlog.Log
	spilling atomic.Int64 // events in the spill not yet sent
	spillMu  sync.Mutex

	sent, dropped, spilled, resent atomic.Int64

	recentMu sync.Mutex
	recent   []sentEntry   // accepted in the last ResendWindow
	outage   bool          // the last call failed
	suspect  []spillRecord // accepted just before the outage: sent again when it ends
}

type outQueue struct {
	url string
	ch  chan outEntry
}

type outEntry struct {
	body  string
	op    Op
	delay int32
}

// spillRecord is one spilled entry with its destination.
type spillRecord struct {
	Queue string `json:"q"`
	Body  string `json:"b"`
	Op    Op     `json:"op"`
	Delay int32  `json:"d,omitempty"`
}

// NewPublisher starts the senders of every destination queue URL and, with SpillDir, sends what an
// earlier run left in the spill. Every URL must be a queue client reaches: an SQS client sends to
// its own region's endpoint whatever host the URL names, so a publisher serves one destination
// region; with more than one other region, give the Client a Fanout of one publisher per region.
func NewPublisher(client *sqs.Client, queueURLs []string, opts PublisherOptions) (*Publisher, error) {
	if client == nil || len(queueURLs) == 0 {
		return nil, fmt.Errorf("%w: a publisher needs an SQS client and at least one destination queue URL", ErrConfig)
	}
	if opts.BatchSize <= 0 || opts.BatchSize > 10 {
		if opts.BatchSize > 10 {
			return nil, fmt.Errorf("%w: batch size %d: SQS takes at most 10 entries per batch", ErrConfig, opts.BatchSize)
		}
		opts.BatchSize = 10
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 5 * time.Millisecond
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 10000
	}
	if opts.Senders <= 0 {
		opts.Senders = 4
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 20 * time.Millisecond
	}
	if opts.SpillMaxBytes <= 0 {
		opts.SpillMaxBytes = 1 << 30
	}
	if opts.SecondInvalidation > 15*time.Minute {
		return nil, fmt.Errorf("%w: second invalidation delay %s: SQS delays at most 15m", ErrConfig, opts.SecondInvalidation)
	}
	p := &Publisher{sqs: client, opts: opts, m: newMetrics(opts.Registerer), logger: opts.Logger, closing: make(chan struct{})}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if opts.SpillDir != "" {
		l, err := recordlog.Open(opts.SpillDir, recordlog.Options{MaxBytes: opts.SpillMaxBytes, Logger: opts.Logger})
		if err != nil {
			p.cancel()
			return nil, fmt.Errorf("cachesync: open spill %s: %w", opts.SpillDir, err)
		}
		p.spill = l
		p.spilling.Store(l.Stats().Records)
	}
	urls := queueURLs
	if opts.OwnQueue != "" {
		urls = append(append([]string(nil), queueURLs...), opts.OwnQueue)
	}
	for i, u := range urls {
		q := &outQueue{url: u, ch: make(chan outEntry, opts.Buffer)}
		if opts.OwnQueue != "" && i == len(urls)-1 {
			p.own = q
		} else {
			p.queues = append(p.queues, q)
		}
		for i := 0; i < opts.Senders; i++ {
			p.wg.Add(1)
			go p.sender(q)
		}
	}
	if p.spill != nil {
		p.wg.Add(1)
		go p.drainSpill()
	}
	return p, nil
}

// Publish queues ev for every destination. It waits for room at most PublishTimeout and until
// ctx ends; an event that does not fit is spilled to disk (SpillDir) to be sent later, or else
// dropped (ErrDropped, counted and logged). After Close, Publish fails with ErrClosed (counted as
// dropped). A nil error means every destination has the event in memory or on disk.
func (p *Publisher) Publish(ctx context.Context, ev *Event) error {
	body, err := ev.Marshal()
	if err != nil {
		return fmt.Errorf("cachesync: encode event for %q: %w", ev.Key, err)
	}
	if len(body) > MaxMessageBytes {
		return fmt.Errorf("cachesync: event for %q is %d bytes, more than one SQS message (%d)", ev.Key, len(body), MaxMessageBytes)
	}
	type dest struct {
		q *outQueue
		e outEntry
	}
	first := outEntry{body: string(body), op: ev.Op}
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
			e := outEntry{body: string(b), op: sec.Op, delay: int32(p.opts.SecondInvalidation / time.Second)}
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
	for _, d := range dests {
		if p.spilling.Load() > 0 || len(over) > 0 {
			// Events already wait on disk (SQS is down or slow): to disk at once, no waiting.
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
			over = append(over, spillRecord{Queue: d.q.url, Body: d.e.body, Op: d.e.op, Delay: d.e.delay})
		case <-ctx.Done():
			over = append(over, spillRecord{Queue: d.q.url, Body: d.e.body, Op: d.e.op, Delay: d.e.delay})
		}
	}
	if p.m != nil && timer != nil {
		p.m.publishWait.Observe(time.Since(start).Seconds())
	}
	if len(over) == 0 {
		return nil
	}
	return p.spillOut(ev.Key, over)
}

// spillOut appends records to the spill, or drops them (counted, logged) when there is none or
// it fails.
func (p *Publisher) spillOut(key string, recs []spillRecord) error {
	if p.spill != nil {
		var err error
		for i, r := range recs {
			b, _ := json.Marshal(r)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = p.spill.Append(ctx, b)
			cancel()
			if err != nil {
				recs = recs[i:]
				break
			}
			p.spilling.Add(1)
			p.spilled.Add(1)
			if p.m != nil {
				p.m.spilled.Inc()
			}
		}
		if err == nil {
			return nil
		}
		p.logger.Error("cachesync: spill failed; events dropped", "key", key, "events", len(recs), "err", err)
	} else {
		p.logger.Warn("cachesync: publish buffer full and no spill; events dropped", "key", key, "events", len(recs))
	}
	p.dropped.Add(int64(len(recs)))
	if p.m != nil {
		p.m.dropped.Add(float64(len(recs)))
	}
	return fmt.Errorf("cachesync: publish %q: %w", key, ErrDropped)
}

// drainSpill sends the spilled events, oldest first, until they are all sent; it checks again
// every 100 ms. A record is consumed only once SQS took it (a crash in between sends it again:
// duplicates are harmless).
func (p *Publisher) drainSpill() {
	defer p.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.closing:
			return
		case <-time.After(backoff):
		}
		for p.spilling.Load() > 0 && p.ctx.Err() == nil {
			ok := p.drainOnce()
			if !ok {
				backoff = min(backoff*2, 5*time.Second)
				break
			}
			backoff = 100 * time.Millisecond
		}
	}
}

// drainOnce sends up to 200 spilled records, in batches sent in parallel (Senders at a time per
// queue), and consumes them once SQS took them all; it reports whether it did.
func (p *Publisher) drainOnce() bool {
	p.spillMu.Lock()
	defer p.spillMu.Unlock()
	p.spill.Rewind()
	recs, err := p.spill.Read(200)
	if err != nil || len(recs) == 0 {
		if err != nil {
			p.logger.Warn("cachesync: read spill", "err", err)
		}
		if len(recs) == 0 && err == nil {
			p.spilling.Store(p.spill.Stats().Records)
		}
		return err == nil
	}
	byQueue := map[string][]outEntry{}
	for _, r := range recs {
		var sr spillRecord
		if json.Unmarshal(r.Payload, &sr) != nil {
			continue // not ours: skip it
		}
		byQueue[sr.Queue] = append(byQueue[sr.Queue], outEntry{body: sr.Body, op: sr.Op, delay: sr.Delay})
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
		sem    = make(chan struct{}, p.opts.Senders)
	)
	for url, entries := range byQueue {
		for i := 0; i < len(entries); i += p.opts.BatchSize {
			batch := entries[i:min(i+p.opts.BatchSize, len(entries))]
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				bad, err := p.sendOnce(url, batch)
				if err != nil || len(bad) > 0 {
					failed.Store(true)
				}
				if err != nil {
					p.sendFailed()
				}
			}()
		}
	}
	wg.Wait()
	if failed.Load() {
		return false // all of them again: duplicates are harmless
	}
	p.sendOK()
	if err := p.spill.Commit(recs[len(recs)-1].Pos); err != nil {
		p.logger.Warn("cachesync: commit spill", "err", err)
		return false
	}
	p.spilling.Add(-int64(len(recs)))
	if p.m != nil {
		p.m.unspilled.Add(float64(len(recs)))
	}
	return true
}

// Sent returns how many events SQS has accepted so far (each destination counts).
func (p *Publisher) Sent() int64 { return p.sent.Load() }

// Dropped returns how many events were lost: neither buffered nor spilled.
func (p *Publisher) Dropped() int64 { return p.dropped.Load() }

// Spilled returns how many events went to the spill, and how many of them are not sent yet.
func (p *Publisher) Spilled() (total, pending int64) { return p.spilled.Load(), p.spilling.Load() }

// DefaultCloseTimeout bounds Close when its context has no deadline.
const DefaultCloseTimeout = 10 * time.Second

// Close sends what is buffered until ctx ends (DefaultCloseTimeout when ctx has no deadline),
// then spills what is left (or drops it, counted, without a spill) and stops every goroutine
// before it returns. It never panics, also while Publish calls run; later ones get ErrClosed.
func (p *Publisher) Close(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCloseTimeout)
		defer cancel()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("cachesync: publisher closed before its buffer was sent (the rest is spilled): %w", ctx.Err())
		p.cancel() // every send and retry ends; senders spill what they hold
		<-done
	}
	p.cancel()
	// Whatever is still buffered (nobody sends into the channels any more) goes to the spill.
	for _, q := range p.allQueues() {
		var left []spillRecord
		for len(q.ch) > 0 {
			e := <-q.ch
			left = append(left, spillRecord{Queue: q.url, Body: e.body, Op: e.op, Delay: e.delay})
		}
		if len(left) > 0 {
			p.spillOut("", left)
		}
	}
	if p.spill != nil {
		if cerr := p.spill.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cachesync: close spill: %w", cerr)
		}
	}
	return err
}

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

// sender batches one queue's entries (Senders of them share a queue's buffer): a batch goes out
// when it holds BatchSize entries, would pass MaxMessageBytes in all, or its first entry has
// waited FlushInterval. On Close it sends what is buffered; when Close's deadline passes it spills
// what it holds and stops.
func (p *Publisher) sender(q *outQueue) {
	defer p.wg.Done()
	var batch []outEntry
	bytes := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		if len(batch) > 0 {
			p.send(q.url, batch)
			batch, bytes = nil, 0
		}
	}
	add := func(e outEntry) {
		if bytes+len(e.body) > MaxMessageBytes {
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
			flush() // spills: the context is over
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

// send delivers entries, retrying the ones SQS did not take until they are taken or the
// publisher's context ends (Close's deadline passed); then they are spilled.
func (p *Publisher) send(url string, entries []outEntry) {
	backoff := 50 * time.Millisecond
	for len(entries) > 0 {
		if p.ctx.Err() != nil {
			recs := make([]spillRecord, len(entries))
			for i, e := range entries {
				recs[i] = spillRecord{Queue: url, Body: e.body, Op: e.op, Delay: e.delay}
			}
			p.spillOut("", recs)
			return
		}
		failed, err := p.sendOnce(url, entries)
		if err == nil {
			p.sendOK()
		} else {
			p.sendFailed()
		}
		if err == nil && len(failed) == 0 {
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

func (p *Publisher) sendOnce(url string, entries []outEntry) (failed []outEntry, err error) {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if len(entries) == 1 && p.opts.BatchSize == 1 {
		_, err := p.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url),
			MessageBody: aws.String(entries[0].body), DelaySeconds: entries[0].delay})
		if err != nil {
			return entries, err
		}
		p.done(url, entries)
		return nil, nil
	}
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
	for i, e := range entries {
		in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)),
			MessageBody: aws.String(e.body), DelaySeconds: e.delay})
	}
	out, err := p.sqs.SendMessageBatch(ctx, in)
	if err != nil {
		return entries, err
	}
	ok := make([]outEntry, 0, len(entries))
	bad := map[int]bool{}
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		bad[i] = true
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
	return failed, err
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
	for _, e := range entries {
		p.recent = append(p.recent, sentEntry{at: now, rec: spillRecord{Queue: url, Body: e.body, Op: e.op, Delay: e.delay}})
	}
	// Trim what is older than the window (amortised: cut the front when it is half the slice).
	cut := 0
	for cut < len(p.recent) && now.Sub(p.recent[cut].at) > p.opts.ResendWindow {
		cut++
	}
	if cut > 0 && cut >= len(p.recent)/2 {
		p.recent = append(p.recent[:0:0], p.recent[cut:]...)
	}
	p.recentMu.Unlock()
}

// sentEntry is an entry SQS accepted, kept for ResendWindow.
type sentEntry struct {
	at  time.Time
	rec spillRecord
}

// sendFailed notes that SQS refused a call: the first failure of an outage sets aside what SQS
// accepted in the ResendWindow before it, which the server may have lost with its state.
func (p *Publisher) sendFailed() {
	if p.opts.ResendWindow <= 0 {
		return
	}
	p.recentMu.Lock()
	defer p.recentMu.Unlock()
	if p.outage {
		return
	}
	p.outage = true
	now := time.Now()
	p.suspect = p.suspect[:0]
	for _, r := range p.recent {
		if now.Sub(r.at) <= p.opts.ResendWindow {
			p.suspect = append(p.suspect, r.rec)
		}
	}
	p.recent = nil
	p.logger.Warn("cachesync: SQS refuses sends; publishing into the buffer and the spill", "resend_on_recovery", len(p.suspect))
}

// sendOK notes a successful call; after an outage it sends again what was set aside.
func (p *Publisher) sendOK() {
	if p.opts.ResendWindow <= 0 {
		return
	}
	p.recentMu.Lock()
	if !p.outage {
		p.recentMu.Unlock()
		return
	}
	p.outage = false
	again := p.suspect
	p.suspect = nil
	p.recentMu.Unlock()
	p.logger.Info("cachesync: SQS takes sends again; resending the events sent just before the outage", "events", len(again))
	p.resent.Add(int64(len(again)))
	if len(again) > 0 {
		if p.spill != nil {
			p.spillOut("", again)
			return
		}
		byQueue := map[string][]outEntry{}
		for _, r := range again {
			byQueue[r.Queue] = append(byQueue[r.Queue], outEntry{body: r.Body, op: r.Op, delay: r.Delay})
		}
		for url, es := range byQueue {
			for i := 0; i < len(es); i += p.opts.BatchSize {
				p.send(url, es[i:min(i+p.opts.BatchSize, len(es))])
			}
		}
	}
}

// Resent returns how many events were sent again after an outage (ResendWindow).
func (p *Publisher) Resent() int64 { return p.resent.Load() }
