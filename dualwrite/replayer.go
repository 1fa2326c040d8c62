package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// replayer applies the replay log's entries again, with their original timestamps, from New to
// Close. It progresses entry by entry: entries are applied in parallel from a window that slides
// over the log, and the log's cursor moves past every entry that has landed or been set aside,
// up to the first one still being retried; one entry that keeps failing never holds up the others
// (only the cursor, so at most the window is replayed again after a crash, which is harmless:
// same timestamps).
//
//   - A permanent failure (the side refuses the statement: table or column gone, value rejected,
//     syntax, unauthorized) dead-letters the entry at once: it is kept in DIR/deadletter, counted
//     (islands_dualwrite_replay_dead_lettered_total) and logged with its statement, for
//     `islands replay inspect|retry|drop`.
//   - A transient failure (timeout, unavailable, no connection) is retried with exponential
//     backoff up to WithReplayBackoffMax. An entry still failing after stuckAttempts attempts
//     while at least as many other entries landed is stuck, not waiting for the side: it is
//     dead-lettered too.
//   - TTLs are the remaining TTL at replay (replayttl.go); the consistency is the one the caller
//     wrote with, else LOCAL_QUORUM (keep stores it).
func (s *Session) replayer() {
	defer s.replayWG.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	r := &replayCore{log: s.log, apply: s.applyReplay, permanent: replayPermanent, workers: s.cfg.replayWorkers,
		backoffMax: s.cfg.replayBackoffMax, logger: s.logger,
		onLanded: func() {
			s.stats.replayed.Add(1)
			if s.m != nil {
				s.m.replayed.Inc()
			}
		},
		onDeadLetter: func() {
			s.stats.deadLettered.Add(1)
			if s.m != nil {
				s.m.deadLettered.Inc()
			}
		}}
	r.run(ctx)
}

// applyReplay makes one attempt at applying e on its side.
func (s *Session) applyReplay(ctx context.Context, e *Entry) error {
	sd := secondarySide
	if e.Side == primarySide.String() {
		sd = primarySide
	}
	now := time.Now()
	stmts := make([]Stmt, len(e.Stmts))
	for i, st := range e.Stmts {
		stmts[i] = remainingTTL(st, now)
	}
	cons := e.Consistency
	if cons == gocql.Any {
		cons = gocql.LocalQuorum
	}
	op := &writeOp{ctx: ctx, stmts: stmts, batch: e.Batch, batchType: e.BatchType, cons: &cons,
		idempotent: true, ts: e.Timestamp}
	// Statements in the log are already mapped to their side's keyspace: run them verbatim.
	_, err := s.execVerbatim(ctx, sd, op)
	return err
}

// replayPermanent: the side refused the statement itself; trying again cannot help.
func replayPermanent(err error) bool {
	var me gocql.MarshalError
	return permanent(err) || errors.As(err, &me)
}

const (
	stuckAttempts  = 20
	minWindow      = 256
	commitEvery    = 256
	commitInterval = 100 * time.Millisecond
)

// replayCore is the replay loop over a ReplayLog and a function that applies one entry once.
type replayCore struct {
	log          ReplayLog
	apply        func(ctx context.Context, e *Entry) error
	permanent    func(error) bool
	workers      int
	window       int // entries read ahead of the cursor at most (default max(256, 32*workers))
	backoffMax   time.Duration
	logger       *slog.Logger
	onLanded     func()
	onDeadLetter func()

	landed atomic.Int64
}

type replaySlot struct {
	rec Record
	// landed counted when the slot was handed to the workers: the entries behind it that land
	// while it keeps failing are counted from there.
	landedBefore int64
	done         bool // landed or set aside
	ok           bool // the worker finished it (not cut short by ctx)
}

