// Package recordlogtest damages log files the way crashes and disks do, for the tests of
// recordlog and of the logs built on it (dualwrite's replay log): a torn write (Cut), a file that
// grew but whose data never reached the disk (ZeroFill, Append of zeros), a media error
// (FlipBit), junk (Overwrite). Every helper changes the file in place (the same inode), so a log
// that has it open sees the damage, and fails the test on an I/O error.
//
// It imports nothing of recordlog, so that recordlog's own tests can use it.
package recordlogtest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// LastFile returns a log's newest segment in dir: the last in name order (segments are named by
// number) of the files matching the last of patterns (filepath.Match patterns, "*.seg") that
// matches any. Name the patterns oldest format first.
func LastFile(t testing.TB, dir string, patterns ...string) string {
	t.Helper()
	var all []string
	for _, p := range patterns {
		m, err := filepath.Glob(filepath.Join(dir, p)) // sorted
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, m...)
	}
	if len(all) == 0 {
		t.Fatalf("no file matching %q in %s", patterns, dir)
	}
	return all[len(all)-1]
}

// Size is the size of the file at path.
func Size(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Append adds b at the end of the file at path.
func Append(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// Cut makes the file at path end at offset at.
func Cut(t testing.TB, path string, at int64) {
	t.Helper()
	if err := os.Truncate(path, at); err != nil {
		t.Fatal(err)
	}
}

// ZeroFill makes every byte of the file at path from offset at on a zero; the size stays.
func ZeroFill(t testing.TB, path string, at int64) {
	t.Helper()
	if n := Size(t, path) - at; n > 0 {
		Overwrite(t, path, at, make([]byte, n))
	}
}

// FlipBit flips bit (0 the lowest, 7 the highest) of the byte at offset at of the file at path;
// at at or beyond the end it changes nothing.
func FlipBit(t testing.TB, path string, at int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if n, _ := f.ReadAt(b, at); n != 1 {
		return
	}
	b[0] ^= 1 << (bit % 8)
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// Overwrite writes b over the file at path from offset at (growing it if b reaches past the end).
func Overwrite(t testing.TB, path string, at int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// SmallFS returns a directory on a file system of its own of the given size (a tmpfs, unmounted
// when the test ends), for tests of what a full disk does. It skips the test where mounting is
// not permitted (not root, or no CAP_SYS_ADMIN).
func SmallFS(t testing.TB, bytes int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(bytes)+",mode=0700"); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs for a full-disk test (needs root): %v", bytes, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
