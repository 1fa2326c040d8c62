package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "cachesync.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileAndFlags(t *testing.T) {
	p := writeConfig(t, "region: eu-west-1\nqueue: islands-eu-west-1\nreceivers: 2\ntombstone_ttl: 1m\n")
	cfg, err := load([]string{"-config", p, "-receivers", "8", "-memcached", "127.0.2.1:11211", "-appliers", "16"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.Receivers != 8 || cfg.Memcached != "127.0.2.1:11211" ||
		cfg.TombstoneTTL != time.Minute || cfg.WaitSeconds != 20 || cfg.Appliers != 16 || cfg.MaxDrift != time.Minute {
		t.Fatalf("config: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		"region: eu\nqueue: q\nrecievers: 2\n":     "field recievers not found",
		"region: eu\nqueue: q\nwait_seconds: 60\n": "wait_seconds = 60",
		"queue: q\n":    "region is required",
		"region: eu\n":  "queue is required",
		"region: [eu\n": "config",
		"region: eu\nqueue: q\nlog_level: loud\n": "log_level \"loud\"",
		"region: eu\nqueue: q\nappliers: 0\n":     "appliers = 0",
	}
	for body, want := range cases {
		_, err := load([]string{"-config", writeConfig(t, body)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want an error containing %q, got %v", body, want, err)
		}
	}
}
