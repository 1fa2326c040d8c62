package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the agent's YAML configuration; every key has a flag of the same name (dots become
// dashes) that overrides it.
type Config struct {
	Region            string        `yaml:"region"`             // this region's name (required)
	Memcached         string        `yaml:"memcached"`          // local memcached host:port [127.0.0.1:11211]
	SQSEndpoint       string        `yaml:"sqs_endpoint"`       // SQS endpoint URL; empty = AWS's for aws_region
	AWSRegion         string        `yaml:"aws_region"`         // [us-east-1]
	Anonymous         bool          `yaml:"anonymous"`          // unsigned requests (ElasticMQ); else the AWS credential chain
	Queue             string        `yaml:"queue"`              // this region's queue: a name or a URL (required)
	Receivers         int           `yaml:"receivers"`          // concurrent long-poll receivers [4]
	Appliers          int           `yaml:"appliers"`           // workers applying events, each a share of the keys [32]
	WaitSeconds       int32         `yaml:"wait_seconds"`       // long-poll wait, 1..20 [20]
	VisibilityTimeout int32         `yaml:"visibility_timeout"` // seconds [30]
	RetryDelay        int32         `yaml:"retry_delay"`        // seconds before a failed event is retried [2]
	TombstoneTTL      time.Duration `yaml:"tombstone_ttl"`      // tombstone lifetime; older set events are applied as invalidations [5m]
	MaxDrift          time.Duration `yaml:"max_drift"`          // events stamped further ahead are applied as invalidations [1m]
	// Listen is the host:port of /healthz and /metrics [127.0.0.1:9464]: loopback, so only this
	// machine (a local Prometheus agent, the orchestrator's probe) reads them. Binding elsewhere
	// (":9464", "0.0.0.0:9464", a routable address) exposes the metrics — queue names, regions, the
	// process's own figures — to whoever reaches the port; the agent warns when it does. Empty is
	// refused: net/http would take it as ":80", every interface.
	Listen          string        `yaml:"listen"`
	LogLevel        string        `yaml:"log_level"`        // debug, info, warn, error [info]
	LogFormat       string        `yaml:"log_format"`       // text or json [text]
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // longest wait for in-flight work on SIGTERM [30s]
}

// flagOutput is where -h and flag errors are printed (tests capture it).
var flagOutput io.Writer = os.Stderr

func defaults() Config {
	return Config{Memcached: "127.0.0.1:11211", AWSRegion: "us-east-1", Receivers: 4, Appliers: 32, WaitSeconds: 20,
		VisibilityTimeout: 30, RetryDelay: 2, TombstoneTTL: 5 * time.Minute, MaxDrift: time.Minute, Listen: "127.0.0.1:9464",
		LogLevel: "info", LogFormat: "text", ShutdownTimeout: 30 * time.Second}
}

