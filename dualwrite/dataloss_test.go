package dualwrite

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/recordlog"
)

// authUnavailableErr is what CassandraAuthorizer answers when it cannot read system_auth (the
// outage the replay log exists for): code 0x2100, gocql.ErrCodeUnauthorized, and yet transient.
type authUnavailableErr struct{}

func (authUnavailableErr) Code() int { return gocql.ErrCodeUnauthorized }
func (authUnavailableErr) Message() string {
	return "Unable to perform authorization of permissions: Cannot achieve consistency level LOCAL_ONE"
}
func (e authUnavailableErr) Error() string { return e.Message() }

// unauthorizedErr is a plain "no permission" answer.
type unauthorizedErr struct{}

func (unauthorizedErr) Code() int { return gocql.ErrCodeUnauthorized }
func (unauthorizedErr) Message() string {
	return "User app has no MODIFY permission on <table ks.t> or any of its parents"
}
func (e unauthorizedErr) Error() string { return e.Message() }

// syntaxErr is a statement Cassandra cannot parse: it never lands, whatever the outage.
type syntaxErr struct{}

func (syntaxErr) Code() int       { return gocql.ErrCodeSyntax }
func (syntaxErr) Message() string { return "line 1:0 no viable alternative at input 'INSRT'" }
func (e syntaxErr) Error() string { return e.Message() }

// Defect 1: the secondary is down for everyone while the primary's entries land. The secondary's
// entry must not be dead-lettered because entries of the *other* side land.
func TestReplayStuckRuleIsPerSide(t *testing.T) {
	l := NewMemLog()
	ctx := context.Background()
	if err := l.Append(ctx, &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (1)"}}}); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 400; i++ {
		if err := l.Append(ctx, &Entry{Side: "primary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (2)"}}}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, _ int) error {
		if ts == 1 {
			return transientErr{} // the secondary is down
		}
		return nil
	}}
	runReplay(t, l, f, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.landed) == 399 && (f.attempts[1] >= 3*stuckAttempts || len(l.DeadLetters()) > 0)
	})
	if d := l.DeadLetters(); len(d) != 0 {
		t.Fatalf("the down secondary's entry was dead-lettered after %d attempts because the primary's entries landed: %+v", f.attempts[1], d[0].Cause)
	}
	if n, _ := l.Backlog(); n == 0 {
		t.Fatal("backlog 0 while the secondary still misses an acknowledged write")
	}
}

// Defect 1, second half: a dead letter for a side is backlog for that side's authority.
func TestSetPhaseRefusesAuthorityWithDeadLetters(t *testing.T) {
	f := &fakeSides{}
	l := NewMemLog()
	s := newFakeSession(t, f, WithReplayLog(l))
	defer s.Close()
	if err := l.DeadLetter(context.Background(), Record{Entry: Entry{Side: "secondary", Timestamp: 7,
		Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (1)"}}}}, errors.New("set aside")); err != nil {
		t.Fatal(err)
	}
	err := s.SetPhase(DualFlipped)
	if !errors.Is(err, ErrAuthorityBacklog) || s.Phase() != Dual {
		t.Fatalf("SetPhase(DualFlipped) with a dead letter for the secondary: err %v, phase %s; want ErrAuthorityBacklog", err, s.Phase())
	}
	// A dead letter for the primary does not stand in the way of the secondary.
	f2 := &fakeSides{}
	l2 := NewMemLog()
	s2 := newFakeSession(t, f2, WithReplayLog(l2))
	defer s2.Close()
	_ = l2.DeadLetter(context.Background(), Record{Entry: Entry{Side: "primary", Timestamp: 7}}, errors.New("x"))
	if err := s2.SetPhase(DualFlipped); err != nil {
		t.Fatalf("a primary dead letter refused authority for the secondary: %v", err)
	}
}

// Defect 2: CassandraAuthorizer's "cannot read system_auth" answer is transient: retried, never
// dead-lettered while it lasts.
func TestReplayTransientUnauthorizedRetried(t *testing.T) {
	l := NewMemLog()
	fillLog(t, l, 5)
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, attempt int) error {
		if attempt <= 4 {
			return authUnavailableErr{}
		}
		return nil
	}}
	runReplay(t, l, f, func() bool { n, _ := l.Backlog(); return n == 0 })
	if d := l.DeadLetters(); len(d) != 0 || len(f.landed) != 5 {
		t.Fatalf("dead-lettered %d (%v), landed %d; want 0 and 5", len(d), d, len(f.landed))
	}
}

// Defect 2 on the write path: a follower answering the authorizer's outage error is kept for
// replay, not reported as a refusal.
func TestFollowerTransientUnauthorizedKept(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, authUnavailableErr{} })
	s := newFakeSession(t, f)
	defer s.Close()
	if err := s.Query("INSERT INTO ks.t (k, v) VALUES (1, 'a')").Exec(); err != nil {
		t.Fatalf("write whose follower could not authorize: %v", err)
	}
	if n, _ := s.Backlog(); n != 1 {
		t.Fatalf("backlog %d, want the write kept for the secondary", n)
	}
}

