package cqlconn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const pw = "hunter2-s3cret"

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(pw)
	a := Access{Username: "u", Password: s}
	var out []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		out = append(out, fmt.Sprintf(f, s), fmt.Sprintf(f, a), fmt.Sprintf(f, &a))
	}
	out = append(out, fmt.Sprint(s, a), fmt.Sprintln(a), s.String(), fmt.Errorf("wrap: %w %v", ErrAccess, a).Error())
	j, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("connect", "password", s, "access", a)
		l.Info("connect", slog.Any("access", a), slog.Any("p", s))
	}
	out = append(out, string(j), string(y), buf.String())
	for _, o := range out {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) {
			t.Fatalf("the secret shows: %s", o)
		}
	}
	if !strings.Contains(string(j), Redacted) || !strings.Contains(buf.String(), Redacted) {
		t.Fatalf("the redaction marker is missing (json %s, log %s)", j, buf.String())
	}
	if s.Reveal() != pw {
		t.Fatal("Reveal lost the value")
	}
	if fmt.Sprint(NewSecret("")) != "" {
		t.Fatal("an empty secret should print empty")
	}
}

func TestSecretFromYAMLAndJSON(t *testing.T) {
	var a Access
	if err := yaml.Unmarshal([]byte("username: u\npassword: "+pw+"\n"), &a); err != nil {
		t.Fatal(err)
	}
	if a.Password.Reveal() != pw {
		t.Fatalf("yaml: got %q", a.Password.Reveal())
	}
	var b Access
	if err := json.Unmarshal([]byte(`{"username":"u","password":"`+pw+`"}`), &b); err != nil {
		t.Fatal(err)
	}
	if b.Password.Reveal() != pw {
		t.Fatalf("json: got %q", b.Password.Reveal())
	}
}
