package cachesync

import (
	"context"
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
)

// MaxMessageBytes is the largest SQS message body (256 KiB); an event that encodes larger is sent
// as an invalidation.
const MaxMessageBytes = 256 * 1024

// ErrDropped: the publish buffer was full and the drop policy is on.
var ErrDropped = errors.New("cachesync: publish buffer full, event dropped")

// PublisherOptions configure a Publisher. Zero values take the defaults in brackets.
type PublisherOptions struct {
	BatchSize     int           // entries per SendMessageBatch, 1..10 [10]; 1 = one SendMessage per event
	FlushInterval time.Duration // longest an event waits for its batch to fill [5ms]
	Buffer        int           // events held per destination queue before back-pressure [10000]
	Senders       int           // concurrent senders per destination queue [4]
	DropWhenFull  bool          // drop (and count) instead of blocking the writer when the buffer is full
	// SecondInvalidation, when > 0, sends every delete/invalidation again after this delay (SQS
	// DelaySeconds, whole seconds, at most 15 min): it covers the window where the other region's
	// database replica lags and a reader refills the cache with the old value.
	SecondInvalidation time.Duration
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
}

// Publisher sends events to the other regions' queues, batching per queue.
type Publisher struct {
	sqs    *sqs.Client
	opts   PublisherOptions
	queues []*outQueue
	m      *metrics
	logger *slog.Logger
	wg     sync.WaitGroup
	closed atomic.Bool
	sent   atomic.Int64
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

// NewPublisher starts one sender per destination queue URL (the other regions' queues).
func NewPublisher(client *sqs.Client, queueURLs []string, opts PublisherOptions) (*Publisher, error) {
	if client == nil || len(queueURLs) == 0 {
		return nil, errors.New("cachesync: a publisher needs an SQS client and at least one destination queue URL")
	}
	if opts.BatchSize <= 0 || opts.BatchSize > 10 {
		if opts.BatchSize > 10 {
			return nil, fmt.Errorf("cachesync: batch size %d: SQS takes at most 10 entries per batch", opts.BatchSize)
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
	if opts.SecondInvalidation > 15*time.Minute {
		return nil, fmt.Errorf("cachesync: second invalidation delay %s: SQS delays at most 15m", opts.SecondInvalidation)
	}
	p := &Publisher{sqs: client, opts: opts, m: newMetrics(opts.Registerer), logger: opts.Logger}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	for _, u := range queueURLs {
		q := &outQueue{url: u, ch: make(chan outEntry, opts.Buffer)}
		p.queues = append(p.queues, q)
		for i := 0; i < opts.Senders; i++ {
			p.wg.Add(1)
			go p.sender(q)
		}
	}
	return p, nil
}

// Publish queues ev for every destination. With the default policy it blocks while a buffer is
// full (back-pressure) until ctx ends; with DropWhenFull it returns ErrDropped instead.
func (p *Publisher) Publish(ctx context.Context, ev *Event) error {
	if p.closed.Load() {
		return errors.New("cachesync: publisher closed")
	}
	body, err := ev.Marshal()
	if err != nil {
		return fmt.Errorf("cachesync: encode event for %q: %w", ev.Key, err)
	}
	if len(body) > MaxMessageBytes {
		return fmt.Errorf("cachesync: event for %q is %d bytes, more than one SQS message (%d)", ev.Key, len(body), MaxMessageBytes)
	}
	entries := []outEntry{{body: string(body), op: ev.Op}}
	if p.opts.SecondInvalidation > 0 {
		if sec := SecondEvent(ev); sec != nil {
			b, err := sec.Marshal()
			if err != nil {
				return fmt.Errorf("cachesync: encode second event for %q: %w", ev.Key, err)
			}
			entries = append(entries, outEntry{body: string(b), op: sec.Op, delay: int32(p.opts.SecondInvalidation / time.Second)})
		}
	}
	for _, q := range p.queues {
		for _, e := range entries {
			if p.opts.DropWhenFull {
				select {
				case q.ch <- e:
				default:
					if p.m != nil {
						p.m.dropped.Inc()
					}
					return ErrDropped
				}
				continue
			}
			select {
			case q.ch <- e:
			case <-ctx.Done():
				return fmt.Errorf("cachesync: publish %q: %w", ev.Key, ctx.Err())
			}
		}
	}
	return nil
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

// Sent returns how many events have been accepted by SQS so far (per destination).
func (p *Publisher) Sent() int64 { return p.sent.Load() }

// Close sends what is buffered (until ctx ends) and stops the senders.
func (p *Publisher) Close(ctx context.Context) error {
	if p.closed.Swap(true) {
		return nil
	}
	for _, q := range p.queues {
		close(q.ch)
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cachesync: publisher closed with events unsent: %w", ctx.Err())
	}
}

// sender batches one queue's entries (Senders of them share a queue's buffer): a batch goes out when it holds BatchSize entries, would
// pass MaxMessageBytes in all, or its first entry has waited FlushInterval.
func (p *Publisher) sender(q *outQueue) {
	defer p.wg.Done()
	var batch []outEntry
	bytes := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) > 0 {
			p.send(q.url, batch)
			batch, bytes = batch[:0], 0
		}
	}
	for {
		select {
		case e, ok := <-q.ch:
			if !ok {
				flush()
				return
			}
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
		case <-timer.C:
			flush()
		}
	}
}

// send delivers entries, retrying the ones SQS did not take until they are taken.
func (p *Publisher) send(url string, entries []outEntry) {
	backoff := 50 * time.Millisecond
	for len(entries) > 0 {
		failed, err := p.sendOnce(url, entries)
		if err == nil && len(failed) == 0 {
			return
		}
		if p.m != nil {
			p.m.sendErrors.Inc()
		}
		p.logger.Warn("cachesync: send to queue failed; retrying", "queue", url, "entries", len(failed), "err", err)
		entries = failed
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (p *Publisher) sendOnce(url string, entries []outEntry) (failed []outEntry, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if len(entries) == 1 && p.opts.BatchSize == 1 {
		_, err := p.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url),
			MessageBody: aws.String(entries[0].body), DelaySeconds: entries[0].delay})
		if err != nil {
			return entries, err
		}
		p.done(entries)
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
	p.done(ok)
	if p.m != nil {
		p.m.batches.Observe(float64(len(entries)))
	}
	return failed, err
}

func (p *Publisher) done(entries []outEntry) {
	p.sent.Add(int64(len(entries)))
	if p.m != nil {
		for _, e := range entries {
			p.m.published.WithLabelValues(string(e.op)).Inc()
		}
	}
}
