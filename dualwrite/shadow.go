package dualwrite

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"time"
)

// maybeShadow runs a sampled read on both sides in the background and compares the rows. It never
// delays the caller: when eight comparisons are already running, the sample is skipped.
func (s *Session) maybeShadow(q *Query, phase Phase) {
	if s.cfg.shadow <= 0 || !phase.follows() || rand.Float64() >= s.cfg.shadow {
		return
	}
	select {
	case s.shadowSem <- struct{}{}:
	default:
		return
	}
	stmt, values := q.stmt, q.values
	go func() {
		defer func() { <-s.shadowSem }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var rows [2][]map[string]any
		for sd := range s.sides {
			r, err := s.sides[sd].session().Query(s.forSide(side(sd), stmt), values...).WithContext(ctx).PageSize(1000).Iter().SliceMap()
			if err != nil {
				s.logger.Debug("dualwrite: shadow read failed", "side", side(sd).String(), "err", err)
				return
			}
			rows[sd] = r
		}
		s.stats.shadowReads.Add(1)
		if s.m != nil {
			s.m.shadowReads.Inc()
		}
		if !reflect.DeepEqual(rows[0], rows[1]) {
			s.stats.shadowMismatches.Add(1)
			if s.m != nil {
				s.m.shadowDiff.Inc()
			}
			logShadowMismatch(s.logger, stmt, values, len(rows[0]), len(rows[1]))
		}
	}()
}

// logShadowMismatch logs a shadow-read mismatch. The statement's values are member data (a key
// may be an email): the warning carries only a hash of them (key_hash, the same for the same
// values, so lines correlate) and the statement with its literals masked (logStmt); the values and
// the statement as written are logged at debug level only.
func logShadowMismatch(log *slog.Logger, stmt string, values []any, primaryRows, secondaryRows int) {
	hash := keyHash(values)
	log.Warn("dualwrite: shadow read mismatch", "stmt", logStmt(stmt), "key_hash", hash,
		"primary_rows", primaryRows, "secondary_rows", secondaryRows)
	log.Debug("dualwrite: shadow read mismatch values", "key_hash", hash, "stmt", stmt, "key", values)
}
