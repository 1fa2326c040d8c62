package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// modelSide is one side as the model test sees it: a last-write-wins store of keys to the
// timestamp of their newest write, and its state (down, blips left, refusing, slow).
type modelSide struct {
	mu       sync.Mutex
	cells    map[int]int64
	down     bool
	blips    int
	refusing bool // answers a permanent refusal (a dropped column) until put right
	slow     bool // answers after the follower budget
}

func (m *modelSide) exec(ctx context.Context, op *writeOp) (bool, error) {
	m.mu.Lock()
	down, refusing, slow := m.down, m.refusing, m.slow
	blip := m.blips > 0
	if blip {
		m.blips--
	}
	m.mu.Unlock()
	if slow {
		select {
		case <-time.After(30 * time.Millisecond):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	switch {
	case down || blip:
		return false, transientErr{}
	case refusing:
		return false, invalidErr{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range op.stmts {
		k := st.Values[0].(int)
		if op.ts > m.cells[k] {
			m.cells[k] = op.ts
		}
	}
	return true, nil
}

func (m *modelSide) has(k int, ts int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cells[k] >= ts
}

func withReplayBackoffMax(d time.Duration) Option { return func(c *config) { c.replayBackoffMax = d } }
func withDeadLetterMinAge(d time.Duration) Option { return func(c *config) { c.deadLetterMinAge = d } }

// TestModelReplayerPhaseGate drives the real session, replayer, phase gate and FileLog with random
// interleavings of writes, side outages, blips, refusals, slow followers, SetPhase, operator
// retries of dead letters, Close and restart on the same directory, and checks after every step:
//   - every acknowledged write is on its authoritative side, or waits for it in the replay log or
//     its dead letters;
//   - authority never moves to a side while that side has writes waiting or dead letters;
//   - no caller waits past its deadline (beyond scheduling slack).
//
// At the end every side comes back, the operator retries the dead letters, and every acknowledged
// write must reach both sides. The seed is in the subtest name: go test -run 'TestModel…/seed=N'.
func TestModelReplayerPhaseGate(t *testing.T) {
	seeds, steps := 8, 150
	if testing.Short() {
		seeds, steps = 2, 60
	}
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, uint64(seed), steps, false) })
	}
}

// TestModelAsyncSmallReplayLog is the same model under Async with a replay log small enough to
// fill during an outage: a follower copy the log cannot keep is held in memory (unkept.go) and
// counts as waiting for its side; authority never moves to a side that lacks one. A copy Close
// reports lost (a restart while the log is full) is the documented loss: it is no longer required
// on that side.
func TestModelAsyncSmallReplayLog(t *testing.T) {
	seeds, steps := 4, 150
	if testing.Short() {
		seeds, steps = 1, 60
	}
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, uint64(seed), steps, true) })
	}
}

type ack struct {
	k  int
	ts int64
}

