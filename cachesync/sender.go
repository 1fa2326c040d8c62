package cachesync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

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
		start := time.Now()
		failed, err := p.sendAll(url, entries)
		if err == nil {
			p.sendOK(url, start)
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
// older version may not), a set as the invalidation of its version (a set's value may be what is
// too large; the invalidation voids what is older, never the value at its version, which was
// not sent), and a touch as the delete of its version. ok is false when nothing different can be
// sent.
//
// Invariant: a touch that cannot be applied ends as a delete-kind tombstone at its version in
// every region (as Agent.touch's hold, Client.Touch's voidAt and the touched-too-large path
// do): the touched value at v is held elsewhere already, and only a delete at v wins over it
// (Supersedes rule 2); an invalidation at v loses to it (rule 4), which left the value served
// past the expiry the application set, for good.
func (p *Publisher) replacement(e outEntry) (outEntry, bool) {
	ev, err := ParseEvent(e.body)
	if err != nil {
		return e, false
	}
	switch ev.Op {
	case OpSet:
		ev = &Event{Format: ev.Format, ID: ev.ID, Op: OpInvalidate, Key: ev.Key, Version: ev.Version, Expiry: ev.Expiry}
	case OpTouch:
		ev = &Event{Format: ev.Format, ID: ev.ID, Op: OpDelete, Key: ev.Key, Version: ev.Version}
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
	p.logger.Warn("cachesync: SQS refused an event for good; sending it again re-encoded (a set as its invalidation, a touch as its delete)", "queue", url, "op", e.op, "bytes", len(e.body))
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
		p.done(url, entries, start)
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
	p.done(url, ok, start)
	if p.m != nil {
		p.m.batches.Observe(float64(len(entries)))
	}
	return failed, refused, err
}

// done notes entries SQS accepted in a call begun at start (ResendWindow: see resendState).
func (p *Publisher) done(url string, entries []outEntry, start time.Time) {
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
		if e.sent != 0 {
			continue // a resend: resent at most once in all (resendState)
		}
		rec := e.record(url)
		if !st.failAt.IsZero() && start.Before(st.failAt) {
			// Begun before the last outage's first failure, its answer read only after it: the
			// server may have taken it before it lost its state (resendState invariant 2).
			if st.failAt.Sub(start) <= p.opts.ResendWindow {
				rec.Sent = start.UnixNano()
				st.suspect = append(st.suspect, rec)
			}
			continue
		}
		st.recent = append(st.recent, sentEntry{at: start, rec: rec})
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
