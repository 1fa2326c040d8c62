package cachesync

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/internal/hlc"
)

// The options of cachesync's Publisher and Agent have forklift's shape: a zero field takes its
// default (DefaultPublisherOptions, DefaultAgentOptions give them all), and Validate reports the
// first field out of range by its name, wrapping ErrConfig. The constructors apply the defaults
// and validate, so a bad option fails NewPublisher or NewAgent, never a later call.

// PublisherOptions configure a Publisher. Zero values take the defaults in brackets
// (DefaultPublisherOptions); Validate says which field is out of range.
type PublisherOptions struct {
	BatchSize     int           // entries per SendMessageBatch, 1..10 [10]; 1 = one SendMessage per event
	FlushInterval time.Duration // longest an event waits for its batch to fill [5ms]
	Buffer        int           // events held in memory per destination queue [10000]
	// Senders bounds the send calls in flight per destination queue [16]. One batcher per queue
	// forms the batches and hands each to a free sender, so a call's round trip never holds the
	// batching back: at R events/s and a round trip T, about R×T/10 calls are in flight (1 000/s
	// at 70 ms: 7 with full batches). Give the SQS client as many idle connections per host
	// (SQSHTTPClient), or each call beyond its pool opens a connection (a round trip more, and TLS's).
	Senders int
	// PublishTimeout bounds a Publish call as a whole [20ms]: the wait for room in a full buffer
	// (the caller's context bounds it too), after which the event is spilled, and the wait for the
	// spill's fsync within what is left (past it, 1 s more at most to hear the spill's answer; an append
	// still unanswered goes on without the caller, who gets ErrUnconfirmed). While
	// the spill holds events, Publish spills at once, without waiting for room.
	PublishTimeout time.Duration
	// SpillDir is the directory of the durable spill (internal/recordlog), one log per destination
	// queue (spill.go): events that find their destination's buffer full, or are still buffered
	// when Close's deadline nears, are appended there and sent when that destination's SQS takes
	// messages again (also by the next Publisher opened on the directory, after a restart).
	// "" = no spill: such events are dropped, counted and logged (ErrDropped).
	SpillDir string
	// SpillMaxBytes bounds the spill on disk, shared evenly among the destinations (at least
	// 1 MiB each); beyond a destination's share its events are dropped [1 GiB].
	SpillMaxBytes int64
	// SecondInvalidation, when > 0, sends every cache event again after this delay (SQS
	// DelaySeconds, whole seconds, at most 15 min; a fraction of a second is rounded UP, so the
	// second event never arrives before the delay given), see SecondEvent: it covers the window where a
	// region's database replica lags and a reader refills the cache with the old value, and the
	// eviction of a tombstone. Keep it above the replica lag and above TombstoneTTL + 2 × skew.
	SecondInvalidation time.Duration
	// ResendWindow: when SQS refuses sends (an outage), the events it accepted from sends begun
	// during this long before the first failure (answers read after it included) are sent again
	// once it takes sends again (a call begun after the failure succeeds), since the server may
	// have lost them with its state (a restarted ElasticMQ keeps nothing). Duplicates are
	// harmless. 0 = off [0].
	ResendWindow time.Duration
	// OwnQueue is this region's own queue: the second events go there too (memcached evicts in
	// the origin region as well). Optional.
	OwnQueue string
	// OnSent, if set, is called for each event SQS accepted from the buffer (not for spilled or
	// resent ones), with its times (for the stage breakdown of benchmarks).
	OnSent     func(s Sent)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// DefaultPublisherOptions returns the publisher's options with every default set.
func DefaultPublisherOptions() PublisherOptions { return PublisherOptions{}.withDefaults() }

// withDefaults returns o with every zero field at its default, and SecondInvalidation as SQS
// will delay it (sqsDelay): Validate, CheckSecondInvalidation and the sends all see that value.
func (o PublisherOptions) withDefaults() PublisherOptions {
	o.SecondInvalidation = sqsDelay(o.SecondInvalidation)
	setZero(&o.BatchSize, 10)
	setZero(&o.FlushInterval, 5*time.Millisecond)
	setZero(&o.Buffer, 10000)
	setZero(&o.Senders, 16)
	setZero(&o.PublishTimeout, 20*time.Millisecond)
	setZero(&o.SpillMaxBytes, 1<<30)
	return o
}

// Validate reports the first option out of range, naming its field (errors.Is(err, ErrConfig)).
// Zero fields are taken at their defaults.
func (o PublisherOptions) Validate() error { return o.withDefaults().validate() }

func (o PublisherOptions) validate() error {
	switch {
	case o.BatchSize < 1 || o.BatchSize > 10:
		return badOption("PublisherOptions.BatchSize is %d: SQS takes 1 to 10 entries per batch", o.BatchSize)
	case o.FlushInterval < 0:
		return badOption("PublisherOptions.FlushInterval is %s: it must be > 0 (0 = the default, 5ms)", o.FlushInterval)
	case o.Buffer < 1:
		return badOption("PublisherOptions.Buffer is %d: it must be ≥ 1 (0 = the default, 10000)", o.Buffer)
	case o.Senders < 1:
		return badOption("PublisherOptions.Senders is %d: it must be ≥ 1 (0 = the default, 16)", o.Senders)
	case o.PublishTimeout < 0:
		return badOption("PublisherOptions.PublishTimeout is %s: it must be > 0 (0 = the default, 20ms)", o.PublishTimeout)
	case o.SpillMaxBytes < 0:
		return badOption("PublisherOptions.SpillMaxBytes is %d: it must be > 0 (0 = the default, 1 GiB)", o.SpillMaxBytes)
	case o.SecondInvalidation < 0 || o.SecondInvalidation > 15*time.Minute:
		return badOption("PublisherOptions.SecondInvalidation is %s: SQS delays 0 to 15m", o.SecondInvalidation)
	case o.ResendWindow < 0:
		return badOption("PublisherOptions.ResendWindow is %s: it must be ≥ 0 (0 = off)", o.ResendWindow)
	}
	return nil
}

// DefaultAgentOptions returns the agent's options with every default set.
func DefaultAgentOptions() AgentOptions { return AgentOptions{}.withDefaults() }

// withDefaults returns o with every zero field at its default.
func (o AgentOptions) withDefaults() AgentOptions {
	setZero(&o.Receivers, 4)
	setZero(&o.Appliers, 32)
	setZero(&o.WaitSeconds, 20)
	setZero(&o.VisibilityTimeout, 30)
	setZero(&o.RetryDelay, 2)
	setZero(&o.TombstoneTTL, DefaultTombstoneTTL)
	setZero(&o.MaxDrift, hlc.DefaultMaxDrift)
	return o
}

// Validate reports the first option out of range, naming its field (errors.Is(err, ErrConfig)).
// Zero fields are taken at their defaults.
func (o AgentOptions) Validate() error { return o.withDefaults().validate() }

func (o AgentOptions) validate() error {
	switch {
	case o.Receivers < 1:
		return badOption("AgentOptions.Receivers is %d: it must be ≥ 1 (0 = the default, 4)", o.Receivers)
	case o.Appliers < 1:
		return badOption("AgentOptions.Appliers is %d: it must be ≥ 1 (0 = the default, 32)", o.Appliers)
	case o.WaitSeconds < 1 || o.WaitSeconds > 20:
		return badOption("AgentOptions.WaitSeconds is %d: SQS long-polls 1 to 20 s", o.WaitSeconds)
	case o.VisibilityTimeout < 1 || o.VisibilityTimeout > 12*60*60:
		return badOption("AgentOptions.VisibilityTimeout is %d: SQS hides a message 1 s to 12 h", o.VisibilityTimeout)
	case o.RetryDelay < 1 || o.RetryDelay > 12*60*60:
		return badOption("AgentOptions.RetryDelay is %d: SQS hides a message 1 s to 12 h", o.RetryDelay)
	case o.TombstoneTTL < 0:
		return badOption("AgentOptions.TombstoneTTL is %s: it must be > 0 (0 = the default, %s)", o.TombstoneTTL, DefaultTombstoneTTL)
	case o.MaxDrift < 0:
		return badOption("AgentOptions.MaxDrift is %s: it must be > 0 (0 = the default, %s)", o.MaxDrift, hlc.DefaultMaxDrift)
	}
	return nil
}

func setZero[T int | int32 | int64 | time.Duration](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

func badOption(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
}
