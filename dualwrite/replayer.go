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
// Invariants:
//   - Each side has its own workers (WithReplayWorkers each), its own queue and its own window of
//     entries held in memory (replaywindow.go): entries for a side that is down never take the
//     workers of the other side, and its backlog beyond its memory cap is parked (two positions)
//     and read again once it has room, so however long its backlog, entries of the healthy side
//     behind it keep being read and keep landing.
//   - An entry is dead-lettered only for a reason of its own, judged on its own side (an attempt
//     that finds it held, errHeld, is none: hold.go):
//   - a syntax error or a value that cannot be encoded: at once (it can never land);
//   - any other refusal (table or column gone, value rejected, unauthorized) after at least
//     deadLetterMinAttempts attempts and minAge (10 s) since its first attempt; an unauthorized answer
//     is not a refusal at all when the authorizer could not read system_auth, or when the side
//     accepted a statement on the same table before (classifyFailure);
//   - a transient failure (timeout, unavailable, no connection) is retried with exponential
//     backoff up to WithReplayBackoffMax; it is stuck, and dead-lettered, only when it still fails
//     after stuckAttempts attempts and minAge while at least stuckAttempts entries of the *same
//     side* landed meanwhile (a side down for everyone never dead-letters anything).
//   - Dead letters count as backlog for authority: SetPhase refuses to make a side authoritative
//     while it has dead letters (pendingFor), until an operator retries or drops them.
//   - TTLs are the remaining TTL at replay (replayttl.go); the consistency is the one the caller
//     wrote with, else LOCAL_QUORUM (keep stores it).
func (s *Session) replayer() {
	defer s.replayWG.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	r := &replayCore{log: s.log, apply: s.applyReplay, classify: s.classifyReplay, workers: s.cfg.replayWorkers,
		resolved:   &s.replayResolved,
		backoffMax: s.cfg.replayBackoffMax, minAge: s.cfg.deadLetterMinAge, logger: s.logger,
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
	sd := entrySide(e)
	if withdrawn, err := s.holds.check(sd, e.Timestamp, e.at); err != nil {
		return err
	} else if withdrawn {
		s.logger.Warn("dualwrite: replay entry withdrawn: the leader refused its write (the caller was told it failed)",
			"side", e.Side, "stmt", firstStmt(e), "timestamp", e.Timestamp)
		return nil
	}
	for _, st := range e.Stmts {
		// Kept by an earlier version (this one refuses them in the dual phases): a TRUNCATE or a
		// schema change has no timestamp, and applied now it would undo the writes acknowledged
		// after it. Never applied: dead-lettered at once, for an operator to look at.
		if kind := s.statement(st.Stmt).notMutation; kind != "" {
			return fmt.Errorf("%w: %s kept for replay by an earlier version; not applied (run it on the %s side "+
				"yourself if it is still wanted)", ErrNotReplayable, kind, sd)
		}
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

// classifyReplay classifies a replay failure of e on its side.
func (s *Session) classifyReplay(e *Entry, err error) failClass {
	return s.classify(entrySide(e), e.Stmts, func(stmt string) string { return stmt }, err) // already in the side's form
}

// entrySide is the side an entry must land on.
func entrySide(e *Entry) side {
	if e.Side == primarySide.String() {
		return primarySide
	}
	return secondarySide
}

// replayPermanent: the side refused the statement itself (by the error alone); trying again
// cannot help, at least not soon.
func replayPermanent(err error) bool { return classifyFailure(err) != failTransient }

const (
	// heldPoll bounds how long the replayer waits before looking again at a held entry (errHeld):
	// the hold ends as soon as its leader answers, and holding costs no failure.
	heldPoll       = 50 * time.Millisecond
	stuckAttempts  = 20
	minWindow      = 256
	commitEvery    = 256
	commitInterval = 100 * time.Millisecond
	// defaultDeadLetterMinAge is the floor of time between an entry's first failed attempt and
	// its dead-lettering (but for failNever): long enough to outlast an authorizer or schema
	// agreement hiccup.
	defaultDeadLetterMinAge = 10 * time.Second
	// maxHeldFactor bounds the entries held in memory (finished ones take a few words) to this
	// many windows, half of it per side.
	maxHeldFactor = 64
)

// replayCore is the replay loop over a ReplayLog and a function that applies one entry once.
type replayCore struct {
	log          ReplayLog
	apply        func(ctx context.Context, e *Entry) error
	classify     func(e *Entry, err error) failClass // nil: classifyFailure
	workers      int                                 // per side (default 16)
	window       int                                 // unfinished entries per side read ahead at most (default max(256, 32*workers))
	backoffMax   time.Duration
	minAge       time.Duration // dead-letter floor in time (0: none; the session passes defaultDeadLetterMinAge, 10 s)
	logger       *slog.Logger
	onLanded     func()
	onDeadLetter func()

	landed   [2]atomic.Int64  // per side
	resolved *[2]atomic.Int64 // if set: acknowledged entries (not Unacked) landed or dead-lettered, per side
}

type replaySlot struct {
	rec  Record
	prev Pos // the position of the record before it in the log (zero: none)
	side side
	done bool // landed or set aside
	ok   bool // the worker finished it (not cut short by ctx)
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
	if r.classify == nil {
		r.classify = func(_ *Entry, err error) failClass { return classifyFailure(err) }
	}
	// Each side holds at most maxHeld entries in memory (maxHeldFactor/2 windows); past that, what
	// Pending hands out for it is parked (replaywindow.go) and read again once it has room, so a
	// side that is down never stops the reading for the other.
	maxHeld := maxHeldFactor * r.window / 2
	rr, canPark := r.log.(rereader)
	// At most r.workers slots per side are in flight, so neither channel ever blocks.
	results := make(chan *replaySlot, 2*r.workers)
	var jobs [2]chan *replaySlot
	var wg sync.WaitGroup
	for sd := range jobs {
		jobs[sd] = make(chan *replaySlot, r.workers)
		for i := 0; i < r.workers; i++ {
			wg.Add(1)
			go func(jobs <-chan *replaySlot) {
				defer wg.Done()
				for sl := range jobs {
					sl.ok = r.replayOne(ctx, sl.rec, sl.side)
					results <- sl
				}
			}(jobs[sd])
		}
	}
	defer func() { close(jobs[0]); close(jobs[1]); wg.Wait() }()

	var w [2]sideWindow
	var inflight [2]int
	var lastRead Pos // the position of the last record Pending handed out (zero: none yet)
	// The cursor is written (two fsyncs) once per commitEvery entries or commitInterval, and
	// whenever the log is drained, not after every entry: a crash replays at most that much again.
	var passed Pos
	uncommitted, lastCommit := 0, time.Now()
	commit := func() {
		if uncommitted == 0 || !posBefore(Pos{}, passed) {
			return
		}
		if err := r.log.Done(passed); err != nil {
			r.logger.Error("dualwrite: recording replay progress", "err", err)
			return
		}
		uncommitted, lastCommit = 0, time.Now()
	}
	finish := func(sl *replaySlot) {
		inflight[sl.side]--
		if sl.ok {
			sl.done = true
			w[sl.side].unfinished--
			sl.rec.Entry = Entry{} // only its position is needed from now on
		}
	}
	wants := func(sd int) bool { return w[sd].wants(r.window, maxHeld) }
	idle := 20 * time.Millisecond
	for ctx.Err() == nil {
		// A side with room takes back what was parked for it first (log order), then either side
		// with room reads on. Without a rereader nothing is parked: reading stops once a side is
		// full (its entries cannot be dropped and read again).
		read := 0
		for sd := range w {
			if w[sd].run != nil && wants(sd) {
				n, err := w[sd].unpark(rr, side(sd), r.window, maxHeld)
				if err != nil {
					r.logger.Error("dualwrite: reading the replay log again", "err", err)
				}
				read += n
			}
		}
		if (wants(0) && w[0].run == nil) || (wants(1) && w[1].run == nil) {
			if canPark || (len(w[0].held) < maxHeld && len(w[1].held) < maxHeld) {
				recs, err := r.log.Pending(r.window)
				if err != nil {
					r.logger.Error("dualwrite: reading the replay log", "err", err)
				}
				for i := range recs {
					prev := lastRead
					lastRead = recs[i].Pos
					if recs[i].SetAside { // the log set it aside itself: only its position is passed
						uncommitted++
						continue
					}
					sd := entrySide(&recs[i].Entry)
					w[sd].add(recs[i], prev, sd, canPark && len(w[sd].held) >= maxHeld)
				}
				read += len(recs)
			}
		}
		if read > 0 {
			idle = 20 * time.Millisecond
		}
		for sd := range w {
			q := &w[sd].queue
			for inflight[sd] < r.workers && len(*q) > 0 {
				jobs[sd] <- (*q)[0]
				(*q)[0] = nil
				*q = (*q)[1:]
				inflight[sd]++
			}
		}
		if w[0].empty() && w[1].empty() {
			commit() // drained
			// Every record read is done: records set aside by the log itself are passed by the
			// next commit, after the pause (not by the one at Close, as before).
			sleep(ctx, idle)
			if ctx.Err() == nil {
				passed = maxPos(passed, lastRead)
			}
			idle = min(idle*2, 500*time.Millisecond)
			continue
		}
		var poll <-chan time.Time
		var t *time.Timer
		if wants(0) || wants(1) {
			t = time.NewTimer(idle)
			poll = t.C
			idle = min(idle*2, 500*time.Millisecond)
		}
		select {
		case sl := <-results:
			finish(sl)
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
				finish(sl)
			default:
				break more
			}
		}
		if ctx.Err() != nil {
			break // what was in flight is replayed again by the next session: harmless
		}
		// Every record up to the earlier of the two sides' frontiers has landed or been set aside.
		uncommitted += w[0].pop() + w[1].pop()
		if target := minPos(w[0].frontier(lastRead), w[1].frontier(lastRead)); posBefore(passed, target) {
			passed = target
		}
		if uncommitted >= commitEvery || (uncommitted > 0 && time.Since(lastCommit) >= commitInterval) {
			commit()
		}
	}
	commit() // what landed before Close
	if rw, ok := r.log.(interface{ rewind() }); ok {
		rw.rewind() // what was handed out and not passed goes to the next replayer on this log value
	}
}

// replayOne applies rec on side sd until it lands or is dead-lettered (true), or ctx ends (false).
func (r *replayCore) replayOne(ctx context.Context, rec Record, sd side) bool {
	e := &rec.Entry
	backoff := 50 * time.Millisecond
	var first time.Time
	var landedBefore int64 // entries of the same side landed when this one first failed
	// attempt counts the entry's own failures only: an attempt that found it held (errHeld: its
	// write's leader has not answered yet) is no failure of the entry or of its side, and counts
	// toward neither the dead-letter floor nor "stuck", nor starts its age.
	for attempt := 1; ; {
		err := r.apply(ctx, e)
		if err == nil {
			r.landed[sd].Add(1)
			if r.resolved != nil && !e.Unacked {
				r.resolved[sd].Add(1)
			}
			if r.onLanded != nil {
				r.onLanded()
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, errHeld) {
			sleep(ctx, min(backoff, heldPoll))
			continue
		}
		if attempt == 1 {
			first, landedBefore = time.Now(), r.landed[sd].Load()
		}
		cause := err
		floor := attempt >= deadLetterMinAttempts && time.Since(first) >= r.minAge
		var setAside bool
		switch r.classify(e, err) {
		case failNever:
			setAside = true
		case failPermanent:
			setAside = floor
		default:
			// Entries of the same side that landed since this one first failed: when they are many
			// while this one keeps failing, the side is up and this entry is stuck.
			if others := r.landed[sd].Load() - landedBefore; floor && attempt >= stuckAttempts && others >= stuckAttempts {
				setAside = true
				cause = fmt.Errorf("dualwrite: still failing after %d attempts while %d other entries landed on the %s side: %w", attempt, others, sd, err)
			}
		}
		if setAside {
			if dl, ok := r.log.(DeadLetterLog); ok {
				derr := dl.DeadLetter(ctx, rec, cause)
				if derr == nil {
					r.logger.Error("dualwrite: replay entry can never land as it is; dead-lettered (see `islands replay inspect`)",
						"side", e.Side, "stmt", firstStmt(e), "key_hash", entryKeyHash(e), "timestamp", e.Timestamp, "err", cause)
					r.logger.Debug("dualwrite: dead-lettered replay entry's values", "key_hash", entryKeyHash(e), "values", summarize(e))
					if r.resolved != nil && !e.Unacked {
						r.resolved[sd].Add(1)
					}
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
		attempt++
	}
}

// firstStmt is an entry's first statement as logged (logStmt: literals masked), with the batch's size.
func firstStmt(e *Entry) string {
	if len(e.Stmts) == 0 {
		return ""
	}
	if len(e.Stmts) > 1 {
		return fmt.Sprintf("%s (+%d more in the batch)", logStmt(e.Stmts[0].Stmt), len(e.Stmts)-1)
	}
	return logStmt(e.Stmts[0].Stmt)
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
