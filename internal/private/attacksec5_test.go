package private

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Attack (security review 5): the package promises "A file that already exists is made 0600 when
// it is opened" and, with it, that what islands writes from then on is the owner's alone. A chmod
// takes nothing from a reader that opened the file while it was still open to others: an
// earlier version's replay segment, a quarantine_file or --report path made with `touch` under
// umask 022, a state left by older scripts. Another local user who opened it then (it was 0644 in
// a directory they could enter) keeps the descriptor, and reads every record written after
// OpenAppend (or WriteFile, after its truncation) made the file 0600, also once the directory is
// made 0700 as CheckDir's warning says. Opening a file open to others in place cannot make it
// private: only a new inode can (write a new file, rename it over).
//
// Needs root and a second local user (ISLANDS_SEC5_OTHER_USER, default mallory; useradd -m mallory).
func TestAttackSec5ChmodLeavesAnEarlierReaderReading(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to play the other user (su)")
	}
	name := os.Getenv("ISLANDS_SEC5_OTHER_USER")
	if name == "" {
		name = "mallory"
	}
	if _, err := user.Lookup(name); err != nil {
		t.Skipf("no user %s (useradd -m %s): %v", name, name, err)
	}
	for _, mode := range []string{"append", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "attacksec5-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			// As an older version, or a umask 022 tool, left them: the directory and the file open to read.
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "quarantine.jsonl")
			if err := os.WriteFile(path, []byte("{\"old\":1}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, 0o644)

			// The other user opens it while it is readable, and waits.
			cmd := exec.Command("su", name, "-s", "/bin/sh", "-c", `exec 3<"$0" || exit 1; echo opened; read go; cat <&3`, path)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			r := bufio.NewReader(stdout)
			line, err := r.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "opened" {
				t.Fatalf("%s could not open the file: %q %v", name, line, err)
			}

			// The operator follows the warning (chmod 700 the directory); islands opens the file
			// (made 0600) and writes member data.
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			const member = `{"member":"alice@example.com"}`
			if mode == "append" {
				f, err := OpenAppend(path)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(member + "\n")
				f.Close()
			} else if err := WriteFile(path, []byte(member+"\n")); err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(path)
			if st.Mode().Perm() != FileMode {
				t.Fatalf("mode %v after opening", st.Mode().Perm())
			}
			// A fresh open by the other user is refused now...
			if out, err := exec.Command("su", name, "-s", "/bin/sh", "-c", `cat "$0"`, path).CombinedOutput(); err == nil {
				t.Fatalf("%s opens the 0600 file in a 0700 directory anew: %s", name, out)
			}
			// ...but the descriptor it kept reads what was written after the chmod.
			io.WriteString(stdin, "go\n")
			stdin.Close()
			done := make(chan string, 1)
			go func() { b, _ := io.ReadAll(r); done <- string(b) }()
			var got string
			select {
			case got = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the other user's reader did not finish")
			}
			if strings.Contains(got, "alice@example.com") {
				t.Errorf("%s (%s): user %s, holding a descriptor opened while the file was 0644, reads the member data written after islands made it 0600 in a 0700 directory: %q",
					mode, path, name, got)
			}
		})
	}
}
