package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/tlstest"

	"gopkg.in/yaml.v3"
)

// deployDoc is the part of a Kubernetes document these tests read (deploy/ decodes them strictly).
type deployDoc struct {
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string
	Spec     struct {
		Completions int
		Template    struct {
			Spec struct {
				Containers []struct{ Args []string }
			}
		}
	}
}

func readDeployDocs(t *testing.T, path string) []deployDoc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []deployDoc
	dec := yaml.NewDecoder(f)
	for {
		var d deployDoc
		if err := dec.Decode(&d); err == io.EOF {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// The Indexed Job's arguments and the ConfigMap's forklift.yaml are accepted by this program as
// each pod would run them: every flag known, the config strict-parsed and valid, the shard the
// pod's index of completions.
func TestDeployJobArgs(t *testing.T) {
	var args []string
	var completions int
	for _, d := range readDeployDocs(t, "../../deploy/kubernetes/forklift-job.yaml") {
		if d.Kind == "Job" {
			args, completions = d.Spec.Template.Spec.Containers[0].Args, d.Spec.Completions
		}
	}
	var config string
	for _, d := range readDeployDocs(t, "../../deploy/kubernetes/forklift-config.yaml") {
		if d.Kind == "ConfigMap" {
			config = d.Data["forklift.yaml"]
		}
	}
	if len(args) == 0 || completions == 0 || config == "" {
		t.Fatalf("Job args %q, completions %d, config %d bytes", args, completions, len(config))
	}
	// A pod that replaces a failed one (same JOB_COMPLETION_INDEX) continues its shard's
	// checkpoints instead of copying the shard again: checkpoints are checked per shard, so a
	// shard resuming before it ever saved one starts its ranges (forklift TestPlanRunChecksPerShard).
	if args[0] == "run" && !slices.Contains(args, "--resume") {
		t.Errorf("the Job runs %q without --resume: a replaced pod would copy its shard again from the start", args)
	}
	// The Secrets' mount points, here: the config is validated with the files it names.
	dir := t.TempDir()
	const mounts = "/var/run/secrets/islands/"
	for _, f := range []string{"source/password", "destination/password", "ca/ca.pem"} {
		if !strings.Contains(config, mounts+f) {
			t.Errorf("the config does not read %s%s", mounts, f)
		}
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		body := []byte("secret\n")
		if strings.HasSuffix(f, ".pem") {
			body = tlstest.CA(t)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config = strings.ReplaceAll(config, mounts, dir+"/")
	path := filepath.Join(dir, "forklift.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, a := range args[1:] { // args[0] is the command
		if strings.HasPrefix(a, "--config=") {
			a = "--config=" + path
		}
		flags = append(flags, a)
	}
	cmd, ok := commands[args[0]]
	if !ok || !cmd.sharded {
		t.Fatalf("the Job runs %q: not a sharded command", args[0])
	}
	for i := range completions {
		c := newCommon(cmd.name, io.Discard, true)
		cmd.setup(c.fs)
		c.getenv = func(k string) string {
			if k == jobIndexEnv {
				return strconv.Itoa(i)
			}
			return ""
		}
		cfg, err := c.parse(flags)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if c.shard.Index != i || c.shard.Count != completions {
			t.Fatalf("pod %d is shard %+v, want %d/%d", i, c.shard, i, completions)
		}
		if i == 0 && (cfg.Source.PasswordFile == "" || cfg.Destination.PasswordFile == "" || !cfg.Source.TLS.Enabled) {
			t.Errorf("the deployed config reads no password file or no TLS: %+v", cfg.Source)
		}
	}
}
