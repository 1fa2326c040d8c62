package dualwrite

import (
	"context"
	"errors"
	"testing"
)

// TestOpenAuthoritativeOverBacklogRefused: a session opened (New/Open) straight into a phase that
// makes a side authoritative, over a replay directory an earlier process left with writes still
// owed to that side (backlog or dead letters), is refused with ErrAuthorityBacklog, as SetPhase
// refuses the same switch at run time: otherwise its first reads come from a side missing
// acknowledged writes. A backlog owed to the other side (the follower) is no reason to refuse.
func TestOpenAuthoritativeOverBacklogRefused(t *testing.T) {
	ctx := context.Background()
	open := func(dir string, p Phase) (*Session, error) {
		return newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
			[]Option{withExecHook((&fakeSides{}).exec), WithReplayDir(dir), WithPhase(p)})
	}
	entry := func(sd string) *Entry {
		return &Entry{Side: sd, Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO t (k) VALUES (1)"}}}
	}
	seed := func(t *testing.T, fill func(l *FileLog)) string {
		dir := t.TempDir()
		l, err := OpenFileLog(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		fill(l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	owedSecondary := func(l *FileLog) {
		if err := l.Append(ctx, entry("secondary")); err != nil {
			t.Fatal(err)
		}
	}
	deadSecondary := func(l *FileLog) {
		if err := l.DeadLetter(ctx, Record{Entry: *entry("secondary")}, errors.New("refused")); err != nil {
			t.Fatal(err)
		}
	}
	owedPrimary := func(l *FileLog) {
		if err := l.Append(ctx, entry("primary")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		fill   func(*FileLog)
		phase  Phase
		refuse bool
	}{
		{"backlog for secondary, dual-flipped", owedSecondary, DualFlipped, true},
		{"backlog for secondary, secondary-only", owedSecondary, SecondaryOnly, true},
		{"dead letter for secondary, dual-flipped", deadSecondary, DualFlipped, true},
		{"backlog for primary, dual-flipped", owedPrimary, DualFlipped, false},
		{"backlog for secondary, dual", owedSecondary, Dual, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := seed(t, c.fill) // each case its own: a session that opens drains it
			s, err := open(dir, c.phase)
			if c.refuse {
				if !errors.Is(err, ErrAuthorityBacklog) {
					if s != nil {
						s.Close()
					}
					t.Fatalf("Open(%s) over writes owed to the side it makes authoritative = %v, want ErrAuthorityBacklog", c.phase, err)
				}
				// Refused cleanly: the directory is free for a session in the phase before.
				s, err = open(dir, Dual)
			}
			if err != nil {
				t.Fatalf("Open(%s) = %v, want a session", c.phase, err)
			}
			s.Close()
		})
	}
}