func runModel(t *testing.T, seed uint64, steps int, async bool) {
	rng := rand.New(rand.NewPCG(seed, 0x1515))
	dir := t.TempDir()
	sides := [2]*modelSide{{cells: map[int]int64{}}, {cells: map[int]int64{}}}
	exec := func(ctx context.Context, sd side, op *writeOp) (bool, error) { return sides[sd].exec(ctx, op) }
	phase := Dual
	var s *Session
	var l *FileLog
	open := func() {
		var err error
		limit := int64(0)
		if async {
			limit = 3 << 10 // about 30 entries: full within an outage
		}
		if l, err = OpenFileLog(dir, limit); err != nil {
			t.Fatal(err)
		}
		opts := func(p Phase, wait time.Duration) []Option {
			o := []Option{withExecHook(exec), WithReplayLog(l), WithPhase(p), WithFollowerBudget(10 * time.Millisecond),
				WithReplayWorkers(4), withReplayBackoffMax(5 * time.Millisecond), withDeadLetterMinAge(time.Millisecond),
				WithOpenWait(wait)}
			if async {
				o = append(o, WithPolicy(Async))
			}
			return o
		}
		newS := func(p Phase, wait time.Duration) (*Session, error) {
			return newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)}, opts(p, wait))
		}
		s, err = newS(phase, 100*time.Millisecond)
		if errors.Is(err, ErrAuthorityBacklog) {
			// Opening straight into a phase whose authority has writes waiting is refused (as
			// SetPhase refuses the switch), whichever side it makes authoritative: the operator
			// opens in the phase of the other authority, whose replayer drains them, and moves
			// authority later with SetPhase (the "move authority" step).
			other := Dual
			if phase.leader() == primarySide {
				other = DualFlipped
			}
			s, err = newS(other, 100*time.Millisecond)
			if err == nil {
				phase = other
			} else if errors.Is(err, ErrAuthorityBacklog) {
				// Both sides are owed writes (one down, say, while the other was authoritative):
				// neither can be read from safely. The operator brings the sides back and opens in
				// dual, which waits for the primary's writes to be replayed (dw4fix). Acknowledged
				// dead letters for the primary refuse that open too (the replayer never resolves
				// them): the operator retries them first, as the refusal says.
				for _, m := range sides {
					m.mu.Lock()
					m.down, m.refusing = false, false
					m.mu.Unlock()
				}
				if _, err := l.RetryDeadLetters(context.Background(), nil); err != nil && !errors.Is(err, ErrReplayLogFull) {
					t.Fatal(err)
				}
				phase = Dual
				s, err = newS(phase, 10*time.Second)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// lost: follower copies Close reported lost (Async, the log full at a restart), per side.
	lost := [2]map[int64]bool{{}, {}}
	closeAll := func() {
		held := s.heldCopies()
		s.Close()
		if len(held) > 0 {
			// What Close could not append is lost for its side (unkept.go, invariant 4).
			pend, err := l.PendingEntries(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			inLog := map[Entry2]bool{}
			for _, r := range pend {
				inLog[Entry2{r.Entry.Side, r.Entry.Timestamp}] = true
			}
			for _, e := range held {
				if !inLog[Entry2{e.Side, e.Timestamp}] {
					lost[entrySide(e)][e.Timestamp] = true
				}
			}
		}
		l.Close()
	}
	open()
	defer func() { closeAll() }()
	var acks []ack
	ts := time.Now().UnixMicro()
	const slack = 300 * time.Millisecond

	// waiting reports whether ack a still waits for side sd in the log or its dead letters.
	waiting := func(sd side) (map[int64]bool, error) {
		w := map[int64]bool{}
		pend, err := l.PendingEntries(1 << 20) // first: an entry leaves it only after landing or being set aside
		if err != nil {
			return nil, err
		}
		for _, r := range pend {
			if r.Entry.Side == sd.String() {
				w[r.Entry.Timestamp] = true
			}
		}
		dead, err := l.DeadLetters()
		if err != nil {
			return nil, err
		}
		for _, a := range dead {
			if a.Entry.Side == sd.String() {
				w[a.Entry.Timestamp] = true
			}
		}
		for _, e := range s.heldCopies() { // held in memory: the log could not keep them (unkept.go)
			if e.Side == sd.String() {
				w[e.Timestamp] = true
			}
		}
		for ts := range lost[sd] {
			w[ts] = true // reported lost at Close: not required on sd
		}
		return w, nil
	}
	check := func(step int, what string) {
		t.Helper()
		leader := s.Phase().leader()
		w, err := waiting(leader)
		if err != nil {
			t.Fatalf("step %d (%s): %v", step, what, err)
		}
		for _, a := range acks {
			if !w[a.ts] && !sides[leader].has(a.k, a.ts) {
				t.Fatalf("step %d (%s): acknowledged write k=%d ts=%d is neither on the authoritative %s side nor waiting for it",
					step, what, a.k, a.ts, leader)
			}
		}
	}
	for step := 0; step < steps; step++ {
		var what string
		switch r := rng.IntN(100); {
		case r < 45: // a write with a deadline
			k := rng.IntN(50)
			ts++
			d := time.Duration(20+rng.IntN(80)) * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), d)
			start := time.Now()
			err := s.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", k, "v").WithTimestamp(ts).WithContext(ctx).Exec()
			took := time.Since(start)
			cancel()
			what = fmt.Sprintf("write k=%d ts=%d: %v", k, ts, err)
			if took > d+slack {
				t.Fatalf("step %d (%s): the caller waited %s with a %s deadline", step, what, took, d)
			}
			if err == nil {
				acks = append(acks, ack{k, ts})
			}
		case r < 55: // an outage starts or ends (rarely both sides at once)
			sd := rng.IntN(2)
			sides[sd].mu.Lock()
			sides[1-sd].mu.Lock()
			if sides[sd].down || !sides[1-sd].down || rng.IntN(4) == 0 {
				sides[sd].down = !sides[sd].down
			}
			what = fmt.Sprintf("%s down=%v", side(sd), sides[sd].down)
			sides[1-sd].mu.Unlock()
			sides[sd].mu.Unlock()
		case r < 62: // a blip
			sd := rng.IntN(2)
			sides[sd].mu.Lock()
			sides[sd].blips += 1 + rng.IntN(5)
			sides[sd].mu.Unlock()
			what = fmt.Sprintf("%s blips", side(sd))
		case r < 71: // a refusal starts or ends (a column dropped and restored, typically while the side was down)
			sd := rng.IntN(2)
			sides[sd].mu.Lock()
			sides[sd].refusing = !sides[sd].refusing && (sides[sd].down || rng.IntN(3) == 0)
			what = fmt.Sprintf("%s refusing=%v", side(sd), sides[sd].refusing)
			if sides[sd].refusing {
				sides[sd].down = false // it answers, with a refusal
			}
			sides[sd].mu.Unlock()
			time.Sleep(100 * time.Millisecond) // the replayer tries what waits for it
		case r < 75: // a slow follower
			sd := rng.IntN(2)
			sides[sd].mu.Lock()
			sides[sd].slow = !sides[sd].slow
			sides[sd].mu.Unlock()
			what = fmt.Sprintf("%s slow", side(sd))
		case r < 87: // move authority
			to := Dual
			if s.Phase() == Dual {
				to = DualFlipped
			}
			before := s.Phase()
			err := s.SetPhase(to)
			what = fmt.Sprintf("SetPhase(%s): %v", to, err)
			if err == nil {
				// At the switch the new authority had nothing waiting; only entries kept after it
				// (for a leader that failed a write, whose caller got the error) may be there now.
				phase = to
				if before.leader() != to.leader() {
					w, err := waiting(to.leader())
					if err != nil {
						t.Fatal(err)
					}
					for _, a := range acks {
						if w[a.ts] && !lost[to.leader()][a.ts] && !sides[to.leader()].has(a.k, a.ts) {
							t.Fatalf("step %d (%s): authority moved to the %s side while acknowledged write ts=%d waited for it", step, what, to.leader(), a.ts)
						}
					}
				}
			} else if !errors.Is(err, ErrAuthorityBacklog) {
				t.Fatalf("step %d: %s", step, what)
			}
		case r < 89: // the operator retries the dead letters (cause fixed or not)
			n, err := l.RetryDeadLetters(context.Background(), nil)
			what = fmt.Sprintf("retry dead letters: %d %v", n, err)
		case r < 94: // restart on the same directory
			closeAll()
			open()
			what = "restart"
		default:
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			what = "wait"
		}
		check(step, what)
	}
	// Everything comes back: every acknowledged write reaches both sides.
	for _, m := range sides {
		m.mu.Lock()
		m.down, m.blips, m.refusing, m.slow = false, 0, false, false
		m.mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := l.RetryDeadLetters(context.Background(), nil); err != nil && !errors.Is(err, ErrReplayLogFull) {
			t.Fatal(err) // a full log takes them back once the replayer has drained it
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.WaitReplayed(ctx)
		cancel()
		d, _ := l.DeadLetters()
		if err == nil && len(d) == 0 && s.unkeptHeld() == 0 {
			break
		}
		if time.Now().After(deadline) {
			n, _ := s.Backlog()
			t.Fatalf("not drained 30s after every side came back: backlog %d, dead letters %d", n, len(d))
		}
	}
	for _, a := range acks {
		for sd, m := range sides {
			if !m.has(a.k, a.ts) && !lost[sd][a.ts] {
				t.Fatalf("acknowledged write k=%d ts=%d never reached the %s side", a.k, a.ts, side(sd))
			}
		}
	}
	t.Logf("%d acknowledged writes, lost at Close %d+%d, stats %+v", len(acks), len(lost[0]), len(lost[1]), s.Stats())
}

// Entry2 names a replay entry by side and timestamp.
type Entry2 struct {
	side string
	ts   int64
}

// heldCopies returns the async follower copies held in memory (unkept.go).
func (s *Session) heldCopies() []*Entry {
	s.unkept.mu.Lock()
	defer s.unkept.mu.Unlock()
	return append([]*Entry(nil), s.unkept.entries...)
}
