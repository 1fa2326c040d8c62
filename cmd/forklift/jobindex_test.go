package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/globalcloud/islands/forklift"
)

// A pod of an Indexed Job is shard $JOB_COMPLETION_INDEX of --shard-from-env N; everything else
// that could go wrong is a usage error (exit 2) before any cluster is contacted.
func TestShardFromEnv(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "good.yaml")
	good := "source: {hosts: [127.0.0.1]}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"
	if err := os.WriteFile(cfg, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		shard forklift.Shard
		err   string // "" = parses
	}{
		{"index 2 of 4", []string{"--shard-from-env", "4"}, map[string]string{jobIndexEnv: "2"}, forklift.Shard{Index: 2, Count: 4}, ""},
		{"index 0 of 1", []string{"--shard-from-env", "1"}, map[string]string{jobIndexEnv: "0"}, forklift.Shard{Index: 0, Count: 1}, ""},
		{"spaces", []string{"--shard-from-env=3"}, map[string]string{jobIndexEnv: " 1\n"}, forklift.Shard{Index: 1, Count: 3}, ""},
		{"plain --shard", []string{"--shard", "1/2"}, map[string]string{jobIndexEnv: "0"}, forklift.Shard{Index: 1, Count: 2}, ""},
		{"env alone is not read", nil, map[string]string{jobIndexEnv: "3"}, forklift.Shard{Index: 0, Count: 1}, ""},
		{"unset", []string{"--shard-from-env", "4"}, nil, forklift.Shard{}, "JOB_COMPLETION_INDEX is not set"},
		{"index = N", []string{"--shard-from-env", "4"}, map[string]string{jobIndexEnv: "4"}, forklift.Shard{}, `JOB_COMPLETION_INDEX="4" is not an index in 0…3`},
		{"negative", []string{"--shard-from-env", "4"}, map[string]string{jobIndexEnv: "-1"}, forklift.Shard{}, "is not an index"},
		{"not a number", []string{"--shard-from-env", "4"}, map[string]string{jobIndexEnv: "two"}, forklift.Shard{}, "is not an index"},
		{"count 0", []string{"--shard-from-env", "0"}, map[string]string{jobIndexEnv: "0"}, forklift.Shard{}, "shard count"},
		{"both", []string{"--shard", "0/4", "--shard-from-env", "4"}, map[string]string{jobIndexEnv: "0"}, forklift.Shard{}, "both given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cm := newCommon("run", io.Discard, true)
			cm.getenv = func(k string) string { return c.env[k] }
			_, err := cm.parse(append([]string{"--config", cfg}, c.args...))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, errUsage) {
					t.Fatalf("err %v, want a usage error containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cm.shard != c.shard {
				t.Fatalf("shard %+v, want %+v", cm.shard, c.shard)
			}
		})
	}
}

// Through the program's own entry: exit 2 and the variable named, no cluster contacted.
func TestShardFromEnvExitCode(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "good.yaml")
	good := "source: {hosts: [127.0.0.1]}\ndestination: {hosts: [127.0.0.2]}\ntables: [{keyspace: ks, table: t}]\n"
	if err := os.WriteFile(cfg, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(jobIndexEnv, "7")
	for _, cmd := range []string{"run", "verify", "repair"} {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), []string{cmd, "--config", cfg, "--shard-from-env", "4"}, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), jobIndexEnv) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d naming %s", cmd, code, stderr.String(), exitUsage, jobIndexEnv)
		}
	}
}
