package cachesync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
)

// AgentOptions configure an Agent. Zero values take the defaults in brackets
// (DefaultAgentOptions); Validate says which field is out of range (options.go).
type AgentOptions struct {
	Receivers int // concurrent long-poll receivers [4]
	// Appliers: workers applying events, each a share of the keys [32]. They use memcached at
	// once: give a *memcache.Client MaxIdleConns ≥ Appliers (gomemcache keeps 2 idle by default;
	// every apply beyond them dials a connection and drops it, which put a tail on the lag).
	Appliers          int
	WaitSeconds       int32 // long-poll wait, 1..20 s [20]
	VisibilityTimeout int32 // seconds a received message stays hidden while applied [30]
	RetryDelay        int32 // seconds before an event that could not be applied comes back [2]
	// TombstoneTTL is the lifetime of tombstones left by deletes and invalidations, and the age
	// (by this agent's clock) past which a set event is applied as an invalidation [5m]. Keep it
	// below the publishers' SecondInvalidation minus twice the clock skew for the guarantee to hold
	// when memcached evicts tombstones (see the package doc).
	TombstoneTTL time.Duration
	Now          func() time.Time // clock, for tests [time.Now]
	// MaxDrift: an event stamped further ahead of this agent's clock is applied as an invalidation
	// at the drift limit [hlc.DefaultMaxDrift, 1 min].
	MaxDrift   time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// OnApplied, if set, is called after each event is handled, with the time from its write in
	// the origin region (for lag figures in benchmarks and the demo).
	OnApplied func(ev *Event, applied bool, lag time.Duration)
	// OnStages, if set, is called after each event received by Run is handled, with the times of
	// its stages in this agent (for the stage breakdown of benchmarks).
	OnStages func(ev *Event, st Stages)
	// OnDeleted, if set, is called after each DeleteMessageBatch, with its size and its times.
	OnDeleted func(n int, start, end time.Time)
}

// Stages are the times of one event's way through an Agent.
type Stages struct {
	SQSSent    time.Time // SQS's SentTimestamp of the message (ms precision)
	PollStart  time.Time // the ReceiveMessage call that returned it began
	Received   time.Time // that call returned
	ApplyStart time.Time // an applier took it from its shard's queue
	Applied    time.Time // it was handled
}

// inMsg is a received message and when its receive call began and returned.
type inMsg struct {
	msg                 types.Message
	pollStart, received time.Time
}

// Handler runs an application event in this region. An error leaves the message on the queue to
// be retried (and, after maxReceiveCount, dead-lettered).
type Handler func(ctx context.Context, ev *Event) error

// Agent applies the events of one region's queue to that region's memcached.
type Agent struct {
	sqs      SQS
	queueURL string
	mc       Memcache
	opts     AgentOptions
	m        *metrics
	logger   *slog.Logger

	mu       sync.RWMutex
	handlers map[string]Handler

	receiving atomic.Bool
	lastOK    atomic.Int64 // unix nanos of the last successful receive
	// mcDown is set when an event could not be applied: receivers stop taking messages until
	// memcached answers again, so an outage does not burn the messages' receive counts (which
	// would send good events to the dead-letter queue).
	mcDown atomic.Bool
	stats  AgentStats
	clock  ratchet
}

// AgentStats are an agent's totals.
type AgentStats struct {
	Received, Applied, Stale, Poison, ApplyErrors, Relayed atomic.Int64
	// Late counts set events older than the tombstone lifetime, applied as invalidations.
	Late atomic.Int64
	// Ahead counts events stamped more than MaxDrift ahead, applied as invalidations.
	Ahead atomic.Int64
}

