package dualwrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// Tests of options and helpers nothing else in the module calls (issue 28: every exported name is
// used or tested).

// ExampleParsePolicy: a policy named in a configuration file.
func ExampleParsePolicy() {
	for _, name := range []string{"primary-authoritative", "strict", "async", "eventual"} {
		p, err := ParsePolicy(name)
		if errors.Is(err, ErrUnknownPolicy) {
			fmt.Println(name, "is not a policy")
			continue
		}
		fmt.Println(name, "→", p)
	}
	// Output:
	// primary-authoritative → primary-authoritative
	// strict → strict
	// async → async
	// eventual is not a policy
}

// TestParsePolicyRoundTrip: every policy parses back from its name.
func TestParsePolicyRoundTrip(t *testing.T) {
	for _, p := range []Policy{PrimaryAuthoritative, Strict, Async} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
}

// TestWithAllowNonDeterministic: a statement calling now() is refused (each side would store its
// own time) unless the session opts in for every statement.
func TestWithAllowNonDeterministic(t *testing.T) {
	const stmt = "INSERT INTO kv (k, v) VALUES (?, now())"
	s := newFakeSession(t, &fakeSides{})
	defer s.Close()
	if err := s.Query(stmt, 1).Exec(); !errors.Is(err, ErrNonDeterministic) {
		t.Fatalf("without the option: %v, want ErrNonDeterministic", err)
	}
	s2 := newFakeSession(t, &fakeSides{}, WithAllowNonDeterministic())
	defer s2.Close()
	if err := s2.Query(stmt, 1).Exec(); err != nil {
		t.Fatalf("WithAllowNonDeterministic: %v", err)
	}
}

// TestWithReplayLimit: the replay log a session opens in WithReplayDir holds at most the limit;
// past it a follower write cannot be kept, and the write says so (ErrReplayLogFull).
func TestWithReplayLimit(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("follower down") })
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithPhase(Dual), WithReplayDir(t.TempDir()), WithReplayLimit(300)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var full error
	for i := 0; i < 20 && full == nil; i++ {
		if err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, "x").Exec(); errors.Is(err, ErrReplayLogFull) {
			full = err
		}
	}
	if full == nil {
		n, _ := s.log.Backlog()
		t.Fatalf("20 follower writes kept in a 300-byte replay log (backlog %d), want ErrReplayLogFull", n)
	}
}

// TestFileLogLogger: the logger given to OpenFileLog hears of a torn tail cut on open.
func TestFileLogLogger(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), &Entry{Timestamp: 1}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	recordlogtest.Append(t, lastSegment(t, dir), []byte{0, 0, 1, 0, 9, 9})
	var buf bytes.Buffer
	l, err = OpenFileLog(dir, 0, FileLogLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.Contains(buf.String(), "invalid tail") {
		t.Fatalf("log %q, want the cut tail reported", buf.String())
	}
}

// TestMigrationRegion: the region a session names is the one its heartbeats carry.
func TestMigrationRegion(t *testing.T) {
	fc := &fakeControl{}
	fc.set("dual", 1)
	s, err := newMigrationSession(&fakeSides{}, withControl(fc, MigrationRegion("eu-west-1")))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r := s.Migration().Region; r != "eu-west-1" {
		t.Errorf("Migration().Region = %q", r)
	}
	if b, ok := fc.lastBeat(); !ok || b.Region != "eu-west-1" {
		t.Errorf("heartbeat %+v, want region eu-west-1", b)
	}
}

// TestMigrationKeyspace: the control keyspace a session reads is the one named (the store over
// it is built on the control cluster, so only the configuration is checked here).
func TestMigrationKeyspace(t *testing.T) {
	var c config
	WithMigration(nil, "m", "i1", MigrationKeyspace("ops_control"))(&c)
	if c.migration == nil || c.migration.keyspace != "ops_control" {
		t.Fatalf("migration config %+v, want keyspace ops_control", c.migration)
	}
}
