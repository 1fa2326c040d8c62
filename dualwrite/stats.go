package dualwrite

import "sync/atomic"

// counters are the session's running totals, read with Stats.
type counters struct {
	writes, acked, followerFailed, followerLate, logged, replayed, uncertain atomic.Int64
	shadowReads, shadowMismatches, lwtMismatches, refused                    atomic.Int64
	asyncInFlight, deadLettered, asyncUnkept, asyncLost                      atomic.Int64
	appending                                                                atomic.Int64 // replay-log appends under way in the background
}

// Stats are a session's totals since New, for reports and tests; the same figures are exported
// as Prometheus metrics.
type Stats struct {
	Writes           int64 // writes and batches issued through the session
	Acknowledged     int64 // of them, returned to the caller without error
	FollowerFailed   int64 // follower writes that did not land at first (late ones included)
	FollowerLate     int64 // of them, follower writes not answered within the follower budget
	Logged           int64 // follower writes appended to the replay log
	Replayed         int64 // replay log entries that have since landed
	Uncertain        int64 // counter updates that failed on the follower
	ShadowReads      int64
	ShadowMismatches int64
	LWTMismatches    int64
	Refused          int64 // writes refused before reaching Cassandra (non-deterministic …)
	DeadLettered     int64 // replay log entries set aside because they can never land as they are
	// AsyncUnkept: acknowledged Async follower copies that failed and that the replay log could
	// not keep at first (full or unwritable): held in memory against their side's authority and
	// appended again once the log has room (unkept.go).
	AsyncUnkept int64
	AsyncLost   int64 // of them, still not kept when the session closed: lost for their side (logged at error)
}

// Stats returns the session's totals so far.
func (s *Session) Stats() Stats {
	c := &s.stats
	return Stats{Writes: c.writes.Load(), Acknowledged: c.acked.Load(), FollowerFailed: c.followerFailed.Load(), FollowerLate: c.followerLate.Load(),
		Logged: c.logged.Load(), Replayed: c.replayed.Load(), Uncertain: c.uncertain.Load(),
		ShadowReads: c.shadowReads.Load(), ShadowMismatches: c.shadowMismatches.Load(),
		LWTMismatches: c.lwtMismatches.Load(), Refused: c.refused.Load(),
		DeadLettered: c.deadLettered.Load(), AsyncUnkept: c.asyncUnkept.Load(), AsyncLost: c.asyncLost.Load()}
}
