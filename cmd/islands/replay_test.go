package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var setAsideAt = regexp.MustCompile(`set aside \S+`)

// run runs `islands replay ARGS` and returns its output with the directory and the set-aside
// times (the clock's) replaced.
func run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := replayCmd(context.Background(), args, &out)
	s := strings.ReplaceAll(out.String(), dir, "DIR")
	return setAsideAt.ReplaceAllString(s, "set aside TIME"), err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "replay", name+".golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("%s: output differs from %s (go test -update to accept):\n%s", name, path, got)
	}
}

// replayFixture is a replay directory with three pending entries, one dead-lettered and one
// uncertain, as a session leaves them.
func replayFixture(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "replay")
	l, err := dualwrite.OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for i, e := range []dualwrite.Entry{
		{Side: "secondary", Timestamp: at.UnixMicro(), Stmts: []dualwrite.Stmt{{Stmt: "INSERT INTO global.profiles (id, plan) VALUES (?, ?)", Values: []any{1, "gold"}}}},
		{Side: "secondary", Timestamp: at.UnixMicro() + 1, Stmts: []dualwrite.Stmt{{Stmt: "INSERT INTO global.sessions (id, token) VALUES (?, ?) USING TTL 3600", Values: []any{2, []byte{}}}}},
		{Side: "primary", Timestamp: at.UnixMicro() + 2, Batch: true, Stmts: []dualwrite.Stmt{
			{Stmt: "UPDATE island.profiles SET bio = ? WHERE id = ?", Values: []any{strings.Repeat("long ", 20), 3}},
			{Stmt: "DELETE FROM island.sessions WHERE id = ?", Values: []any{3}}}},
	} {
		e.Logged = at.Add(time.Duration(i) * time.Second)
		if err := l.Append(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	poison := dualwrite.Record{Entry: dualwrite.Entry{Side: "secondary", Timestamp: at.UnixMicro() + 3, Logged: at,
		Stmts: []dualwrite.Stmt{{Stmt: "INSERT INTO global.profiles (id, dropped) VALUES (?, ?)", Values: []any{4, nil}}}}}
	if err := l.DeadLetter(ctx, poison, errors.New("Undefined column name dropped")); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordUncertain(ctx, &dualwrite.Entry{Side: "secondary", Timestamp: at.UnixMicro() + 4, Logged: at,
		Stmts: []dualwrite.Stmt{{Stmt: "UPDATE global.hits SET c = c + 1 WHERE k = ?", Values: []any{5}}}}, errors.New("gocql: no response received from cassandra within timeout period")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReplayInspectRetryDrop(t *testing.T) {
	dir := replayFixture(t)
	out, err := run(t, dir, "inspect", dir)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inspect", out)

	// inspect reads beside a running application; retry and drop wait for it to stop.
	l, err := dualwrite.OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, dir, "inspect", "--limit", "1", dir); err != nil {
		t.Fatalf("inspect while the log is open: %v", err)
	}
	if _, err := run(t, dir, "retry", dir); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("retry while the log is open: %v", err)
	}
	l.Close()

	if _, err := run(t, dir, "drop", dir); !errors.Is(err, errUsage) {
		t.Fatalf("drop without --yes: %v", err)
	}
	if _, err := run(t, dir, "retry", "--id", "2", dir); err == nil {
		t.Fatal("retry of an entry that does not exist succeeded")
	}
	out, err = run(t, dir, "retry", dir)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "retry", out)
	out, err = run(t, dir, "drop", dir, "--yes", "--uncertain")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "drop", out)
	out, err = run(t, dir, "inspect", dir)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inspect-after", out)
}

func TestReplayUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate", "x"}, {"inspect"}, {"inspect", "a", "b"}, {"retry", "--id", "x", "d"}} {
		if _, err := run(t, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: want a usage error, got %v", args, err)
		}
	}
}
