package dualwrite

import (
	"errors"

	"context"
	"github.com/globalcloud/islands/internal/private"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Attack (security review 2), end to end: a replay directory another user can write to (docs:
// "an existing directory open to others is logged as a warning"). That user, before the
// application starts, creates the log's first segment as a file of theirs, 0666. OpenFileLog
// warns about the directory, then appends every replay entry (the statements' values: member
// data) into that file. The same works one level down, in dead/, uncertain/ or withdrawn/: a
// subdirectory the other user made is adopted as it is. See recordlog's
// TestAttackSec2PrecreatedSegmentOfAnotherUserGetsTheRecords for the cause.
func TestAttackSec2ReplayEntriesGoIntoAnotherUsersSegment(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to play the other user (chown)")
	}
	const other = 65534
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	seg := filepath.Join(dir, "0000000000000001.seg")
	if err := os.WriteFile(seg, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(seg, 0o666)
	if err := os.Chown(seg, other, other); err != nil {
		t.Fatal(err)
	}
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	defer l.Close()
	e := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO members (id, email) VALUES (?, ?)", Values: []any{1, "alice@example.com"}}}}
	if err := l.Append(context.Background(), e); err != nil {
		t.Logf("append refused: %v", err)
		return
	}
	b, _ := os.ReadFile(seg)
	if strings.Contains(string(b), "alice@example.com") {
		t.Errorf("the replay entry went into %s, a 0666 file owned by uid %d: they read alice@example.com", seg, other)
	}
}

// A first-format segment another user planted in the replay directory is never read as the
// application's writes. (The first format's importer is gone — nothing was released in it — so the
// file is ignored; before, the importer refused it with ErrNotOurs.)
func TestLegacySegmentOfAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to play the other user (chown)")
	}
	dir := t.TempDir()
	seg := filepath.Join(dir, "seg-0000000001.log")
	if err := os.WriteFile(seg, []byte("planted"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(seg, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := OpenFileLog(dir, 0)
	if err != nil {
		if !errors.Is(err, private.ErrNotOurs) || !strings.Contains(err.Error(), seg) {
			t.Fatalf("want either the file ignored or ErrNotOurs naming %s, got %v", seg, err)
		}
		return
	}
	defer l.Close()
	if n, _ := l.Backlog(); n != 0 {
		t.Fatalf("another user's first-format segment was read as %d entries", n)
	}
}
