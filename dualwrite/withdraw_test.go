package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// snapshot copies dir (recursively) as a process killed at this instant leaves it: every byte
// written is in the page cache and survives a process crash; what an fsync alone protects (a
// power loss) is covered by the torn-record cases below. The session may be running: the copy
// is not taken at one instant, so it copies DIR/withdrawn before DIR (a withdrawal record is
// consumed only after DIR's cursor passed its entry: the copy of DIR is then at least as far),
// and in each log the segments before the cursor (a segment is deleted only after the cursor
// passed it).
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "snap")
	copyLog(t, filepath.Join(dir, withdrawnDir), filepath.Join(to, withdrawnDir))
	copyLog(t, dir, to)
	return to
}

// copyLog copies the files of one log directory (not its subdirectories but those it holds as
// logs of their own: deadletter, uncertain), segments first.
func copyLog(t *testing.T, dir, to string) {
	t.Helper()
	var first, last []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir() && rel == withdrawnDir:
			return filepath.SkipDir // copied on its own, first
		case d.IsDir():
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		case filepath.Ext(p) == ".seg":
			first = append(first, rel)
		default:
			last = append(last, rel)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range append(first, last...) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue // consumed and deleted meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, rel), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// replayedOnto opens a session (every side accepting) on dir, lets it replay, and returns the
// timestamps that landed on the secondary.
func replayedOnto(t *testing.T, dir string) []int64 {
	t.Helper()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := &fakeSides{}
	s := newFakeSession(t, g, WithReplayLog(l), withReplayBackoffMax(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int64(nil), g.seen[secondarySide]...)
}

// unreplayedLog is a FileLog whose Pending hands nothing out (its replayer never gets an entry).
type unreplayedLog struct{ *FileLog }

func (unreplayedLog) Pending(int) ([]Record, error) { return nil, nil }

// TestWithdrawalCrashPoints kills the process (a copy of the replay directory at that instant)
// at each point between the entry kept ahead for the down follower and the withdrawal that
// follows the leader's refusal, and checks what the next session on that directory does:
//   - entry durable, leader not answered yet (the caller has been told nothing): the entry
//     replays (outcome unknown: the choice that never loses the write when the leader accepts);
//   - the instant Exec returned the refusal, and after Close: never replayed, and no reader counts
//     it (Backlog, the secondary's owed writes, PendingEntries);
//   - the withdrawal record torn at every byte (a crash in mid-fsync): cut on open, the entry
//     replays; whole: withdrawn.
func TestWithdrawalCrashPoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "replay")
	log1, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var beforeAnswer string
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) {
		// The leader answers once the entry kept ahead for the follower is durable.
		for deadline := time.Now().Add(3 * time.Second); ; {
			if n, _ := log1.Backlog(); n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Error("the entry kept ahead never became durable")
				break
			}
			time.Sleep(time.Millisecond)
		}
		beforeAnswer = snapshot(t, dir)
		return false, errInvalidTable
	})
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	// The first session's replayer is handed nothing: had it handed out the entry, it would pass
	// (and consume) the withdrawn entry as soon as the hold is released, possibly before the
	// instants copied below, and what they hold would depend on its timing.
	s := newFakeSession(t, f, WithReplayLog(unreplayedLog{log1}))
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	const ts = 1_700_000_000_000_000
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "refused", 1).WithTimestamp(ts).Exec(); !errors.Is(err, errInvalidTable) {
		t.Fatalf("Exec = %v, want the leader's refusal", err)
	}
	told := snapshot(t, dir) // killed the instant the caller was told
	s.Close()
	log1.Close()

	if got := replayedOnto(t, beforeAnswer); len(got) != 1 || got[0] != ts {
		t.Fatalf("killed before the leader answered: replayed %v onto the secondary, want [%d] (outcome unknown: it replays)", got, ts)
	}
	for name, d := range map[string]string{"told": told, "closed": dir} {
		l, err := OpenFileLog(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := l.Backlog()
		owed, _ := l.backlogFor(secondarySide)
		pend, _ := l.PendingEntries(10)
		if n != 0 || owed != 0 || len(pend) != 0 || l.Withdrawn() != 1 {
			t.Fatalf("%s: a withdrawn entry counted: Backlog %d, owed to the secondary %d, PendingEntries %d, Withdrawn %d",
				name, n, owed, len(pend), l.Withdrawn())
		}
		l.Close()
		if got := replayedOnto(t, d); len(got) != 0 {
			t.Fatalf("%s: the next session replayed %v, a write the caller was told the leader refused", name, got)
		}
	}

	// The withdrawal record torn at every byte, as a crash during its fsync can leave it.
	seg := recordlogtest.LastFile(t, filepath.Join(told, withdrawnDir), "*.seg")
	size := recordlogtest.Size(t, seg)
	for _, zero := range []bool{false, true} {
		for at := int64(0); at <= size; at++ {
			d := snapshot(t, told)
			p := filepath.Join(d, withdrawnDir, filepath.Base(seg))
			if zero {
				recordlogtest.ZeroFill(t, p, at)
			} else {
				recordlogtest.Cut(t, p, at)
			}
			l, err := OpenFileLog(d, 0)
			if err != nil {
				t.Fatalf("torn at %d: %v", at, err)
			}
			pend, _ := l.PendingEntries(10)
			l.Close()
			whole := at == size
			if whole && len(pend) != 0 || !whole && (len(pend) != 1 || pend[0].Entry.Timestamp != ts) {
				t.Fatalf("withdrawal torn at %d of %d (zero-filled %v): %d entries pending, want %d", at, size, zero, len(pend), map[bool]int{true: 0, false: 1}[whole])
			}
		}
	}
}

