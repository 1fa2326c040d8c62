package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Configuration errors are caught before any cluster is contacted: exit 2 and a message naming the
// problem.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "source: {hosts: [127.0.0.1]}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "usage: forklift COMMAND"},
		{"unknown command", []string{"copy"}, exitUsage, `unknown command "copy"`},
		{"malformed yaml", []string{"run", "--config", write("bad.yaml", "source: [hosts\n")}, exitUsage, "invalid configuration"},
		{"unknown key", []string{"run", "--config", write("key.yaml", good+"wokers: 3\n")}, exitUsage, "wokers"},
		{"no source", []string{"plan", "--config", write("nosrc.yaml", "destination: {hosts: [b]}\ntables: [{keyspace: ks, table: t}]\n")}, exitUsage, "source.hosts"},
		{"bad shard", []string{"run", "--config", write("good.yaml", good), "--shard", "3/2"}, exitUsage, "3/2"},
		{"missing file", []string{"verify", "--config", filepath.Join(dir, "nope.yaml")}, exitUsage, "nope.yaml"},
		{"help", []string{"help"}, exitOK, "commands:"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), c.args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, output %q; want exit %d and %q", c.name, code, out, c.code, c.want)
		}
		if strings.Contains(out, "forklift: forklift:") {
			t.Errorf("%s: the program's name is printed twice: %q", c.name, out)
		}
	}
}