// NewAgent returns an agent for the queue at queueURL and the local memcached mc.
func NewAgent(client SQS, queueURL string, mc Memcache, opts AgentOptions) (*Agent, error) {
	if client == nil || queueURL == "" || mc == nil {
		return nil, fmt.Errorf("%w: NewAgent needs an SQS client, its queue URL and the local memcache client", ErrConfig)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	a := &Agent{sqs: client, queueURL: queueURL, mc: mc, opts: opts, m: newMetrics(opts.Registerer),
		logger: opts.Logger, handlers: map[string]Handler{}}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if c, ok := mc.(*memcache.Client); ok && c.MaxIdleConns < opts.Appliers {
		a.logger.Warn("cachesync: the memcache client keeps fewer idle connections than the agent has appliers; applies will dial new ones",
			"max_idle_conns", c.MaxIdleConns, "appliers", opts.Appliers)
	}
	return a, nil
}

// Handle registers the handler of application events of type typ (the Relay).
func (a *Agent) Handle(typ string, h Handler) {
	a.mu.Lock()
	a.handlers[typ] = h
	a.mu.Unlock()
}

// Stats returns the agent's totals.
func (a *Agent) Stats() *AgentStats { return &a.stats }

// Healthy reports whether the agent is receiving and its last receive succeeded recently.
func (a *Agent) Healthy() error {
	if !a.receiving.Load() {
		return errors.New("not receiving")
	}
	last := time.Unix(0, a.lastOK.Load())
	if limit := time.Duration(a.opts.WaitSeconds)*time.Second + 30*time.Second; time.Since(last) > limit {
		return fmt.Errorf("no successful receive from %s for %s", a.queueURL, time.Since(last).Round(time.Second))
	}
	return nil
}

// Run receives and applies events until ctx ends, then finishes the messages in hand and returns.
//
// It is a pipeline: Receivers long-poll and hand each message to one of Appliers workers chosen
// by its key (so the events of one key never contend for its CAS, and different keys apply in
// parallel), and the handled messages' receipts go to a deleter that sends DeleteMessageBatch
// calls of up to 10, from every receiver's messages at once. A receiver polls again as soon as it
// has handed its batch over; the appliers' bounded queues are the back-pressure.
func (a *Agent) Run(ctx context.Context) error {
	a.receiving.Store(true)
	a.lastOK.Store(time.Now().UnixNano())
	defer a.receiving.Store(false)
	// The messages in hand are finished even after ctx ends (graceful stop).
	work := context.WithoutCancel(ctx)
	shards := make([]chan inMsg, a.opts.Appliers)
	dels := make(chan types.DeleteMessageBatchRequestEntry, 1024)
	var appliers, deleters, receivers sync.WaitGroup
	for i := range shards {
		shards[i] = make(chan inMsg, 32)
		appliers.Add(1)
		go func(ch chan inMsg) {
			defer appliers.Done()
			for in := range ch {
				start := time.Now()
				done := a.handleOne(work, in.msg)
				if a.opts.OnStages != nil {
					a.stages(in, start)
				}
				if done {
					dels <- types.DeleteMessageBatchRequestEntry{ReceiptHandle: in.msg.ReceiptHandle}
				}
			}
		}(shards[i])
	}
	for i := 0; i < 2; i++ {
		deleters.Add(1)
		go func() {
			defer deleters.Done()
			a.deleter(work, dels)
		}()
	}
	for i := 0; i < a.opts.Receivers; i++ {
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			a.receive(ctx, shards)
		}()
	}
	receivers.Wait()
	for _, ch := range shards {
		close(ch)
	}
	appliers.Wait()
	close(dels)
	deleters.Wait()
	return nil
}

// stages reports a handled message's stages to OnStages.
func (a *Agent) stages(in inMsg, start time.Time) {
	ev, err := ParseEvent(aws.ToString(in.msg.Body))
	if err != nil {
		return
	}
	st := Stages{PollStart: in.pollStart, Received: in.received, ApplyStart: start, Applied: time.Now()}
	if ms, err := strconv.ParseInt(in.msg.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		st.SQSSent = time.UnixMilli(ms)
	}
	a.opts.OnStages(ev, st)
}

func (a *Agent) receive(ctx context.Context, shards []chan inMsg) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if a.mcDown.Load() {
			if err := a.mc.Ping(); err != nil {
				sleepCtx(ctx, time.Second)
				continue
			}
			if a.mcDown.Swap(false) {
				a.logger.Info("cachesync: memcached answers again; receiving")
			}
		}
		pollStart := time.Now()
		out, err := a.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(a.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: a.opts.WaitSeconds,
			VisibilityTimeout: a.opts.VisibilityTimeout,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount,
				types.MessageSystemAttributeNameSentTimestamp},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.logger.Warn("cachesync: receive failed; retrying", "queue", a.queueURL, "err", err)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		a.lastOK.Store(time.Now().UnixNano())
		received := time.Now()
		for _, msg := range out.Messages {
			shards[shardOf(aws.ToString(msg.Body), len(shards))] <- inMsg{msg: msg, pollStart: pollStart, received: received}
		}
	}
}

// shardOf picks the applier of a message: by its key, found without decoding the whole body
// (any stable choice is correct; the key only avoids CAS contention).
func shardOf(body string, n int) int {
	k := body
	for _, field := range []string{`"key":"`, `"key64":"`} {
		if i := strings.Index(body, field); i >= 0 {
			k = body[i+len(field):]
			if j := strings.IndexByte(k, '"'); j >= 0 {
				k = k[:j]
			}
			break
		}
	}
	h := fnv.New32a()
	h.Write([]byte(k))
	return int(h.Sum32() % uint32(n))
}

