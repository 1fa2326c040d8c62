package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHelpShowsDefaults (issue 31): `cachesync -h` prints every flag's default, the ones of
// defaults(), so a user learns them without the README.
func TestHelpShowsDefaults(t *testing.T) {
	var out bytes.Buffer
	old := flagOutput
	flagOutput = &out
	defer func() { flagOutput = old }()
	if _, err := load([]string{"-h"}); err == nil {
		t.Fatal("-h: no ErrHelp")
	}
	help := out.String()
	for _, want := range []string{
		`-memcached string`, `(default "127.0.0.1:11211")`,
		`-aws-region string`, `(default "us-east-1")`,
		`-receivers int`, `(default 4)`,
		`-appliers int`, `(default 32)`,
		`-wait-seconds int`, `(default 20)`,
		`-visibility-timeout int`, `(default 30)`,
		`-retry-delay int`, `(default 2)`,
		`-tombstone-ttl duration`, `(default 5m0s)`,
		`-max-drift duration`, `(default 1m0s)`,
		`-listen string`, `(default "127.0.0.1:9464")`,
		`-log-level string`, `(default "info")`,
		`-log-format string`, `(default "text")`,
		`-shutdown-timeout duration`, `(default 30s)`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q:\n%s", want, help)
		}
	}
	// Defaults shown on flags must not override the config file: a flag counts only when set.
	p := writeConfig(t, "region: eu\nqueue: q\nreceivers: 2\nlisten: 127.0.0.1:9470\n")
	cfg, err := load([]string{"-config", p})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Receivers != 2 || cfg.Listen != "127.0.0.1:9470" {
		t.Fatalf("file values overridden by flag defaults: %+v", cfg)
	}
}

// TestSecondAgentOnHostRefusedNamingFlag (issue 31): two agents on one host both default to
// 127.0.0.1:9464; the second is refused at once (before any SQS call) with an error that names
// the -listen flag and the listen key.
func TestSecondAgentOnHostRefusedNamingFlag(t *testing.T) {
	first, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	cfg := defaults()
	cfg.Region, cfg.Queue, cfg.Listen = "eu-west-1", "http://127.0.0.1:1/000000000000/q", first.Addr().String()
	cfg.SQSEndpoint, cfg.Anonymous = "http://127.0.0.1:1", true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = runCtx(ctx, cfg)
	if err == nil {
		t.Fatal("a second agent on the same listen address started")
	}
	for _, want := range []string{first.Addr().String(), "-listen", "listen:", "another"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestLocalSQSWithoutCredentialsMentionsAnonymous (issue 31): an agent pointed at a local SQS
// (ElasticMQ) without credentials and without anonymous fails with an error that says to set
// anonymous: true (-anonymous).
func TestLocalSQSWithoutCredentialsMentionsAnonymous(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials", "AWS_CONFIG_FILE": "/nonexistent/config",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": ""} {
		t.Setenv(k, v)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not expected: the request should fail before it is sent", http.StatusBadRequest)
	}))
	defer srv.Close()
	cfg := defaults()
	cfg.Region, cfg.Queue, cfg.SQSEndpoint = "eu-west-1", "islands-eu-west-1", srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := sqsClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = queueURL(ctx, client, cfg)
	if err == nil {
		t.Fatal("queue lookup without credentials succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "anonymous: true") || !strings.Contains(err.Error(), "-anonymous") {
		t.Fatalf("error %q does not mention anonymous: true / -anonymous", err)
	}
}

// TestExampleConfig: examples/cachesync.yaml (the README's) loads as it is, with the local
// world's eu-west-1 addresses; with the world up (ISLANDS_EU_SQS_ENDPOINT set) the agent runs
// with it and answers /healthz.
func TestExampleConfig(t *testing.T) {
	cfg, err := load([]string{"-config", "../../examples/cachesync.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.Memcached != "127.0.6.1:11211" || cfg.SQSEndpoint != "http://127.0.6.1:9324" || !cfg.Anonymous {
		t.Fatalf("example config: %+v", cfg)
	}
	ep := os.Getenv("ISLANDS_EU_SQS_ENDPOINT")
	if ep == "" {
		if os.Getenv("ISLANDS_REQUIRE_SERVICES") == "1" {
			t.Fatal("ISLANDS_EU_SQS_ENDPOINT unset")
		}
		t.Skip("local world not configured: the example's addresses are not checked against it")
	}
	if ep != cfg.SQSEndpoint || os.Getenv("ISLANDS_EU_MEMCACHED") != cfg.Memcached || os.Getenv("ISLANDS_EU_QUEUE") != cfg.Queue {
		t.Fatalf("examples/cachesync.yaml drifted from the world: sqs %s memcached %s queue %s, world %s %s %s",
			cfg.SQSEndpoint, cfg.Memcached, cfg.Queue, ep, os.Getenv("ISLANDS_EU_MEMCACHED"), os.Getenv("ISLANDS_EU_QUEUE"))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port: the example's may be taken by a running agent
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	ln.Close()
	cfg.WaitSeconds, cfg.ShutdownTimeout = 1, 5*time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runCtx(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + cfg.Listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("agent of examples/cachesync.yaml healthy at %s", cfg.Listen)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent of examples/cachesync.yaml not healthy after 20 s: %v", err)
		}
	}
}
