package private

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Attack (security review): "Files that hold member data are created 0600 in directories 0700,
// whatever the umask". OpenFile opens a file that is already there (O_CREATE without O_EXCL,
// following symlinks) and only chmods it. When the directory is one another user can write to
// (an existing directory open to others, which MkdirAll only warns about; /tmp for --report,
// quarantine_file, ISLANDS_CHAOS_OUT=/tmp/…) that user creates the file first, or a symlink to a
// file of theirs: a process running as root (every program in the local world does) chmods it 0600
// and writes the member data into it, and the other user, still its owner, reads it.
func TestAttackSecPrecreatedFileOfAnotherUserGetsTheData(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to play the other user (chown)")
	}
	const other = 65534 // nobody
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { // a directory others may write to (warned, not refused)
		t.Fatal(err)
	}
	for _, viaSymlink := range []bool{false, true} {
		name := "report.json"
		target := filepath.Join(dir, name)
		if viaSymlink {
			name = "quarantine.jsonl"
			target = filepath.Join(t.TempDir(), "theirs")
			os.Chmod(filepath.Dir(target), 0o755)
		}
		// The other user's file, made before the program runs.
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(target, other, other); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if viaSymlink {
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			os.Lchown(path, other, other)
		}
		err := WriteFile(path, []byte(`{"member":"alice@example.com"}`))
		if err != nil {
			continue // refused: holds
		}
		st, _ := os.Stat(path)
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != uint32(os.Getuid()) {
			t.Errorf("symlink=%v: the member data went into %s, mode %v but owned by uid %d, who reads it", viaSymlink, path, st.Mode().Perm(), uid)
		}
	}
}