// deleter deletes handled messages in DeleteMessageBatch calls of up to 10, sent when 10 are in
// hand or the first has waited 5 ms.
func (a *Agent) deleter(ctx context.Context, in <-chan types.DeleteMessageBatchRequestEntry) {
	var batch []types.DeleteMessageBatchRequestEntry
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		for i := range batch {
			batch[i].Id = aws.String(strconv.Itoa(i))
		}
		start := time.Now()
		out, err := a.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(a.queueURL), Entries: batch})
		if a.opts.OnDeleted != nil {
			a.opts.OnDeleted(len(batch), start, time.Now())
		}
		if err != nil {
			// Not deleted: the messages come back after their visibility timeout and are applied
			// again, which changes nothing (the versions are already there).
			a.logger.Warn("cachesync: delete of handled messages failed; they will be applied again (harmless)", "err", err)
		} else {
			for _, f := range out.Failed {
				a.logger.Warn("cachesync: delete of a handled message failed", "id", aws.ToString(f.Id), "err", aws.ToString(f.Message))
			}
		}
		batch = nil
	}
	for {
		select {
		case e, ok := <-in:
			if !ok {
				flush()
				return
			}
			if len(batch) == 0 {
				timer.Reset(5 * time.Millisecond)
			}
			batch = append(batch, e)
			if len(batch) == 10 {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// handleOne applies one message and reports whether it is done (to be deleted).
func (a *Agent) handleOne(ctx context.Context, msg types.Message) bool {
	a.stats.Received.Add(1)
	ev, err := ParseEvent(aws.ToString(msg.Body))
	if err != nil {
		a.poison(ctx, msg, err)
		return false
	}
	if err := a.apply(ctx, ev, msg); err != nil {
		if errors.Is(err, ErrPoison) {
			a.poison(ctx, msg, err)
			return false
		}
		a.stats.ApplyErrors.Add(1)
		if unreachable(err) && !a.mcDown.Swap(true) {
			a.logger.Warn("cachesync: memcached unreachable; receiving paused until it answers", "err", err)
		}
		if a.m != nil {
			a.m.applyErr.Inc()
		}
		logKey(a.logger, slog.LevelWarn, "cachesync: event not applied; it comes back for a retry", ev.Key, "op", ev.Op, "err", err)
		a.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(a.queueURL),
			ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: a.opts.RetryDelay})
		return false
	}
	return true
}

// poison counts a message that cannot be applied and makes it visible again at once, so the
// queue's redrive policy moves it to the dead-letter queue after maxReceiveCount receives.
func (a *Agent) poison(ctx context.Context, msg types.Message, err error) {
	a.stats.Poison.Add(1)
	if a.m != nil {
		a.m.poison.Inc()
	}
	a.logger.Warn("cachesync: poison message left for the dead-letter queue", "message_id", aws.ToString(msg.MessageId),
		"receive_count", msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)], "err", err)
	a.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(a.queueURL),
		ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 0})
}

// apply makes one event true in the local memcached.
func (a *Agent) apply(ctx context.Context, ev *Event, msg types.Message) error {
	var applied bool
	var err error
	switch ev.Op {
	case OpSet, OpDelete, OpInvalidate, OpTouch:
		applied, err = a.applyCache(ev)
	case OpApp:
		a.mu.RLock()
		h := a.handlers[ev.Type]
		a.mu.RUnlock()
		if h == nil {
			return fmt.Errorf("%w: no handler for application event type %q", ErrPoison, ev.Type)
		}
		stop := a.keepInvisible(ctx, msg)
		err = h(ctx, ev)
		stop()
		applied = err == nil
		if applied {
			a.stats.Relayed.Add(1)
			if a.m != nil {
				a.m.relayed.WithLabelValues(ev.Type).Inc()
			}
		}
	}
	if err != nil {
		return err
	}
	lag := a.now().Sub(time.UnixMicro(ev.Version.Micros))
	result := "applied"
	if applied {
		a.stats.Applied.Add(1)
	} else {
		a.stats.Stale.Add(1)
		result = "stale"
	}
	if a.m != nil {
		a.m.applied.WithLabelValues(string(ev.Op), result).Inc()
		if applied {
			a.m.lag.Observe(lag.Seconds())
		}
	}
	if a.opts.OnApplied != nil {
		a.opts.OnApplied(ev, applied, lag)
	}
	return nil
}