// TestWithdrawalNamesOneEntry: a withdrawal names its entry by position, not by side and
// timestamp: a later write the caller gives the same timestamp (a retry of the refused write,
// accepted this time) is replayed, in this process and the next; and once the replayer has passed
// the withdrawn entry, its record is consumed (not read again at every open).
func TestWithdrawalNamesOneEntry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "replay")
	log1, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	refuse := true
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) {
		if refuse {
			return false, errInvalidTable
		}
		return true, nil
	})
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(log1), withReplayBackoffMax(10*time.Millisecond))
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	const ts = 1_700_000_000_000_000
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).WithTimestamp(ts).Exec(); err == nil {
		t.Fatal("the leader refused, Exec returned nil")
	}
	refuse = false
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).WithTimestamp(ts).Exec(); err != nil {
		t.Fatal(err)
	}
	if n := s.owedTo(secondarySide); n != 1 {
		t.Fatalf("owed to the secondary: %d, want 1 (the accepted retry; the refused write is withdrawn)", n)
	}
	s.Close()
	log1.Close()
	if got := replayedOnto(t, dir); len(got) != 1 || got[0] != ts {
		t.Fatalf("replayed %v, want the accepted retry [%d] once", got, ts)
	}
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Backlog(); n != 0 || l.Withdrawn() != 0 || len(l.voids.recs) != 0 {
		t.Fatalf("after the replay: Backlog %d, Withdrawn %d, withdrawal records still read %d", n, l.Withdrawn(), len(l.voids.recs))
	}
}

// holdModel is the two sides as TestModelHoldWithdraw sees them: the leader answers each write as
// the step chose (accept, refuse outright, or time out without applying), replays always land on
// it; the follower is up or down, and records which timestamps reached it through the replay log.
type holdModel struct {
	mu       sync.Mutex
	leader   map[int64]error // the leader's answer to the caller's write of that timestamp
	down     bool            // the follower fails every write
	replayed map[int64]bool  // timestamps the replayer applied on the follower
	direct   map[int64]bool  // timestamps the caller's own follower write applied
	crashAt  func()          // called inside the leader's answer (a kill while the write is in flight)
}

func (m *holdModel) exec(_ context.Context, sd side, op *writeOp) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sd == primarySide {
		if op.idempotent {
			return true, nil // a replay onto the leader
		}
		if m.crashAt != nil {
			crash := m.crashAt
			m.crashAt = nil
			m.mu.Unlock()
			crash()
			m.mu.Lock()
		}
		return m.leader[op.ts] == nil, m.leader[op.ts]
	}
	if m.down {
		return false, transientErr{}
	}
	if op.idempotent {
		m.replayed[op.ts] = true
	} else {
		m.direct[op.ts] = true
	}
	return true, nil
}

// TestModelHoldWithdraw drives the real session, hold, withdrawal and FileLog with random writes
// whose leader accepts, refuses outright or times out, a follower going down and up, orderly
// Close and reopen, and kills (a copy of the directory taken between two steps, or from inside a
// write the leader has not answered yet, taken over by the next session), and checks after every
// step:
//   - a write whose caller was told the leader refused never reaches the follower through the
//     replay log, nor waits for it there (PendingEntries, backlogFor);
//   - every acknowledged write is on the follower or waits for it in the log;
//   - Backlog and backlogFor count exactly the entries PendingEntries lists.
//
// At the end the follower comes back: every acknowledged write reaches it, no refused one does.
// A write in flight at a kill has no answer in the world that goes on: it is checked by neither.
func TestModelHoldWithdraw(t *testing.T) {
	seeds, steps := 6, 120
	if testing.Short() {
		seeds, steps = 2, 50
	}
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runHoldModel(t, uint64(seed), steps) })
	}
}

func runHoldModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x3030))
	m := &holdModel{leader: map[int64]error{}, replayed: map[int64]bool{}, direct: map[int64]bool{}}
	dir := filepath.Join(t.TempDir(), "replay")
	var s *Session
	var l *FileLog
	open := func() {
		var err error
		if l, err = OpenFileLog(dir, 0); err != nil {
			t.Fatal(err)
		}
		s, err = newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
			[]Option{withExecHook(m.exec), WithReplayLog(l), WithPhase(Dual), WithFollowerBudget(5 * time.Millisecond),
				WithReplayWorkers(2), withReplayBackoffMax(5 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
	}
	closeAll := func() { s.Close(); l.Close() }
	// takeOver continues on a copy of the directory made at a kill: the old process is closed (its
	// later effects go to the old directory, which nobody reads again).
	takeOver := func(snap string) {
		closeAll()
		dir = snap
		open()
	}
	open()
	defer func() { closeAll() }()
	acked, refused := map[int64]bool{}, map[int64]bool{}
	ts := int64(1_700_000_000_000_000)
	var hist []string
	defer func() {
		if t.Failed() {
			t.Logf("history (last steps):\n%s", strings.Join(hist[max(0, len(hist)-25):], "\n"))
		}
	}()

	check := func(step int, what string) {
		t.Helper()
		hist = append(hist, fmt.Sprintf("%d: %s", step, what))
		// An entry kept ahead of a leader that accepted may still be on its way to the log.
		for s.stats.appending.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
		// The replayer runs meanwhile and the log only shrinks between steps: what Backlog and
		// backlogFor say before the listing is at least what it lists, and after it at most.
		before, _ := l.Backlog()
		secBefore, _ := l.backlogFor(secondarySide)
		pend, err := l.PendingEntries(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := l.Backlog()
		secAfter, _ := l.backlogFor(secondarySide)
		waiting := map[int64]bool{}
		var sec int64
		for _, r := range pend {
			if r.Entry.Side == secondarySide.String() {
				waiting[r.Entry.Timestamp] = true
				sec++
			}
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		for w := range refused {
			if m.replayed[w] || waiting[w] {
				t.Fatalf("step %d (%s): a write whose caller was told the leader refused it (ts=%d) reached the follower through the log (replayed %v, waiting %v)",
					step, what, w, m.replayed[w], waiting[w])
			}
		}
		for a := range acked {
			if !m.replayed[a] && !m.direct[a] && !waiting[a] {
				t.Fatalf("step %d (%s): acknowledged write ts=%d is neither on the follower nor waiting for it", step, what, a)
			}
		}
		if n := int64(len(pend)); before < n || after > n {
			t.Fatalf("step %d (%s): Backlog %d then %d, PendingEntries %d between", step, what, before, after, n)
		}
		if secBefore < sec || secAfter > sec {
			t.Fatalf("step %d (%s): backlogFor(secondary) %d then %d, PendingEntries for it %d between", step, what, secBefore, secAfter, sec)
		}
	}
	for step := 0; step < steps; step++ {
		var what string
		switch r := rng.IntN(100); {
		case r < 55: // a write; the leader accepts, refuses or times out
			ts++
			var lerr error
			switch x := rng.IntN(10); {
			case x < 4:
				lerr = invalidErr{}
			case x < 5:
				lerr = transientErr{}
			}
			var snap string
			m.mu.Lock()
			m.leader[ts] = lerr
			down := m.down
			if rng.IntN(8) == 0 {
				m.crashAt = func() {
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond) // the entry kept ahead may or may not be durable
					snap = snapshot(t, dir)
				}
			}
			m.mu.Unlock()
			if down && rng.IntN(2) == 0 {
				for i := 0; i < downAfter; i++ {
					s.sides[secondarySide].noteFollower(false)
				}
			}
			err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "v", 1).WithTimestamp(ts).Exec()
			what = fmt.Sprintf("write ts=%d leader=%v follower down=%v: %v", ts, lerr, down, err)
			if snap != "" {
				what += " (killed while the leader answered)"
				takeOver(snap)
				break
			}
			switch {
			case err == nil:
				acked[ts] = true
			case errors.Is(err, invalidErr{}):
				refused[ts] = true
			}
		case r < 70:
			m.mu.Lock()
			m.down = !m.down
			what = fmt.Sprintf("follower down=%v", m.down)
			m.mu.Unlock()
		case r < 82:
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			what = "wait"
		case r < 91:
			closeAll()
			open()
			what = "close and reopen"
		default:
			takeOver(snapshot(t, dir))
			what = "killed between steps"
		}
		check(step, what)
	}
	m.mu.Lock()
	m.down = false
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	check(steps, "drained")
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := range acked {
		if !m.replayed[a] && !m.direct[a] {
			t.Fatalf("acknowledged write ts=%d never reached the follower", a)
		}
	}
	t.Logf("%d acknowledged, %d refused, stats %+v", len(acked), len(refused), s.Stats())
}

// TestUncertainCounterHoldsAuthorityUntilDropped: a counter workload under the conservative rule.
// A counter update whose follower timed out (acknowledged: the leader took it) is uncertain for
// the secondary; dual → dual-flipped is refused with ErrAuthorityBacklog naming the count and
// the command that clears it, and so is opening a later session straight into dual-flipped; once
// the operator has reconciled it and dropped it (`islands replay drop --uncertain`), the switch
// goes through. An uncertain write for the primary does not hold the secondary's authority.
func TestUncertainCounterHoldsAuthorityUntilDropped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "replay")
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The primary's record is one a dual process leaves when its leader (the primary) fails: the
	// caller was told so (Unacked), and it does not hold the primary's authority at open. An
	// unmarked (acknowledged) one would (TestAttack7OpenIntoDualOverAckedUncertainCounterForPrimary).
	if err := l.RecordUncertain(context.Background(), &Entry{Side: "primary", Timestamp: 1, Unacked: true,
		Stmts: []Stmt{{Stmt: "UPDATE hits SET c = c + ? WHERE k = ?", Values: []any{int64(1), 9}}}}, transientErr{}); err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(l))
	if err := s.Query("UPDATE hits SET c = c + ? WHERE k = ?", int64(1), 1).Exec(); err != nil {
		t.Fatalf("counter update acknowledged by the leader: %v", err)
	}
	err = s.SetPhase(DualFlipped)
	if !errors.Is(err, ErrAuthorityBacklog) || s.Phase() != Dual {
		t.Fatalf("SetPhase(DualFlipped) over an uncertain counter update for the secondary = %v (phase %s), want ErrAuthorityBacklog", err, s.Phase())
	}
	for _, want := range []string{"1 uncertain writes for the secondary side", "islands replay drop --uncertain --yes"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("SetPhase's error %q does not say %q", err, want)
		}
	}
	s.Close()
	if _, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayLog(l), WithPhase(DualFlipped)}); !errors.Is(err, ErrAuthorityBacklog) {
		t.Fatalf("opening in dual-flipped over an uncertain write for the secondary = %v, want ErrAuthorityBacklog", err)
	}
	// The operator reconciles the secondary's counter, then drops the entry (by its ID).
	var id int
	un, _ := l.UncertainEntries()
	for _, a := range un {
		if a.Entry.Side == "secondary" {
			id = a.ID
		}
	}
	if n, err := l.DropUncertain(context.Background(), []int{id}); err != nil || n != 1 {
		t.Fatalf("DropUncertain = %d, %v", n, err)
	}
	s2 := newFakeSession(t, &fakeSides{}, WithReplayLog(l))
	defer s2.Close()
	if err := s2.SetPhase(DualFlipped); err != nil {
		t.Fatalf("SetPhase(DualFlipped) once the secondary's uncertain write is dropped (the primary's left): %v", err)
	}
}

