package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/globalcloud/islands/forklift"
)

// A password on the command line is refused before the flag package could echo it, with the
// alternatives named; a password file that does not exist is a configuration error naming the key;
// a literal password in a YAML file others may read is warned about. The value never shows.
func TestPasswordsNeverFromFlags(t *testing.T) {
	const pw = "Sup3r-s3cret-value"
	dir := t.TempDir()
	good := "source: {hosts: [127.0.0.1]}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"
	cfg := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(cfg, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--config", cfg, "--source-password", pw}, exitUsage, "--source-password-file"},
		{[]string{"run", "--config", cfg, "-destination-password=" + pw}, exitUsage, "shows in ps"},
		{[]string{"run", "--config", cfg, "--source-username", "u", "--source-password-file", filepath.Join(dir, "missing")}, exitUsage, "source: password_file"},
		{[]string{"run", "--config", cfg, "--source-username", "u", "--source-password-env", "FORKLIFT_TEST_UNSET_PASSWORD"}, exitUsage, "FORKLIFT_TEST_UNSET_PASSWORD is not set"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), c.args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d and %q", c.args, code, out, c.code, c.want)
		}
		if strings.Contains(out, pw) {
			t.Errorf("%v: the password shows: %q", c.args, out)
		}
	}
	loose := filepath.Join(dir, "loose.yaml")
	body := strings.Replace(good, "source: {hosts: [127.0.0.1]}", "source: {hosts: [127.0.0.1], username: u, password: "+pw+"}", 1)
	if err := os.WriteFile(loose, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := exposedPasswords(loose, mustLoad(t, loose)); len(w) != 1 || !strings.Contains(w[0], "chmod 600") || strings.Contains(w[0], pw) {
		t.Errorf("0644 config with a password: warnings %q", w)
	}
	if err := os.Chmod(loose, 0o600); err != nil {
		t.Fatal(err)
	}
	if w := exposedPasswords(loose, mustLoad(t, loose)); len(w) != 0 {
		t.Errorf("0600 config: warnings %q", w)
	}
}

func mustLoad(t *testing.T, path string) forklift.Config {
	t.Helper()
	c, err := forklift.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Arguments after -- (or after the first argument that is not a flag, where the flag package
// stops) are not flags, but a password there still never reaches an error text: the refusal scans
// every argument, and an unexpected argument is named by its position, not echoed.
func TestPasswordAfterDoubleDashNeverEchoed(t *testing.T) {
	const pw = "Sup3r-s3cret-value"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(cfg, []byte("source: {hosts: [127.0.0.1]}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--config", cfg, "--", "--source-password=" + pw},
		{"run", "--config", cfg, "--", "--destination-password", pw},
		{"run", "--config", cfg, "--", pw},
		{"run", "--config", cfg, "stray", "--source-password", pw},
		{"verify", "--config", cfg, pw},
	} {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if strings.Contains(out, pw) {
			t.Errorf("%q: the password shows: %q", args, out)
		}
	}
}

// --metrics-addr on every interface (":9100", "0.0.0.0:9100", a routable address) is warned
// about, as cachesync does; loopback is not. Its help suggests loopback.
func TestMetricsAddrWarnsOffLoopback(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(cfg, []byte("source: {hosts: [127.0.0.1]}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for addr, warn := range map[string]bool{":9100": true, "0.0.0.0:9100": true, "10.1.2.3:9100": true, "[::]:9100": true,
		"127.0.0.1:9100": false, "localhost:9100": false, "[::1]:9100": false, "": false} {
		c := newCommon("run", io.Discard, false)
		if _, err := c.parse([]string{"--config", cfg, "--metrics-addr", addr}); err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(strings.Join(c.warnings, "\n"), "metrics")
		if got != warn {
			t.Errorf("--metrics-addr %q: warnings %q, want a metrics warning: %v", addr, c.warnings, warn)
		}
	}
	c := newCommon("run", io.Discard, false)
	if u := c.fs.Lookup("metrics-addr").Usage; !strings.Contains(u, "127.0.0.1:9100") || strings.Contains(u, "(e.g. :9100)") {
		t.Errorf("--metrics-addr's help suggests %q", u)
	}
}

// Unsafe access options are logged as INSECURE at start, per side.
func TestInsecureAccessIsWarned(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(cfg, []byte("source: {hosts: [127.0.0.1], tls: {enabled: true, insecure_skip_verify: true}}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCommon("run", io.Discard, false)
	if _, err := c.parse([]string{"--config", cfg}); err != nil {
		t.Fatal(err)
	}
	if len(c.warnings) != 1 || !strings.HasPrefix(c.warnings[0], "source: INSECURE") {
		t.Fatalf("warnings %q", c.warnings)
	}
	// A password to that unverified server is refused, naming the opt-out; with it, a second warning.
	pwf := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwf, []byte("Sup3r-s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"run", "--config", cfg, "--source-username", "u", "--source-password-file", pwf}
	if code := dispatch(context.Background(), args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "insecure_password") {
		t.Fatalf("exit %d, %q", code, stderr.String())
	}
	c = newCommon("run", io.Discard, false)
	if _, err := c.parse(append(args[1:], "--source-insecure-password=true")); err != nil {
		t.Fatal(err)
	}
	if len(c.warnings) != 2 || !strings.Contains(c.warnings[1], "insecure_password") {
		t.Fatalf("warnings %q", c.warnings)
	}
}
