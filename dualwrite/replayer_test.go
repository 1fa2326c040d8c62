package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// fakeSide applies entries in memory; fail decides, per entry and attempt, the error to return.
// Pure logic: the replay loop's ordering and bookkeeping, not Cassandra (the integration test
// TestDualwriteReplayPoisonEntry runs the same on the real regions).
type fakeSide struct {
	mu       sync.Mutex
	attempts map[int64]int
	landed   map[int64]int
	fail     func(ts int64, attempt int) error
}

func (f *fakeSide) apply(_ context.Context, e *Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[e.Timestamp]++
	if err := f.fail(e.Timestamp, f.attempts[e.Timestamp]); err != nil {
		return err
	}
	f.landed[e.Timestamp]++
	return nil
}

// invalidErr is the class of error Cassandra answers for a statement it refuses (undefined column,
// unconfigured table): code 0x2200, gocql.ErrCodeInvalid.
type invalidErr struct{}

func (invalidErr) Code() int       { return gocql.ErrCodeInvalid }
func (invalidErr) Message() string { return "Undefined column name dropped_col" }
func (invalidErr) Error() string   { return "Undefined column name dropped_col" }

var errInvalidTable = invalidErr{}

type transientErr struct{}

func (transientErr) Error() string { return "timeout" }

func runReplay(t *testing.T, l ReplayLog, f *fakeSide, until func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replayCore{log: l, apply: f.apply, workers: 8, backoffMax: 2 * time.Millisecond}
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for !until() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			n, _ := l.Backlog()
			t.Fatalf("replay did not finish: backlog %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func fillLog(t *testing.T, l ReplayLog, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), &Entry{Side: "secondary", Timestamp: int64(i),
			Stmts: []Stmt{{Stmt: fmt.Sprintf("INSERT INTO ks.t (k) VALUES (%d)", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// One entry the side refuses (permanent) among many: every other entry lands, the cursor passes
// it, and it is in the dead-letter log with its statement. Before this replayer, the entry was
// retried forever and its whole chunk never passed.
func TestReplayPoisonEntryIsDeadLettered(t *testing.T) {
	l, err := OpenFileLog(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fillLog(t, l, 2000)
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, _ int) error {
		if ts == 77 {
			return fmt.Errorf("undefined column: %w", errInvalidTable)
		}
		return nil
	}}
	runReplay(t, l, f, func() bool { n, _ := l.Backlog(); return n == 0 })
	if len(f.landed) != 1999 || f.landed[77] != 0 {
		t.Fatalf("%d entries landed (poison landed %d times), want 1999", len(f.landed), f.landed[77])
	}
	// A refusal is dead-lettered after the floor of attempts (issue 22, item 2: a schema change
	// or a grant may still be on its way), not at the first one.
	if f.attempts[77] != deadLetterMinAttempts {
		t.Fatalf("the poison entry was tried %d times, want %d (permanent, after the floor)", f.attempts[77], deadLetterMinAttempts)
	}
	dead, err := l.DeadLetters()
	if err != nil || len(dead) != 1 || dead[0].Entry.Timestamp != 77 || dead[0].Cause == "" {
		t.Fatalf("dead letters %+v %v", dead, err)
	}
}

// A transient failure is retried until it lands, never dead-lettered while the side is down for
// everyone (nothing else lands), and the replay does not wait for the whole log to land.
func TestReplayTransientFailuresRetried(t *testing.T) {
	l := NewMemLog()
	fillLog(t, l, 300)
	var mu sync.Mutex
	down := true
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, attempt int) error {
		mu.Lock()
		defer mu.Unlock()
		if down || (ts == 5 && attempt < 4) {
			return transientErr{}
		}
		return nil
	}}
	go func() {
		time.Sleep(300 * time.Millisecond) // an outage: many attempts each, nobody lands
		mu.Lock()
		down = false
		mu.Unlock()
	}()
	runReplay(t, l, f, func() bool { n, _ := l.Backlog(); return n == 0 })
	if len(l.DeadLetters()) != 0 || len(f.landed) != 300 {
		t.Fatalf("dead-lettered %d, landed %d; want 0 and 300", len(l.DeadLetters()), len(f.landed))
	}
}

// An entry that keeps failing with a transient error while the others land is stuck, not waiting
// for its side: it is dead-lettered so that the cursor and the log's space move on.
func TestReplayStuckEntryIsDeadLettered(t *testing.T) {
	l := NewMemLog()
	fillLog(t, l, 500)
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, _ int) error {
		if ts == 3 {
			return transientErr{}
		}
		return nil
	}}
	runReplay(t, l, f, func() bool { n, _ := l.Backlog(); return n == 0 })
	dead := l.DeadLetters()
	if len(dead) != 1 || dead[0].Entry.Timestamp != 3 || f.attempts[3] < stuckAttempts {
		t.Fatalf("dead letters %+v after %d attempts", dead, f.attempts[3])
	}
}

func TestReplayPermanentClasses(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{invalidErr{}, true},
		{fmt.Errorf("x: %w", gocql.MarshalError("can not marshal string into int")), true},
		{ErrUnencodable, true},
		{transientErr{}, false},
		{gocql.ErrNoConnections, false},
		{context.DeadlineExceeded, false},
		{&gocql.RequestErrWriteTimeout{}, false},
	} {
		if got := replayPermanent(c.err); got != c.want {
			t.Errorf("%T %v: permanent %v, want %v", c.err, c.err, got, c.want)
		}
	}
	_ = errors.New
}