// applyCache applies a cache event (set, delete, invalidate, touch) under the rules of store.
// A set older than the tombstone lifetime is applied as an invalidation: the tombstone of a
// newer write that would have stopped it may be gone (expired or evicted), so its value is no
// longer to be trusted — its version still holds back anything older.
//
// A set whose expiry has passed (on arrival, or later) is stored all the same: it reads as a
// miss, and holds back every older write as a tombstone of its version would (itemExpiration).
//
// An event stamped more than MaxDrift ahead of this agent's clock (its origin's clock was stepped
// forward) is applied as an invalidation at its own version, held until that time has passed
// (plus the tombstone lifetime), and counted in Ahead. The one rule for far-ahead versions: the
// cache orders them as the database does. The database keeps that write over every real one
// until real time passes its timestamp (last write wins on the write time), so the cache refuses
// them too (ErrNotApplied for a local Set, stale for an event), and its reads miss and refill
// from the database, which returns the far-ahead write. Clamping the version (as before) let a
// later real write win in the cache and lose in the database, for good.
func (a *Agent) applyCache(ev *Event) (bool, error) {
	t := a.times()
	now := t.judge
	tomb := tombstoneSeconds(a.opts.TombstoneTTL)
	if limit := now.Add(a.opts.MaxDrift).UnixMicro(); ev.Version.Micros > limit && ev.Op != OpTouch {
		a.stats.Ahead.Add(1)
		logKey(a.logger, slog.LevelWarn, "cachesync: event stamped far ahead of this clock; applied as an invalidation at its version, held until that time",
			ev.Key, "origin", ev.Version.Origin, "ahead", time.UnixMicro(ev.Version.Micros).Sub(now))
		return store(a.mc, ev.Key, Stored{Version: ev.Version, Kind: voidKind(ev.Op)}, 0, tomb, t) // held until its time: itemExpiration
	}
	switch ev.Op {
	case OpSet:
		if now.Sub(time.UnixMicro(ev.Version.Micros)) > a.opts.TombstoneTTL {
			a.stats.Late.Add(1)
			if a.m != nil {
				a.m.late.Inc()
			}
			return store(a.mc, ev.Key, Stored{Version: ev.Version, Kind: KindInvalidation}, 0, tomb, t)
		}
		applied, err := store(a.mc, ev.Key, Stored{Version: ev.Version, Value: ev.Value, Expires: ev.Expiry}, ev.Flags&^FlagVersioned, tomb, t)
		if refusedItem(err) {
			// memcached answers but refuses the value (larger than its item_size_max): the value
			// cannot be held here, its version still must be.
			logKey(a.logger, slog.LevelWarn, "cachesync: replicated value refused by memcached; applied as an invalidation", ev.Key, "err", err)
			return store(a.mc, ev.Key, Stored{Version: ev.Version, Kind: KindInvalidation}, 0, tomb, t)
		}
		return applied, err
	case OpDelete, OpInvalidate:
		return store(a.mc, ev.Key, Stored{Version: ev.Version, Kind: voidKind(ev.Op)}, 0, tomb, t)
	case OpTouch:
		return a.touch(ev, t, tomb)
	}
	return false, nil
}

// voidKind is the tombstone an event leaves when it is applied as one: a delete's is a delete
// (it wins a tie with any value of its time), every other event's an invalidation (it loses to
// the value at its own version: a late set, its second event, an invalidate-mode write's event).
func voidKind(op Op) Kind {
	if op == OpDelete {
		return KindTombstone
	}
	return KindInvalidation
}

// times are the agent's clock readings for the cache rules (see times).
func (a *Agent) times() times {
	w := time.Now()
	if a.opts.Now != nil {
		w = a.opts.Now()
	}
	return times{judge: a.clock.at(w), wall: w, pad: a.opts.MaxDrift}
}

// now is the agent's clock for the cache rules (late events, expiries, tombstone lifetimes): the
// wall clock, never going back (ratchet).
func (a *Agent) now() time.Time {
	if a.opts.Now != nil {
		return a.clock.at(a.opts.Now())
	}
	return a.clock.at(time.Now())
}

// ratchet is a wall clock that never goes back: after a backward step it stays at the latest
// reading until the wall clock passes it. The cache rules judge lateness and expiries by it, so a
// clock stepped back cannot make a late event look young (it would be applied as a value after the
// tombstone that should have stopped it is gone: the model found it); a clock stepped forward
// makes events look late for a while, and late events are invalidations (a miss, never stale).
type ratchet struct{ max atomic.Int64 }

