package secretscan

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanFindsEveryForm(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(sec, 0o700); err != nil {
		t.Fatal(err)
	}
	const pw = "Zq8vN2kLp0wX"
	if err := os.WriteFile(filepath.Join(sec, "islands_app.password"), []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets, err := Load(sec)
	if err != nil || len(secrets) != 1 || secrets[0].Value != pw {
		t.Fatalf("Load: %v %v", secrets, err)
	}
	out := filepath.Join(dir, "out")
	files := map[string]string{
		"clean.log":      "connect user=islands_app password=[redacted]\n",
		"plain.log":      "line one\n{\"password\":\"" + pw + "\"}\n",
		"sub/hex.txt":    "x\ny\n" + hex.EncodeToString([]byte(pw)) + "\n",
		"sub/b64.json":   `{"auth":"` + base64.StdEncoding.EncodeToString([]byte(pw)) + `"}`,
		"skipped/x.log":  pw,
		"struct-dump.go": fmt.Sprintf("%+v\n", struct{ User, Password string }{"u", pw}),
	}
	for name, body := range files {
		p := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	found, n, err := Scan(secrets, []string{filepath.Join(out, "skipped")}, out, filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("read %d files, want 5 (one skipped)", n)
	}
	got := map[string]bool{}
	for _, f := range found {
		got[fmt.Sprintf("%s:%d:%s", filepath.Base(f.File), f.Line, f.Form)] = true
		if strings.Contains(f.String(), pw) {
			t.Fatalf("a finding shows the secret: %s", f)
		}
	}
	for _, want := range []string{"plain.log:2:plain", "hex.txt:3:hex", "b64.json:1:base64", "struct-dump.go:1:plain"} {
		if !got[want] {
			t.Errorf("missed %s (found %v)", want, found)
		}
	}
	if len(found) != 4 {
		t.Errorf("found %v, want exactly 4", found)
	}
}

func TestLoadRefusesShortSecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("got %v", err)
	}
}
