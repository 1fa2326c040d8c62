package dualwrite

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logCapture is a slog handler's writer that tests read line by line.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// take returns the lines written since the last take that contain want (all when want is "").
func (c *logCapture) take(want string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(c.buf.String()), "\n") {
		if l != "" && strings.Contains(l, want) {
			out = append(out, l)
		}
	}
	c.buf.Reset()
	return out
}

// field returns the integer value of key=N in a text log line (-1 when absent).
func field(line, key string) int {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, err := strconv.Atoi(v)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// TestHealthLogsFollowerOutage (issue 31, item 4): a follower outage is not silent. The session's
// watcher (driven tick by tick with a fake time) logs once when the secondary starts failing and
// the backlog starts growing, at most once per interval while it lasts, and once when the side
// answers again and once when the backlog has drained, with the counts in that one line.
func TestHealthLogsFollowerOutage(t *testing.T) {
	logs := &logCapture{}
	f := &fakeSides{}
	var down atomic.Bool
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
		if down.Load() {
			return false, errors.New("secondary: no response within timeout")
		}
		return true, nil
	})
	// A budget no scheduling delay reaches: this test is about failures, not lateness.
	s := newFakeSession(t, f, WithHealthLog(0, 30*time.Second), withReplayBackoffMax(5*time.Millisecond), WithFollowerBudget(time.Minute),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	defer s.Close()
	write := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "v").Exec(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t0 := time.Unix(1_800_000_000, 0)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	s.checkHealth(at(0))
	write(3)
	s.checkHealth(at(1))
	if l := logs.take(""); len(l) != 0 {
		t.Fatalf("healthy writes logged %q", l)
	}

	down.Store(true)
	write(5)
	s.checkHealth(at(2))
	l := logs.take("")
	if len(l) != 2 || !strings.Contains(l[0], "started failing") || !strings.Contains(l[0], "side=secondary") ||
		!strings.Contains(l[0], "errors=5") || !strings.Contains(l[1], "backlog started growing") || !strings.Contains(l[1], "backlog=5") {
		t.Fatalf("outage start: got %q", l)
	}
	for sec := 3; sec < 32; sec++ { // 29 more seconds of outage: nothing until 30 s after the first line
		write(1)
		s.checkHealth(at(sec))
		if l := logs.take(""); len(l) != 0 {
			t.Fatalf("second %d: rate limit broken: %q", sec, l)
		}
	}
	write(1)
	s.checkHealth(at(32))
	l = logs.take("")
	// Once the follower counts as down (8 misses in a row) callers stop waiting for it: its later
	// writes count as late at once and as errors when their background request ends.
	if len(l) != 2 || !strings.Contains(l[0], "still failing") || field(l[0], "errors") < 5 || field(l[0], "errors")+field(l[0], "late") < 35 ||
		!strings.Contains(l[1], "still growing") || !strings.Contains(l[1], "backlog=35") {
		t.Fatalf("outage still on at 30 s: got %q", l)
	}

	down.Store(false)
	// The side counts as down (callers do not wait for it) until one of its background writes
	// lands in time: write until then, and let every background follower write end.
	for s.sides[secondarySide].down() {
		write(1)
		time.Sleep(time.Millisecond)
	}
	s.bgWG.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	s.checkHealth(at(33))
	l = logs.take("")
	if len(l) != 1 || !strings.Contains(l[0], "backlog has drained") || field(l[0], "failed") < 35 ||
		field(l[0], "kept") != field(l[0], "replayed") || field(l[0], "kept") < 35 || !strings.Contains(l[0], "dead_lettered=0") {
		t.Fatalf("drained: got %q", l)
	}
	s.checkHealth(at(34))
	s.checkHealth(at(35))
	s.checkHealth(at(36)) // the third quiet tick ends the side's episode
	l = logs.take("")
	if len(l) != 1 || !strings.Contains(l[0], "answers again") || !strings.Contains(l[0], "side=secondary") || field(l[0], "errors") < 5 {
		t.Fatalf("recovered: got %q", l)
	}
	for sec := 37; sec < 100; sec++ {
		write(1)
		s.checkHealth(at(sec))
	}
	if l := logs.take(""); len(l) != 0 {
		t.Fatalf("healthy again, logged %q", l)
	}
}

// TestHealthLogModel drives the watcher with random outages, recoveries and ticks and checks its
// invariants after every tick: per side and for the backlog, start and end lines alternate
// (starting with a start), a repeated line comes at least `every` after the episode's previous
// line, and a side with failures in a tick is in an episode.
func TestHealthLogModel(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		logs := &logCapture{}
		f := &fakeSides{}
		var down atomic.Bool
		f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
			if down.Load() {
				return false, errors.New("secondary: timeout")
			}
			return true, nil
		})
		every := 10 * time.Second
		s := newFakeSession(t, f, WithHealthLog(0, every), withReplayBackoffMax(time.Millisecond),
			WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		now := time.Unix(1_800_000_000, 0)
		type state struct {
			on       bool
			lastLine time.Time
		}
		var side, backlog state
		check := func(lines []string, st *state, start, repeat, end string) {
			t.Helper()
			for _, l := range lines {
				switch {
				case strings.Contains(l, start):
					if st.on {
						t.Fatalf("seed %d: %q while an episode is on", seed, l)
					}
					st.on, st.lastLine = true, now
				case strings.Contains(l, repeat):
					if !st.on || now.Sub(st.lastLine) < every {
						t.Fatalf("seed %d: %q %v after the previous line (on %v)", seed, l, now.Sub(st.lastLine), st.on)
					}
					st.lastLine = now
				case strings.Contains(l, end):
					if !st.on {
						t.Fatalf("seed %d: %q with no episode on", seed, l)
					}
					st.on = false
				}
			}
		}
		for step := 0; step < 300; step++ {
			if rng.IntN(20) == 0 {
				down.Store(!down.Load())
			}
			failing := down.Load()
			for i := rng.IntN(3); i > 0; i-- {
				if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", step, i).Exec(); err != nil {
					t.Fatal(err)
				}
			}
			now = now.Add(time.Second)
			s.checkHealth(now)
			lines := logs.take("")
			check(lines, &side, "started failing", "still failing", "answers again")
			check(lines, &backlog, "started growing", "still growing", "has drained")
			if failing && s.Stats().FollowerFailed > 0 && !side.on && s.health.sides[secondarySide].on {
				t.Fatalf("seed %d: episode on without its start line", seed)
			}
		}
		s.Close()
	}
}

// TestHealthLogsLateFollower: a follower that answers, but past its budget, is logged as missing
// it (late=N), though no request failed.
func TestHealthLogsLateFollower(t *testing.T) {
	logs := &logCapture{}
	f := &fakeSides{}
	release := make(chan struct{})
	f.set(secondarySide, blockUntil(release))
	s := newFakeSession(t, f, WithHealthLog(0, time.Minute), WithFollowerBudget(10*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	defer s.Close()
	t0 := time.Unix(1_800_000_000, 0)
	s.checkHealth(t0)
	for i := 0; i < 3; i++ {
		if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "v").Exec(); err != nil {
			t.Fatal(err)
		}
	}
	s.checkHealth(t0.Add(time.Second))
	close(release)
	l := logs.take("started failing")
	if len(l) != 1 || !strings.Contains(l[0], "late=3") || !strings.Contains(l[0], "side=secondary") {
		t.Fatalf("late follower: got %q", l)
	}
}