// withdrawn.go invariant 6: the withdrawal of a failed append's entry (recordlog.ErrUncut) whose
// record did not survive marks nothing: the backlog is not reduced for it, in this process or
// after a reopen, and no later entry is passed in its place.
func TestWithdrawUncutPositionNotHeld(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := func(ts int64) *Entry {
		return &Entry{Side: "secondary", Timestamp: ts, Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (?)", Values: []any{ts}}}}
	}
	pos, err := l.appendAt(ctx, e(1))
	if err != nil {
		t.Fatal(err)
	}
	// Where a failed, uncut append of the same size after it would have ended.
	ghost := Pos{Segment: pos.Segment, Offset: 2 * pos.Offset}
	if handed, err := l.withdraw(ctx, ghost, e(2)); err != nil || handed {
		t.Fatalf("withdraw of a position the log does not hold: handed out %v, %v", handed, err)
	}
	if n, _ := l.Backlog(); n != 1 {
		t.Fatalf("backlog %d after withdrawing an entry the log does not hold, want 1", n)
	}
	l.Close()
	l, err = OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Backlog(); n != 1 {
		t.Fatalf("after a reopen, backlog %d, want 1", n)
	}
	for ts := int64(3); ts < 6; ts++ {
		if _, err := l.appendAt(ctx, e(1)); err != nil { // same size as the ghost's neighbour
			t.Fatal(err)
		}
	}
	recs, err := l.Pending(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d entries pending, want 4", len(recs))
	}
	for _, r := range recs {
		if r.SetAside {
			t.Fatalf("entry at %s passed as withdrawn; only %s (never written) was", r.Pos, ghost)
		}
	}
}