func (r *ratchet) at(t time.Time) time.Time {
	n := t.UnixNano()
	for {
		m := r.max.Load()
		if n <= m {
			return time.Unix(0, m)
		}
		if r.max.CompareAndSwap(m, n) {
			return t
		}
	}
}

// touch changes the expiry of the very version the origin touched, with compare-and-swap.
// Invariant: a touch is never lost to reordering. Touches of one version are ordered by their
// own stamps (Event.Touched, kept in the value as Stored.Touched): an older touch arriving after a
// newer one changes nothing (the two arrive in either order, SQS standard queues reorder). A
// touch is followed by itself again (SecondEvent, as a replicated set is): where memcached evicted
// the touched value and the set was delivered again (at least once: a redelivery, the spill,
// ResendWindow) it was stored without the touch; the second touch finds it and applies the touch. Where that version is not held as a live value
// (nothing, an older value or tombstone, a fill: its set has not arrived, or was evicted) the
// touch is applied as the tombstone of its version (store keeps anything newer): the set it
// overtook, and that set's second event, then find their own version held back and do not store
// the value without the new expiry; the key misses and refills from the database. A miss is
// never past the expiry the application set.
func (a *Agent) touch(ev *Event, t times, tomb int32) (bool, error) {
	hold := func() (bool, error) {
		return store(a.mc, ev.Key, Stored{Version: ev.Version, Kind: KindTombstone}, 0, tomb, t)
	}
	for attempt := 0; attempt < 16; attempt++ {
		it, err := a.mc.Get(ev.Key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			return hold()
		}
		if err != nil {
			return false, err
		}
		s, derr := DecodeItem(it)
		if derr == nil && s.Kind == KindFill {
			// News about the key from elsewhere: a fill never survives it (see store). Its read
			// may hold the write's old expiry.
			return hold()
		}
		if derr != nil || s.Version != ev.Version || s.At(t.judge).Kind != KindValue {
			return hold() // not the touched version's live value (store keeps anything newer)
		}
		var stamp Version
		if ev.Touched != nil {
			stamp = *ev.Touched
		}
		if stamp.Less(s.Touched) {
			return false, nil // a newer touch of this version was applied: it holds
		}
		s.Expires, s.Touched = ev.Expiry, stamp // passed already: the value is now the tombstone of its version
		it.Value, it.Expiration = s.Encode(), itemExpiration(s, t, tomb)
		err = a.mc.CompareAndSwap(it)
		if errors.Is(err, memcache.ErrCASConflict) {
			continue
		}
		if errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) {
			continue // evicted or expired meanwhile: compare again
		}
		if refusedItem(err) {
			// memcached answers but refuses the touched item (the expiry and the stamp grew it
			// past its item size): the value cannot be held here with its new expiry, so it is
			// replaced, on this very CAS id, by the tombstone of its version (a tombstone at v
			// wins over the value at v: Supersedes).
			logKey(a.logger, slog.LevelWarn, "cachesync: touched value refused by memcached; applied as the tombstone of its version", ev.Key, "err", err)
			ts := Stored{Version: ev.Version, Kind: KindTombstone, Expires: ev.Expiry}
			it.Value, it.Flags, it.Expiration = ts.Encode(), FlagVersioned, itemExpiration(ts, t, tomb)
			err = a.mc.CompareAndSwap(it)
			if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) {
				continue
			}
			return err == nil, err
		}
		return err == nil, err
	}
	return false, contention(ev.Key) // logged at warn: by key_hash only
}

// keepInvisible extends a message's visibility while a slow handler runs; the returned func stops it.
func (a *Agent) keepInvisible(ctx context.Context, msg types.Message) func() {
	done := make(chan struct{})
	go func() {
		every := time.Duration(a.opts.VisibilityTimeout) * time.Second / 2
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				a.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(a.queueURL),
					ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: a.opts.VisibilityTimeout})
			}
		}
	}()
	return func() { close(done) }
}

// unreachable reports whether err means memcached did not answer (a connection refused, reset or
// timed out, no server), as opposed to an answer refusing the operation.
// refusedItem reports whether err is memcached answering but refusing an item (SERVER_ERROR object
// too large for cache, or any other answer that is not a lost connection nor contention): the
// value cannot be held there, so its version is held as a tombstone instead (a set's value, a
// touched value grown past the item size), and the write is applied as an invalidation.
func refusedItem(err error) bool {
	return err != nil && !unreachable(err) && !errors.Is(err, errContention)
}

func unreachable(err error) bool {
	var ne net.Error
	var cte *memcache.ConnectTimeoutError
	return errors.As(err, &ne) || errors.As(err, &cte) || errors.Is(err, memcache.ErrNoServers) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
