package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// The ConfigMap the sidecar mounts (deploy/kubernetes/cachesync-config.yaml) is a config this
// program loads (every key known) and listens where the pod's probes and Prometheus reach it.
func TestDeployConfig(t *testing.T) {
	f, err := os.Open("../../deploy/kubernetes/cachesync-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var body string
	dec := yaml.NewDecoder(f)
	for {
		var d struct {
			Kind string
			Data map[string]string
		}
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if d.Kind == "ConfigMap" {
			body = d.Data["cachesync.yaml"]
		}
	}
	if body == "" {
		t.Fatal("no cachesync.yaml in the ConfigMap")
	}
	path := filepath.Join(t.TempDir(), "cachesync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load([]string{"-config", path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9464" || cfg.Memcached != "127.0.0.1:11211" || cfg.Region == "" || cfg.Queue == "" {
		t.Fatalf("listen %q memcached %q region %q queue %q", cfg.Listen, cfg.Memcached, cfg.Region, cfg.Queue)
	}
}
