package secretscan

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Attack (security review): make test scans the `go test -json` log for the world's secrets, and
// says it finds one "wrapped across lines". But test2json cuts an output line longer than 1 KiB
// into several "output" events, each a JSON line of its own: a secret a test (or a child it runs)
// prints past the first kilobyte of a long line (a config dump, a JSON blob, a stack of wrapped
// errors) lands in the log split between two events, with a JSON envelope between its halves,
// which the scan's "wrapped" pass (spaces and line ends only) does not see through.
func TestAttackSecSecretSplitByTest2JSONIsMissed(t *testing.T) {
	const pw = "Zq7Kx9Lm2Pw4Rt6Yv8Bn1Cd3Fg5Hj0Sa" // 32 letters and digits, as scripts/regions makes them
	text := "=== RUN   TestX\n" + `{"config":"` + strings.Repeat("x", 985) + `","password":"` + pw + "\"}\n--- PASS: TestX (0.00s)\nPASS\n"
	cmd := exec.Command("go", "tool", "test2json", "-p", "github.com/globalcloud/islands/x")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go tool test2json: %v", err)
	}
	log := filepath.Join(t.TempDir(), "go-test.json")
	if err := os.WriteFile(log, out, 0o600); err != nil {
		t.Fatal(err)
	}
	found, _, err := Scan([]Secret{{Name: "islands_app.password", Value: pw}}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Errorf("the password is in the go test -json log (split across two output events) and the scan finds nothing:\n%s", out)
	}
}
