// Package privatetest checks, in the tests of each package that writes member data, the
// invariant of internal/private: every file under a tree is 0600 and every directory 0700.
package privatetest

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// The modes, written out rather than taken from package private: the test states the invariant.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// CheckTree fails t for every file under root whose mode is not 0600 and every directory under it
// that is not 0700 (root is the test's own: t.TempDir() makes it 0777 less the umask), and returns how many files it saw, so that a caller can
// tell a tree its writers filled from an empty one.
func CheckTree(t testing.TB, root string) (files int) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch mode := info.Mode(); {
		case mode.IsDir() && mode.Perm() != dirMode:
			t.Errorf("directory %s is %04o, want %04o", rel, mode.Perm(), dirMode)
		case mode.IsRegular():
			files++
			if mode.Perm() != fileMode {
				t.Errorf("file %s is %04o, want %04o", rel, mode.Perm(), fileMode)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return files
}
