package dualwrite

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func withHealAfter(d time.Duration) Option { return func(c *config) { c.healAfter = d } }

// Defect 12: a session made with New over a gocql session whose pool emptied cannot rebuild it;
// it says so, naming the side and Open, again while it lasts, and sets a metric.
func TestNewCannotHealWarns(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, gocql.ErrNoConnections })
	var logs syncBuf
	reg := prometheus.NewRegistry()
	s := newFakeSession(t, f, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithRegisterer(reg), withHealAfter(5*time.Millisecond))
	defer s.Close()
	for i := 0; i < 40; i++ {
		if err := s.Query("INSERT INTO ks.t (k) VALUES (?)", i).Exec(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var warnings int
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "side=secondary") && strings.Contains(line, "Open") {
			warnings++
		}
	}
	if warnings < 2 {
		t.Fatalf("%d warnings naming the secondary side and Open, want it said and repeated; logs:\n%s", warnings, logs.String())
	}
	if v := gauge(t, reg, "islands_dualwrite_side_cannot_heal", "secondary"); v != 1 {
		t.Fatalf("islands_dualwrite_side_cannot_heal{side=secondary} = %v, want 1", v)
	}
	f.set(secondarySide, nil) // the caller's session recovered
	if err := s.Query("INSERT INTO ks.t (k) VALUES (?)", -1).Exec(); err != nil {
		t.Fatal(err)
	}
	// The secondary counts as down by now, so that Exec did not wait for its follower request
	// (it returned on the leader's answer, the entry kept ahead): the side is seen recovered once
	// one of its writes landed. Once the backlog (the 41 writes kept for it) has been replayed,
	// it has; failures of requests begun before that no longer count
	// (TestCannotHealIgnoresFailuresBegunBeforeRecovery).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, reg, "islands_dualwrite_side_cannot_heal", "secondary"); v != 0 {
		t.Fatalf("metric %v after the side recovered, want 0", v)
	}
}

// gauge returns the value of the series name{side=sd} in reg (-1 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, name, sd string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "side" && lp.GetValue() == sd {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// A request that began before the side was seen healthy again and fails after it says nothing
// about the side now: it must not bring the cannot-heal warning and metric back (under load, the
// follower requests of a down side's last failing writes answer after the first success). A
// failure of a request that began after the recovery still counts.
func TestCannotHealIgnoresFailuresBegunBeforeRecovery(t *testing.T) {
	f := &fakeSides{}
	entered := make(chan struct{})
	release := make(chan struct{})
	failing := func(ctx context.Context, op *writeOp) (bool, error) {
		if op.ts < 0 { // a request held until the test releases it
			entered <- struct{}{}
			<-release
		}
		return false, gocql.ErrNoConnections
	}
	f.set(secondarySide, failing)
	reg := prometheus.NewRegistry()
	s := newFakeSession(t, f, WithRegisterer(reg), withHealAfter(0))
	defer s.Close()
	op := func(ts int64) *writeOp {
		return &writeOp{ctx: context.Background(), ts: ts, stmts: []Stmt{{Stmt: "INSERT INTO ks.t (k) VALUES (?)", Values: []any{1}}}}
	}
	if _, err := s.exec(context.Background(), secondarySide, op(1), nil, nil); !errorsIs(err, gocql.ErrNoConnections) {
		t.Fatalf("exec: %v, want ErrNoConnections", err)
	}
	if v := gauge(t, reg, "islands_dualwrite_side_cannot_heal", "secondary"); v != 1 {
		t.Fatalf("metric %v while the side has no connections, want 1", v)
	}
	// Two requests begin while the side fails, and stay in flight.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.exec(context.Background(), secondarySide, op(-1), nil, nil)
		}()
		<-entered
	}
	f.set(secondarySide, nil) // the caller's session recovered
	if _, err := s.exec(context.Background(), secondarySide, op(2), nil, nil); err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, reg, "islands_dualwrite_side_cannot_heal", "secondary"); v != 0 {
		t.Fatalf("metric %v after the side recovered, want 0", v)
	}
	close(release) // the two stale requests fail now, after the recovery
	wg.Wait()
	if v := gauge(t, reg, "islands_dualwrite_side_cannot_heal", "secondary"); v != 0 {
		t.Fatalf("metric %v after requests begun before the recovery failed, want 0", v)
	}
	// The pool empties again: requests begun from now on count.
	f.set(secondarySide, failing)
	if _, err := s.exec(context.Background(), secondarySide, op(3), nil, nil); !errorsIs(err, gocql.ErrNoConnections) {
		t.Fatalf("exec: %v, want ErrNoConnections", err)
	}
	if v := gauge(t, reg, "islands_dualwrite_side_cannot_heal", "secondary"); v != 1 {
		t.Fatalf("metric %v once the side failed again, want 1", v)
	}
}
