package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoScript is the path of scripts/NAME in this checkout (the tests run in integration/).
func repoScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// `scripts/regions env` prints lines users eval: every value is quoted, so a state path holding
// $(…), backquotes, spaces or quotes comes back as that path and runs nothing. No service is
// needed: env only prints.
func TestRegionsEnvQuotesEveryValue(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	state := filepath.Join(dir, "st $(touch "+pwned+") `touch "+pwned+"` 'q\" ;x")
	for _, secure := range []string{"1", "0"} {
		cmd := exec.Command("bash", "-c", `eval "$("$0" env)" && printf '%s\n' "$ISLANDS_CQL_CA" "$ISLANDS_CQL_APP_PASSWORD_FILE" "$ISLANDS_US_CQL" "$ISLANDS_SECURE"`,
			repoScript(t, "regions"))
		// Only the variables of this run: a world's own (eval'd before the test) must not show through.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ISLANDS_STATE=" + state, "ISLANDS_SECURE=" + secure}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ISLANDS_SECURE=%s: eval of env: %v\n%s", secure, err, out)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("ISLANDS_SECURE=%s: eval of env ran a command in the state path", secure)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		want := []string{filepath.Join(state, "tls", "ca.pem"), filepath.Join(state, "secrets", "islands_app.password"), "127.0.5.1:9042", "1"}
		if secure == "0" {
			want = []string{"", "", "127.0.5.1:9042", "0"}
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("ISLANDS_SECURE=%s: eval gave\n%q\nwant\n%q", secure, lines, want)
		}
	}
}
