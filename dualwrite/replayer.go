package dualwrite

import (
	"context"
	"sync"
	"time"
)

// replayer applies the replay log's entries again, with their original timestamps, until each
// lands; it runs from New to Close. Entries are taken in chunks and applied in parallel (order does
// not matter: every entry carries its own timestamp, so Cassandra's reconciliation puts them in
// order); the log's cursor moves past a chunk only when all of it has landed.
func (s *Session) replayer() {
	defer s.replayWG.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	idle := 20 * time.Millisecond
	for ctx.Err() == nil {
		recs, err := s.log.Pending(256)
		if err != nil {
			s.logger.Error("dualwrite: reading the replay log", "err", err)
		}
		if len(recs) == 0 {
			sleep(ctx, idle)
			idle = min(idle*2, 500*time.Millisecond)
			continue
		}
		idle = 20 * time.Millisecond
		sem := make(chan struct{}, s.cfg.replayWorkers)
		var wg sync.WaitGroup
		for i := range recs {
			sem <- struct{}{}
			wg.Add(1)
			go func(e *Entry) {
				defer func() { <-sem; wg.Done() }()
				s.replayOne(ctx, e)
			}(&recs[i].Entry)
		}
		wg.Wait()
		if ctx.Err() != nil {
			return // the chunk is replayed again by the next session: harmless, same timestamps
		}
		if err := s.log.Done(recs[len(recs)-1].Pos); err != nil {
			s.logger.Error("dualwrite: recording replay progress", "err", err)
		}
		s.stats.replayed.Add(int64(len(recs)))
		if s.m != nil {
			s.m.replayed.Add(float64(len(recs)))
		}
	}
}

// replayOne applies e until it lands or ctx ends, backing off between attempts.
func (s *Session) replayOne(ctx context.Context, e *Entry) {
	sd := secondarySide
	if e.Side == primarySide.String() {
		sd = primarySide
	}
	cons := e.Consistency
	op := &writeOp{ctx: ctx, stmts: e.Stmts, batch: e.Batch, batchType: e.BatchType, cons: &cons,
		idempotent: true, ts: e.Timestamp}
	backoff := 50 * time.Millisecond
	for attempt := 1; ctx.Err() == nil; attempt++ {
		// Statements in the log are already mapped to their side's keyspace: run them verbatim.
		_, err := s.execVerbatim(ctx, sd, op)
		if err == nil {
			return
		}
		if attempt == 1 || attempt%20 == 0 {
			level := s.logger.Debug
			if permanent(err) {
				level = s.logger.Error
			}
			level("dualwrite: replay did not land yet", "side", e.Side, "attempt", attempt,
				"age", time.Since(e.Logged).Round(time.Millisecond).String(), "stmt", e.Stmts[0].Stmt, "err", err)
		}
		sleep(ctx, backoff)
		backoff = min(backoff*2, s.cfg.replayBackoffMax)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
