package dualwrite

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer the replayer's workers may log to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Attack (security review 3): the package promises (doc.go, logShadowMismatch,
// TestShadowMismatchLogHidesValues) that a statement's values are member data — "a key may be an
// email" — and are logged at debug level only, a hash standing for them at warn. The replayer's
// dead-letter line does the opposite: at ERROR level it logs "values", SummarizeValues of the
// entry's bound values, which shows every string of up to 32 bytes in full (an email, a name, a
// phone number) and the first 32 bytes of longer ones. Any entry that is set aside (a schema
// change, a refused permission past the floor, a syntax error) puts the member's data in the
// application's logs, which are shipped and kept far more widely than the 0600 dead-letter file.
func TestAttackSec3DeadLetterLogShowsMemberData(t *testing.T) {
	l := NewMemLog()
	if err := l.Append(context.Background(), &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{
		Stmt:   "INSERT INTO ks.members (email, name, phone) VALUES (?, ?, ?)",
		Values: []any{"alice@example.com", "Alice Liddell", "+44 20 7946 0018"},
	}}}); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	f := &fakeSide{attempts: map[int64]int{}, landed: map[int64]int{}, fail: func(int64, int) error { return syntaxErr{} }}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replayCore{log: l, apply: f.apply, workers: 1, backoffMax: 2 * time.Millisecond,
		logger: slog.New(slog.NewTextHandler(&logs, nil))} // the default level: info
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); len(l.DeadLetters()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("the entry was not dead-lettered")
		}
	}
	cancel()
	<-done
	out := logs.String()
	t.Logf("log:\n%s", out)
	for _, v := range []string{"alice@example.com", "Alice Liddell", "7946 0018"} {
		if strings.Contains(out, v) {
			t.Errorf("the dead-letter log line (level ERROR) shows the member's %q; values are member data, logged at debug only", v)
		}
	}
}

// Attack (security review 3): the same promise for shadow reads ("logged with the statement and a
// hash of the values (member data; the values themselves at debug level only)") holds only for
// bound values. A statement that carries its values as literals — legal, common, and lexed by this
// package already (cqllex.go) — is logged whole at warn level, so the member's email the hash was
// to hide is in the line next to its hash.
func TestAttackSec3ShadowMismatchWarnShowsLiteralValues(t *testing.T) {
	var warn bytes.Buffer
	logShadowMismatch(slog.New(slog.NewTextHandler(&warn, &slog.HandlerOptions{Level: slog.LevelWarn})),
		"SELECT * FROM ks.members WHERE email = 'alice@example.com'", nil, 1, 0)
	t.Logf("warn: %s", warn.String())
	if strings.Contains(warn.String(), "alice@example.com") {
		t.Errorf("the shadow-read warning shows the member's email (a literal in the statement); values are member data, at debug only")
	}
}