// Defect 2: an unauthorized answer for a statement that succeeded before on the same table is
// transient (the authorizer's cache or system_auth, not the grant).
func TestFollowerUnauthorizedAfterSuccessKept(t *testing.T) {
	f := &fakeSides{}
	s := newFakeSession(t, f)
	defer s.Close()
	if err := s.Query("INSERT INTO ks.t (k, v) VALUES (1, 'a')").Exec(); err != nil {
		t.Fatal(err)
	}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, unauthorizedErr{} })
	if err := s.Query("INSERT INTO ks.t (k, v) VALUES (2, 'b')").Exec(); err != nil {
		t.Fatalf("write to a table the follower accepted before: %v", err)
	}
	if n, _ := s.Backlog(); n != 1 {
		t.Fatalf("backlog %d, want the write kept for the secondary", n)
	}
}

// Defect 2: dead-lettering has a floor of attempts for every class but syntax and unencodable.
func TestDeadLetterFloor(t *testing.T) {
	l := NewMemLog()
	fillLog(t, l, 2)
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, _ int) error {
		if ts == 1 {
			return unauthorizedErr{}
		}
		return syntaxErr{}
	}}
	runReplay(t, l, f, func() bool { return len(l.DeadLetters()) == 2 })
	if f.attempts[2] != 1 {
		t.Errorf("a syntax error was tried %d times before dead-lettering, want 1", f.attempts[2])
	}
	if f.attempts[1] < deadLetterMinAttempts {
		t.Errorf("an unauthorized answer was dead-lettered after %d attempts, want at least %d", f.attempts[1], deadLetterMinAttempts)
	}
}

// Defect 3: when dead-lettering an undecodable entry fails, Pending must leave the read position
// at that entry: the entries after it are handed out later, never skipped by Done.
func TestFileLogPendingAsideFailureKeepsPosition(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	ctx := context.Background()
	appendN(t, l, 3)
	if _, err := l.log.Append(ctx, []byte{0xff, 0x00}); err != nil { // not an entry
		t.Fatal(err)
	}
	for i := 10; i < 12; i++ {
		if err := l.Append(ctx, &Entry{Side: "secondary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (1)"}}}); err != nil {
			t.Fatal(err)
		}
	}
	l.dead.Close() // the dead-letter log fails
	recs, err := l.Pending(100)
	if err == nil {
		t.Fatal("Pending hid the dead-letter failure")
	}
	if len(recs) > 0 {
		if err := l.Done(recs[len(recs)-1].Pos); err != nil {
			t.Fatal(err)
		}
	}
	got := int64(len(recs))
	if l.dead, err = recordlog.Open(dir+"/"+deadLetterDir, recordlog.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range drainAll(t, l, 5*time.Second) {
		got++
		_ = r
	}
	if got != 5 {
		t.Fatalf("%d entries handed out, want 5 (the two after the undecodable one were skipped)", got)
	}
	if d, _ := l.DeadLetters(); len(d) != 1 {
		t.Fatalf("dead letters %d, want the undecodable entry", len(d))
	}
}

// Defect 7: as many failing entries for a down side as there are workers must not stall the
// healthy side, nor must one failing entry at the head of the window.
func TestReplayHealthySideNotStalled(t *testing.T) {
	for _, c := range []struct {
		name         string
		down, health int
	}{{"as many down entries as workers", 16, 100}, {"one down entry before a long log", 1, 3000}} {
		t.Run(c.name, func(t *testing.T) {
			l := NewMemLog()
			ctx := context.Background()
			for i := 1; i <= c.down; i++ {
				_ = l.Append(ctx, &Entry{Side: "primary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (1)"}}})
			}
			for i := c.down + 1; i <= c.down+c.health; i++ {
				_ = l.Append(ctx, &Entry{Side: "secondary", Timestamp: int64(i), Stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (1)"}}})
			}
			var landed atomic.Int64
			f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(ts int64, _ int) error {
				if ts <= int64(c.down) {
					return transientErr{}
				}
				landed.Add(1)
				return nil
			}}
			cctx, cancel := context.WithCancel(ctx)
			r := &replayCore{log: l, apply: f.apply, workers: 8, backoffMax: 5 * time.Millisecond}
			done := make(chan struct{})
			go func() { r.run(cctx); close(done) }()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(10 * time.Second)
			for landed.Load() < int64(c.health) {
				if time.Now().After(deadline) {
					t.Fatalf("the healthy side got %d of %d entries in 10s while the other side was down", landed.Load(), c.health)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
