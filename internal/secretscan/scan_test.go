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

// embed writes a secret into the forms a careless print gives it, each inside a longer encoded
// stream (so the encoding's alignment is not the secret's own), and checks Scan finds every one.
func TestScanFindsEveryEncoding(t *testing.T) {
	const pw = "Zq8vN2k?>Lp0w~Xr7Tb" // 19 bytes (a trailing partial group); its base64 holds + and / at every offset
	secrets := []Secret{{Name: "islands_app.password", Value: pw}}
	b64 := func(enc *base64.Encoding, prefix string) string {
		return enc.EncodeToString([]byte(prefix + pw + "tail-bytes"))
	}
	wrap := func(s string, width int) string {
		var b strings.Builder
		for len(s) > width {
			b.WriteString(s[:width] + "\n")
			s = s[width:]
		}
		return b.String() + s + "\n"
	}
	cases := map[string]string{
		"base64 offset 0":     b64(base64.StdEncoding, ""),
		"base64 offset 1":     b64(base64.StdEncoding, "x"),
		"base64 offset 2":     b64(base64.StdEncoding, "xy"),
		"base64url offset 0":  b64(base64.URLEncoding, ""),
		"base64url offset 1":  b64(base64.RawURLEncoding, "x"),
		"base64url offset 2":  b64(base64.URLEncoding, "xy"),
		"hex upper":           strings.ToUpper(hex.EncodeToString([]byte(pw))),
		"hex mixed":           "0x" + strings.ToUpper(hex.EncodeToString([]byte(pw[:5]))) + hex.EncodeToString([]byte(pw[5:])),
		"sasl plain":          "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00islands_app\x00"+pw)),
		"sasl plain authzid":  base64.StdEncoding.EncodeToString([]byte("admin\x00islands_app\x00" + pw)),
		"base64 wrapped 76":   wrap(b64(base64.StdEncoding, "prefix:"), 7),
		"base64 wrapped crlf": strings.ReplaceAll(wrap(b64(base64.StdEncoding, "p"), 5), "\n", "\r\n"),
		"hex wrapped":         wrap(hex.EncodeToString([]byte("some bytes before "+pw)), 16),
		"plain wrapped":       "  " + pw[:7] + "\n  " + pw[7:] + "\n",
	}
	dir := t.TempDir()
	for name, body := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte("first line\n"+body+"\nlast line\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		found, _, err := Scan(secrets, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Errorf("%s: not found in %q", name, body)
			continue
		}
		for _, f := range found {
			if f.Line < 2 {
				t.Errorf("%s: finding %s names line %d, want the line where it starts (2 or later)", name, f, f.Line)
			}
		}
	}
}

// A secret seen once is reported once, even when its encoding also holds a wrapped copy.
func TestScanReportsEachPlaceOnce(t *testing.T) {
	const pw = "Zq8vN2kLp0wXr7Tb"
	p := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(p, []byte("a "+pw+" b\nclean line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	found, _, err := Scan([]Secret{{Name: "s", Value: pw}}, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Line != 1 || found[0].Form != "plain" {
		t.Fatalf("found %v, want one plain finding on line 1", found)
	}
}

func TestPrivateKeys(t *testing.T) {
	dir := t.TempDir()
	// The markers are built, so this file (in the tracked tree CI scans) holds none.
	begin, pk := "-----BEGIN ", "PRIVATE KEY-----"
	files := map[string]string{
		"clean.go":   "// split: \"" + begin + "\" + \"" + pk + "\"\n",
		"key.pem":    "x\n" + begin + "EC " + pk + "\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
		"in.yaml":    "tls:\n  key: |\n    " + begin + pk + "\n",
		"node.p12":   "binary",
		"cert.pem":   begin + "CERTIFICATE-----\n",
		"openssh.md": begin + "OPENSSH " + pk + "\n",
	}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	found, err := PrivateKeys(append(paths, filepath.Join(dir, "missing.pem"))...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range found {
		got[filepath.Base(f.File)] = f.Line
	}
	want := map[string]int{"key.pem": 2, "in.yaml": 3, "node.p12": 1, "openssh.md": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("found %v, want %v", got, want)
	}
}
