package dualwrite

import (
	"context"
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
			s.logger.Warn("dualwrite: shadow read mismatch", "stmt", stmt, "key", values,
				"primary_rows", len(rows[0]), "secondary_rows", len(rows[1]))
		}
	}()
}
