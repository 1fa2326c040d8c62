package main

import (
	imetrics "github.com/globalcloud/islands/internal/metrics"
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

// /metrics and /healthz stay on this machine unless the operator says otherwise, and an empty
// listen (net/http: ":80", every interface) is refused rather than taken.
func TestListenDefaultsToLoopback(t *testing.T) {
	cfg, err := load([]string{"-region", "eu", "-queue", "q"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9464" || !imetrics.LoopbackOnly(cfg.Listen) {
		t.Fatalf("default listen %q: want 127.0.0.1:9464", cfg.Listen)
	}
	for _, args := range [][]string{
		{"-region", "eu", "-queue", "q", "-listen", ""},
		{"-config", writeConfig(t, "region: eu\nqueue: q\nlisten: \"\"\n")},
		{"-region", "eu", "-queue", "q", "-listen", "127.0.0.1"},
	} {
		if _, err := load(args); err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("%q: want a listen error, got %v", args, err)
		}
	}
	for listen, local := range map[string]bool{"127.0.0.1:9464": true, "localhost:9464": true, "[::1]:9464": true,
		":9464": false, "0.0.0.0:9464": false, "10.1.2.3:9464": false} {
		if got := imetrics.LoopbackOnly(listen); got != local {
			t.Errorf("listen %q: loopback = %v, want %v", listen, got, local)
		}
	}
}