func (r *replayCore) run(ctx context.Context) {
	if r.workers <= 0 {
		r.workers = 16
	}
	if r.window <= 0 {
		r.window = max(minWindow, 32*r.workers)
	}
	if r.backoffMax <= 0 {
		r.backoffMax = 5 * time.Second
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	jobs := make(chan *replaySlot, r.window)
	results := make(chan *replaySlot, r.window)
	var wg sync.WaitGroup
	for i := 0; i < r.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sl := range jobs {
				sl.ok = r.replayOne(ctx, sl.rec, sl.landedBefore)
				results <- sl
			}
		}()
	}
	defer func() { close(jobs); wg.Wait() }()

	var window []*replaySlot // in log order; the head is the oldest not yet passed by the cursor
	// The cursor is written (two fsyncs) once per commitEvery entries or commitInterval, and
	// whenever the log is drained, not after every entry: a crash replays at most that much again.
	var passed Pos
	uncommitted, lastCommit := 0, time.Now()
	commit := func() {
		if uncommitted == 0 {
			return
		}
		if err := r.log.Done(passed); err != nil {
			r.logger.Error("dualwrite: recording replay progress", "err", err)
			return
		}
		uncommitted, lastCommit = 0, time.Now()
	}
	idle := 20 * time.Millisecond
	for ctx.Err() == nil {
		if len(window) < r.window {
			recs, err := r.log.Pending(r.window - len(window))
			if err != nil {
				r.logger.Error("dualwrite: reading the replay log", "err", err)
			}
			for i := range recs {
				sl := &replaySlot{rec: recs[i], landedBefore: r.landed.Load()}
				window = append(window, sl)
				jobs <- sl // never blocks: at most r.window slots exist
			}
			if len(recs) > 0 {
				idle = 20 * time.Millisecond
			}
		}
		if len(window) == 0 {
			commit() // drained
			sleep(ctx, idle)
			idle = min(idle*2, 500*time.Millisecond)
			continue
		}
		var poll <-chan time.Time
		var t *time.Timer
		if len(window) < r.window {
			t = time.NewTimer(idle)
			poll = t.C
			idle = min(idle*2, 500*time.Millisecond)
		}
		select {
		case sl := <-results:
			sl.done = sl.ok
		case <-poll:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
	more:
		for {
			select {
			case sl := <-results:
				sl.done = sl.ok
			default:
				break more
			}
		}
		if ctx.Err() != nil {
			break // what was in flight is replayed again by the next session: harmless
		}
		n := 0
		for n < len(window) && window[n].done {
			n++
		}
		if n > 0 {
			passed = window[n-1].rec.Pos
			uncommitted += n
			clear(window[:n])
			window = window[n:]
		}
		if uncommitted >= commitEvery || (uncommitted > 0 && time.Since(lastCommit) >= commitInterval) {
			commit()
		}
	}
	commit() // what landed before Close
}

// replayOne applies rec until it lands or is dead-lettered (true), or ctx ends (false).
func (r *replayCore) replayOne(ctx context.Context, rec Record, landedBefore int64) bool {
	e := &rec.Entry
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := r.apply(ctx, e)
		if err == nil {
			r.landed.Add(1)
			if r.onLanded != nil {
				r.onLanded()
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		cause := err
		setAside := r.permanent(err)
		// Entries that landed since this one was handed out: when they are many while this one
		// keeps failing, the side is up and this entry is stuck.
		if others := r.landed.Load() - landedBefore; !setAside && attempt >= stuckAttempts && others >= stuckAttempts {
			setAside = true
			cause = fmt.Errorf("dualwrite: still failing after %d attempts while %d other entries landed: %w", attempt, others, err)
		}
		if setAside {
			if dl, ok := r.log.(DeadLetterLog); ok {
				derr := dl.DeadLetter(ctx, rec, cause)
				if derr == nil {
					r.logger.Error("dualwrite: replay entry can never land as it is; dead-lettered (see `islands replay inspect`)",
						"side", e.Side, "stmt", firstStmt(e), "values", summarize(e), "timestamp", e.Timestamp, "err", cause)
					if r.onDeadLetter != nil {
						r.onDeadLetter()
					}
					return true
				}
				r.logger.Error("dualwrite: dead-lettering a replay entry failed; retrying it", "stmt", firstStmt(e), "err", derr)
			}
		}
		if attempt == 1 || attempt%20 == 0 {
			r.logger.Debug("dualwrite: replay did not land yet", "side", e.Side, "attempt", attempt,
				"age", time.Since(e.Logged).Round(time.Millisecond).String(), "stmt", firstStmt(e), "err", err)
		}
		sleep(ctx, backoff)
		backoff = min(backoff*2, r.backoffMax)
	}
}

func firstStmt(e *Entry) string {
	if len(e.Stmts) == 0 {
		return ""
	}
	if len(e.Stmts) > 1 {
		return fmt.Sprintf("%s (+%d more in the batch)", e.Stmts[0].Stmt, len(e.Stmts)-1)
	}
	return e.Stmts[0].Stmt
}

// summarize renders an entry's first statement's values briefly (long values cut), for logs and
// `islands replay inspect`.
func summarize(e *Entry) string {
	if len(e.Stmts) == 0 {
		return ""
	}
	return SummarizeValues(e.Stmts[0].Values)
}

// SummarizeValues renders bound values briefly: strings and blobs over 32 bytes are cut and
// their length given, so logs and listings stay readable.
func SummarizeValues(vs []any) string {
	out := "["
	for i, v := range vs {
		if i > 0 {
			out += " "
		}
		var s string
		switch x := v.(type) {
		case nil:
			s = "null"
		case []byte:
			if x == nil {
				s = "null"
			} else if len(x) > 16 {
				s = fmt.Sprintf("0x%x…(%d bytes)", x[:16], len(x))
			} else {
				s = fmt.Sprintf("0x%x", x)
			}
		case string:
			if len(x) > 32 {
				s = fmt.Sprintf("%q…(%d bytes)", x[:32], len(x))
			} else {
				s = fmt.Sprintf("%q", x)
			}
		default:
			s = fmt.Sprint(v)
			if len(s) > 48 {
				s = s[:48] + "…"
			}
		}
		out += s
	}
	return out + "]"
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
