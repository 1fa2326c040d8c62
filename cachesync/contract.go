package cachesync

import (
	"fmt"
	"time"
)

// DefaultMaxClockSkew is the default bound on how far apart the regions' clocks are
// (ClientOptions.MaxClockSkew): NTP keeps servers within milliseconds; a second leaves room.
const DefaultMaxClockSkew = time.Second

// SecondInvalidation returns the delay of the publisher's second events (0: off).
func (p *Publisher) SecondInvalidation() time.Duration { return p.opts.SecondInvalidation }

// CheckSecondInvalidation checks the rule the second event's guarantee rests on when memcached
// evicts a tombstone (see the package doc): a second event must arrive after every set event it
// could race has become "late" — older than TombstoneTTL by the receiving region's clock — so
// SecondInvalidation ≥ TombstoneTTL + 2 × skew. A second delay of 0 (off) passes: then there is
// no such guarantee to keep. NewClient calls it with its options and its Publisher; agents must
// use the same TombstoneTTL (cmd/cachesync's tombstone_ttl) as the clients.
func CheckSecondInvalidation(second, tombstoneTTL, skew time.Duration) error {
	if second <= 0 {
		return nil
	}
	if need := tombstoneTTL + 2*skew; second < need {
		return fmt.Errorf("%w: SecondInvalidation %s is below TombstoneTTL %s + 2 × MaxClockSkew %s = %s: "+
			"a tombstone evicted from memcached could then let an old value back in after the second event; "+
			"raise SecondInvalidation to at least %s (SQS delays at most 15m) or lower TombstoneTTL (clients and agents alike)",
			ErrConfig, second, tombstoneTTL, skew, need, need)
	}
	return nil
}
