package private

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/globalcloud/islands/internal/private/privatetest"
)

// Whatever the umask lets through, what these functions create is 0700/0600; a file that was
// already there is made 0600.
func TestModes(t *testing.T) {
	old := syscall.Umask(0) // the loosest umask: nothing taken away
	defer syscall.Umask(old)
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	if err := MkdirAll(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "w"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(string) (*os.File, error){Create, OpenAppend} {
		loose := filepath.Join(dir, "loose")
		if err := os.WriteFile(loose, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := open(loose)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if n := privatetest.CheckTree(t, root); n != 2 {
		t.Fatalf("%d files, want 2", n)
	}
}

// An existing directory open to others is left as it is, with one warning that names it, its
// mode and the command that closes it.
func TestWarnsOnceOnLooseDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask took
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for range 3 {
		if err := MkdirAll(dir, log); err != nil {
			t.Fatal(err)
		}
		CheckDir(dir, log)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1: %s", n, out)
	}
	for _, want := range []string{dir, "mode=0755", `fix="chmod 700 '` + dir + `'"`} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %q: %s", want, out)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o755 {
		t.Errorf("the user's directory was changed to %04o", st.Mode().Perm())
	}

	tight := t.TempDir()
	os.Chmod(tight, 0o700) // nothing to say
	logs.Reset()
	CheckDir(tight, log)
	if logs.Len() != 0 {
		t.Errorf("warning on a 0700 directory: %s", logs.String())
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"/var/lib/islands": "/var/lib/islands", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
