package private

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file open to others is replaced, never opened in place: a descriptor opened before (by
// anyone: here this process plays the other user, a descriptor is a descriptor) keeps the old
// inode and reads nothing written after; the path holds the old content (append, read-write)
// or none (truncate) and what was written, mode 0600; no temporary file is left beside it. A file
// already 0600 is opened in place; a lock file (OpenLock) keeps its inode, made 0600.
func TestSec5WideFileIsReplacedNotReopened(t *testing.T) {
	type opener struct {
		name  string
		open  func(string) (*os.File, error)
		keeps bool // the old content stays at the path
	}
	rdwr := func(p string) (*os.File, error) { return OpenFile(p, os.O_RDWR) }
	for _, o := range []opener{{"append", OpenAppend, true}, {"create", Create, false}, {"rdwr", rdwr, true}} {
		for _, mode := range []os.FileMode{0o644, 0o604, 0o640, 0o666, 0o600} {
			dir := t.TempDir()
			path := filepath.Join(dir, "q.jsonl")
			if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, mode)
			before, _ := os.Stat(path)
			held, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := o.open(path)
			if err != nil {
				t.Fatalf("%s %v: %v", o.name, mode, err)
			}
			if o.name == "rdwr" {
				f.Seek(0, io.SeekEnd)
			}
			if _, err := f.WriteString("alice@example.com\n"); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, _ := io.ReadAll(held)
			held.Close()
			after, _ := os.Stat(path)
			content, _ := os.ReadFile(path)
			want := "alice@example.com\n"
			if o.keeps {
				want = "old\n" + want
			}
			wide := mode&0o077 != 0
			switch {
			case after.Mode().Perm() != FileMode:
				t.Errorf("%s %v: mode %v after", o.name, mode, after.Mode().Perm())
			case string(content) != want:
				t.Errorf("%s %v: the file holds %q, want %q", o.name, mode, content, want)
			case wide && strings.Contains(string(got), "alice"):
				t.Errorf("%s %v: a descriptor opened while the file was open to others reads what was written after: %q", o.name, mode, got)
			case wide == os.SameFile(before, after):
				t.Errorf("%s %v: replaced=%v, want %v", o.name, mode, !os.SameFile(before, after), wide)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%s %v: %d entries in the directory, want the file alone", o.name, mode, len(ents))
			}
		}
	}
	// The lock file keeps its inode (what other processes lock), made private.
	path := filepath.Join(t.TempDir(), "lock")
	os.WriteFile(path, nil, 0o600)
	os.Chmod(path, 0o644)
	before, _ := os.Stat(path)
	f, err := OpenLock(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || after.Mode().Perm() != FileMode {
		t.Errorf("lock: same inode %v, mode %v", os.SameFile(before, after), after.Mode().Perm())
	}
}

// Openers racing on a file open to others (one replaces it, the others must end up in the
// replacement, never in the inode renamed away): every line each of them appends is in the file.
func TestSec5ConcurrentOpenersOfAWideFileLoseNothing(t *testing.T) {
	for round := 0; round < 50; round++ {
		path := filepath.Join(t.TempDir(), "history.jsonl")
		if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644)
		const n = 6
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				f, err := OpenAppend(path)
				if err != nil {
					errs <- err
					return
				}
				_, err = f.WriteString(strings.Repeat(string(rune('a'+i)), 3) + "\n")
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		b, _ := os.ReadFile(path)
		for i := 0; i < n; i++ {
			if line := strings.Repeat(string(rune('a'+i)), 3); !strings.Contains(string(b), line+"\n") || !strings.HasPrefix(string(b), "old\n") {
				t.Fatalf("round %d: the file lost a line (%q): %q", round, line, b)
			}
		}
	}
}
