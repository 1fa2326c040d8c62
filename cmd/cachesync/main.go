// Command cachesync is the sidecar agent of one region: it long-polls the region's SQS queue and
// applies the other regions' cache events to the local memcached (see package cachesync).
//
//	cachesync -config cachesync.yaml [-flag value …]
//
// It serves /healthz and /metrics, logs with log/slog, and on SIGTERM or SIGINT stops receiving,
// finishes the messages in hand and exits 0. Exit codes: 0 stopped cleanly, 1 runtime failure,
// 2 bad configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	imetrics "github.com/globalcloud/islands/internal/metrics"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/globalcloud/islands/cachesync"
)

func main() {
	cfg, err := load(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "cachesync: %v\n", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "cachesync: %v\n", err)
		os.Exit(1)
	}
}

func run(cfg Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runCtx(ctx, cfg)
}

// runCtx runs the agent until ctx ends.
func runCtx(ctx context.Context, cfg Config) error {
	logger := newLogger(cfg)
	// The listen address first: a second agent on this host with the same (default) address is
	// refused before it touches SQS or memcached.
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	client, err := sqsClient(ctx, cfg)
	if err != nil {
		return err
	}
	queueURL, err := queueURL(ctx, client, cfg)
	if err != nil {
		return err
	}
	mc := memcache.New(cfg.Memcached)
	mc.Timeout = 2 * time.Second
	mc.MaxIdleConns = cfg.Appliers + 8 // every applier at once, and the readers' pings (see AgentOptions.Appliers)
	if err := mc.Ping(); err != nil {
		// Not fatal: memcached may be restarting; events wait on the queue until it answers.
		logger.Warn("memcached does not answer yet; events stay queued until it does", "memcached", cfg.Memcached, "err", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agent, err := cachesync.NewAgent(client, queueURL, mc, cachesync.AgentOptions{
		Receivers: cfg.Receivers, Appliers: cfg.Appliers, WaitSeconds: cfg.WaitSeconds, VisibilityTimeout: cfg.VisibilityTimeout,
		RetryDelay: cfg.RetryDelay, TombstoneTTL: cfg.TombstoneTTL, MaxDrift: cfg.MaxDrift, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := agent.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if !imetrics.LoopbackOnly(cfg.Listen) {
		logger.Warn("/metrics and /healthz are reachable from other machines; set listen to 127.0.0.1:PORT to keep them local",
			"listen", cfg.Listen)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "listen", cfg.Listen, "err", err)
		}
	}()

	logger.Info("cachesync agent started", "region", cfg.Region, "queue", queueURL, "memcached", cfg.Memcached,
		"receivers", cfg.Receivers, "listen", cfg.Listen)
	done := make(chan struct{})
	go func() { agent.Run(ctx); close(done) }()
	<-ctx.Done()
	logger.Info("stopping: no new receives, finishing messages in hand")
	select {
	case <-done:
	case <-time.After(cfg.ShutdownTimeout + time.Duration(cfg.WaitSeconds)*time.Second):
		logger.Warn("shutdown timeout: messages not finished come back to the queue after their visibility timeout")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	s := agent.Stats()
	logger.Info("cachesync agent stopped", "received", s.Received.Load(), "applied", s.Applied.Load(),
		"stale", s.Stale.Load(), "poison", s.Poison.Load(), "apply_errors", s.ApplyErrors.Load())
	return nil
}

func sqsClient(ctx context.Context, cfg Config) (*sqs.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.AWSRegion)}
	if cfg.Anonymous {
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.SQSEndpoint)
		}
		o.HTTPClient = cachesync.SQSHTTPClient(cfg.Receivers + 8) // receivers, deleters, visibility changes
	}), nil
}

// queueURL returns the URL of the agent's queue, a name or a URL as a publisher's Destination
// takes it (cachesync.QueueURL).
func queueURL(ctx context.Context, client *sqs.Client, cfg Config) (string, error) {
	u, err := cachesync.QueueURL(ctx, client, cfg.Queue)
	if err != nil {
		return "", fmt.Errorf("%w at %s (%s)", err, endpointName(cfg), sqsHint(cfg, err))
	}
	return u, nil
}

// sqsHint says what to check after a failed SQS call: credentials that could not be found for a
// local SQS (ElasticMQ takes unsigned requests) mean anonymous was forgotten.
func sqsHint(cfg Config, err error) string {
	msg := err.Error()
	noCreds := strings.Contains(msg, "get credentials") || strings.Contains(msg, "retrieve credentials") ||
		strings.Contains(msg, "no EC2 IMDS role found")
	switch {
	case noCreds && cfg.SQSEndpoint != "" && !cfg.Anonymous:
		return "no AWS credentials were found: a local SQS such as ElasticMQ takes unsigned requests: set anonymous: true (-anonymous)"
	case noCreds:
		return "no AWS credentials were found: give the agent a role or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or set anonymous: true (-anonymous) for a local SQS"
	}
	return "does it exist? check queue, sqs_endpoint and credentials"
}

// listen opens the address of /healthz and /metrics, or says which flag gives this agent its own.
func listen(cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s for /healthz and /metrics: %w: another agent (or program) on this host has it; "+
			"give each agent its own address with -listen 127.0.0.1:PORT (config key listen: 127.0.0.1:PORT)", cfg.Listen, err)
	}
	return ln, nil
}

func endpointName(cfg Config) string {
	if cfg.SQSEndpoint == "" {
		return "AWS SQS in " + cfg.AWSRegion
	}
	return cfg.SQSEndpoint
}

func newLogger(cfg Config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	ho := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, ho))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, ho))
}
