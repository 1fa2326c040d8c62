package recordlog

import (
	"errors"

	"context"
	"github.com/globalcloud/islands/internal/private"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Attack (security review 2): the earlier fix (TestAttackSecPrecreatedFileOfAnotherUserGetsTheData)
// made private.OpenFile refuse a file another user owns, or a symlink; recordlog does not use it
// for every file. In a directory another user can write to (an existing replay or spill directory
// open to others is only warned about; or /tmp/...), that user pre-creates the first segment,
// 0000000000000001.seg, empty, as a file of theirs (or a symlink to one): recover adopts it as the
// newest segment and openWriteSegment opens it with a plain os.OpenFile (no O_NOFOLLOW, no owner
// check), so every record (dualwrite's replay entries: member data) goes into the other user's
// file, which they read.
func TestAttackSec2PrecreatedSegmentOfAnotherUserGetsTheRecords(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to play the other user (chown)")
	}
	const other = 65534 // nobody
	for _, viaSymlink := range []bool{false, true} {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil { // open to others: warned, not refused
			t.Fatal(err)
		}
		seg := filepath.Join(dir, "0000000000000001.seg")
		theirs := seg
		if viaSymlink {
			od := t.TempDir()
			os.Chmod(od, 0o755)
			theirs = filepath.Join(od, "theirs")
		}
		if err := os.WriteFile(theirs, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(theirs, 0o666)
		if err := os.Chown(theirs, other, other); err != nil {
			t.Fatal(err)
		}
		if viaSymlink {
			if err := os.Symlink(theirs, seg); err != nil {
				t.Fatal(err)
			}
			os.Lchown(seg, other, other)
		}
		l, err := Open(dir, Options{})
		if err != nil {
			t.Logf("symlink=%v: Open refused: %v", viaSymlink, err)
			continue // holds
		}
		_, err = l.Append(context.Background(), []byte(`{"member":"alice@example.com"}`))
		l.Close()
		if err != nil {
			t.Logf("symlink=%v: Append refused: %v", viaSymlink, err)
			continue
		}
		b, _ := os.ReadFile(theirs)
		st, _ := os.Stat(theirs)
		if strings.Contains(string(b), "alice@example.com") {
			t.Errorf("symlink=%v: the record went into %s, owned by uid %d, mode %v: they read the member data",
				viaSymlink, theirs, st.Sys().(*syscall.Stat_t).Uid, st.Mode().Perm())
		}
	}
}

// A log directory (dualwrite's dead/, uncertain/, withdrawn/, a cachesync spill subdirectory)
// that another user pre-created is refused, naming it, before anything is written into it.
func TestPrecreatedDirectoryOfAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to play the other user (chown)")
	}
	dir := filepath.Join(t.TempDir(), "dead")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{})
	if err == nil {
		l.Close()
		t.Fatal("a directory owned by another user was adopted")
	}
	if !errors.Is(err, private.ErrNotOurs) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want ErrNotOurs naming %s, got %v", dir, err)
	}
	// Read-only (root inspecting that user's log): their directory, their files, accepted.
	if l, err := Open(dir, Options{ReadOnly: true}); err != nil {
		t.Fatalf("read-only: %v", err)
	} else {
		l.Close()
	}
}
