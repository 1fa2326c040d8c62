package cachesync

import (
	"fmt"
	"time"
)

// DefaultMaxClockSkew is the default bound on how far apart the regions' clocks are
// (ClientOptions.MaxClockSkew): NTP keeps servers within milliseconds; a second leaves room.
const DefaultMaxClockSkew = time.Second

// SecondInvalidation returns the delay of the publisher's second events as SQS applies it (0:
// off): PublisherOptions.SecondInvalidation rounded up to whole seconds.
func (p *Publisher) SecondInvalidation() time.Duration { return p.opts.SecondInvalidation }

// CheckSecondInvalidation checks the rule the second event's guarantee rests on when memcached
// evicts a tombstone (see the package doc): a second event must arrive after every set event it
// could race has become "late" — older than TombstoneTTL by the receiving region's clock — so
// SecondInvalidation ≥ TombstoneTTL + 2 × skew. A second delay of 0 (off) passes: then there is
// no such guarantee to keep. NewClient calls it with its options and its Publisher; agents must
// use the same TombstoneTTL (cmd/cachesync's tombstone_ttl) as the clients. second is judged as
// SQS will delay it: rounded up to whole seconds (sqsDelay).
func CheckSecondInvalidation(second, tombstoneTTL, skew time.Duration) error {
	if second <= 0 {
		return nil
	}
	second = sqsDelay(second)
	if need := tombstoneTTL + 2*skew; second < need {
		return fmt.Errorf("%w: SecondInvalidation %s is below TombstoneTTL %s + 2 × MaxClockSkew %s = %s: "+
			"a tombstone evicted from memcached could then let an old value back in after the second event; "+
			"raise SecondInvalidation to at least %s (SQS delays at most 15m) or lower TombstoneTTL (clients and agents alike)",
			ErrConfig, second, tombstoneTTL, skew, need, need)
	}
	return nil
}

// sqsDelay is the delay SQS applies for d: DelaySeconds counts whole seconds, so d is rounded UP
// (never truncated: a second event sent early could arrive before the rule it rests on allows,
// TombstoneTTL + 2 × skew, or before a lagging replica has the write); a delay under a second is
// one second, never 0 (which would send the second event at once). 0 or less is off.
func sqsDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
