package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Attack (security review 2): "--source-password … is refused", but the boolean flags
// --source-insecure-password / --destination-insecure-password (and --*-tls-insecure) read their
// value with fmt.Sscan, which returns no error for any text: "t…"/"T…"/"1…" is true, anything
// else false. So `--source-insecure-password=<the password>` (a flag whose name looks like it
// takes one) is accepted silently: the password stays in ps for every local user, and a password
// starting with t, T or 1 turns insecure_password on, so the password from password_file may then
// go to a server TLS does not verify.
func TestAttackSec2InsecurePasswordFlagTakesAPasswordSilently(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "f.yaml")
	pwf := filepath.Join(dir, "pw")
	os.WriteFile(pwf, []byte("real-password\n"), 0o600)
	body := "source: {hosts: [127.0.0.1], username: u, password_file: " + pwf + ", tls: {ca_file: /etc/ssl/certs/ca-certificates.crt}}\n" +
		"destination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"tiger-Hunter2-secret", "Hunter2-very-secret"} {
		for _, flag := range []string{"--source-insecure-password=", "--source-tls-insecure="} {
			c := newCommon("run", io.Discard, false)
			got, err := c.parse([]string{"--config", cfg, flag + pw})
			t.Logf("%s<%s>: err=%v insecure_password=%v insecure_skip_verify=%v", flag, pw, err, got.Source.InsecurePassword, got.Source.TLS.InsecureSkipVerify)
			if err == nil {
				t.Errorf("%s<password> accepted without an error (the password is in ps); source.insecure_password=%v, tls.insecure_skip_verify=%v",
					flag, got.Source.InsecurePassword, got.Source.TLS.InsecureSkipVerify)
			}
		}
	}
}

// Every way of typing a password into a flag that does not take one is refused as a usage error
// that shows neither the value nor a flag "name" holding it, on the error and on stderr; strict
// booleans still accept what strconv.ParseBool accepts.
func TestFlagValuesNeverEchoed(t *testing.T) {
	const pw = "Hunter2-very-secret"
	for _, args := range [][]string{
		{"--source-insecure-password=" + pw},
		{"--source-insecure-password", pw},
		{"--destination-tls", pw},
		{"-source-tls-insecure=" + pw},
		{"--source-disable-host-lookup=" + pw},
		{"--create-table=" + pw},
		{"--source-password:" + pw},
		{"--source-pasword=" + pw},
		{"--" + pw},
	} {
		var stderr strings.Builder
		c := newCommon("run", &stderr, false)
		_, err := c.parse(args)
		if err == nil || !errors.Is(err, errUsage) {
			t.Errorf("%q: want a usage error, got %v", strings.ReplaceAll(strings.Join(args, " "), pw, "PW"), err)
			continue
		}
		if strings.Contains(err.Error()+stderr.String(), "Hunter2") {
			t.Errorf("the password shows: %v\n%s", err, stderr.String())
		}
	}
	for _, v := range []string{"true", "false", "1", "0", "T", "FALSE"} {
		c := newCommon("run", io.Discard, false)
		if err := refuseUnsafeValues(c.fs, c.boolFlags, []string{"--source-tls=" + v, "--source-insecure-password", v, "--create-table=" + v}); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}