// load reads the config file named by -config (if any) and applies the flags set on the command
// line over it.
func load(args []string) (Config, error) {
	cfg := defaults()
	fs := flag.NewFlagSet("cachesync", flag.ContinueOnError)
	fs.SetOutput(flagOutput)
	path := fs.String("config", "", "YAML config file")
	// Every flag shows its default in -h (the value of defaults()); a flag overrides the file only
	// when it is given on the command line (fs.Visit below), so these defaults never mask a key.
	var over Config
	d := defaults()
	fs.StringVar(&over.Region, "region", "", "this region's name (required)")
	fs.StringVar(&over.Memcached, "memcached", d.Memcached, "local memcached host:port")
	fs.StringVar(&over.SQSEndpoint, "sqs-endpoint", "", "SQS endpoint URL (empty: AWS's endpoint for -aws-region)")
	fs.StringVar(&over.AWSRegion, "aws-region", d.AWSRegion, "AWS region of the queues")
	fs.BoolVar(&over.Anonymous, "anonymous", false, "send unsigned SQS requests (ElasticMQ); else the AWS credential chain")
	fs.StringVar(&over.Queue, "queue", "", "this region's queue name or URL (required)")
	recv := fs.Int("receivers", d.Receivers, "concurrent receivers")
	appliers := fs.Int("appliers", d.Appliers, "workers applying events")
	wait := fs.Int("wait-seconds", int(d.WaitSeconds), "long-poll wait seconds (1-20)")
	vis := fs.Int("visibility-timeout", int(d.VisibilityTimeout), "visibility timeout seconds")
	retry := fs.Int("retry-delay", int(d.RetryDelay), "seconds before a failed event is retried")
	fs.DurationVar(&over.TombstoneTTL, "tombstone-ttl", d.TombstoneTTL, "tombstone lifetime; older set events are applied as invalidations")
	fs.DurationVar(&over.MaxDrift, "max-drift", d.MaxDrift, "events stamped further ahead of this clock are applied as invalidations")
	fs.StringVar(&over.Listen, "listen", d.Listen, "address of /healthz and /metrics (each agent on a host needs its own)")
	fs.StringVar(&over.LogLevel, "log-level", d.LogLevel, "debug, info, warn or error")
	fs.StringVar(&over.LogFormat, "log-format", d.LogFormat, "text or json")
	fs.DurationVar(&over.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "longest wait for in-flight work on SIGTERM")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *path != "" {
		b, err := os.ReadFile(*path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			return cfg, fmt.Errorf("config %s: %w", *path, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	str := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	str("region", &cfg.Region, over.Region)
	str("memcached", &cfg.Memcached, over.Memcached)
	str("sqs-endpoint", &cfg.SQSEndpoint, over.SQSEndpoint)
	str("aws-region", &cfg.AWSRegion, over.AWSRegion)
	str("queue", &cfg.Queue, over.Queue)
	str("listen", &cfg.Listen, over.Listen)
	str("log-level", &cfg.LogLevel, over.LogLevel)
	str("log-format", &cfg.LogFormat, over.LogFormat)
	if set["anonymous"] {
		cfg.Anonymous = over.Anonymous
	}
	if set["receivers"] {
		cfg.Receivers = *recv
	}
	if set["appliers"] {
		cfg.Appliers = *appliers
	}
	if set["max-drift"] {
		cfg.MaxDrift = over.MaxDrift
	}
	if set["wait-seconds"] {
		cfg.WaitSeconds = int32(*wait)
	}
	if set["visibility-timeout"] {
		cfg.VisibilityTimeout = int32(*vis)
	}
	if set["retry-delay"] {
		cfg.RetryDelay = int32(*retry)
	}
	if set["tombstone-ttl"] {
		cfg.TombstoneTTL = over.TombstoneTTL
	}
	if set["shutdown-timeout"] {
		cfg.ShutdownTimeout = over.ShutdownTimeout
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	var errs []error
	if c.Region == "" {
		errs = append(errs, errors.New("region is required (config key region or -region)"))
	}
	if c.Queue == "" {
		errs = append(errs, errors.New("queue is required: this region's queue name or URL (config key queue or -queue)"))
	}
	if c.Receivers < 1 {
		errs = append(errs, fmt.Errorf("receivers = %d: must be at least 1", c.Receivers))
	}
	if c.Appliers < 1 {
		errs = append(errs, fmt.Errorf("appliers = %d: must be at least 1", c.Appliers))
	}
	if c.MaxDrift <= 0 {
		errs = append(errs, fmt.Errorf("max_drift = %s: must be positive", c.MaxDrift))
	}
	if c.WaitSeconds < 1 || c.WaitSeconds > 20 {
		errs = append(errs, fmt.Errorf("wait_seconds = %d: SQS long polls wait 1 to 20 seconds", c.WaitSeconds))
	}
	if c.VisibilityTimeout < 1 {
		errs = append(errs, fmt.Errorf("visibility_timeout = %d: must be at least 1 second", c.VisibilityTimeout))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: use debug, info, warn or error", c.LogLevel))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("listen %q: give host:port of /healthz and /metrics, e.g. 127.0.0.1:9464 (loopback: this machine only)", c.Listen))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log_format %q: use text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}
