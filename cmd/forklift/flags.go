package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	imetrics "github.com/globalcloud/islands/internal/metrics"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/private"
)

var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

// common are the flags every command shares: the config file, one flag per config key, and the
// program's own (logging, metrics, report).
type common struct {
	fs     *flag.FlagSet
	config string
	set    map[string]func(string) error // config-key flags, applied over the YAML when given
	raw    map[string]string             // the value each config-key flag was given
	// boolFlags are the config-key flags taking true or false as their value (--source-tls true).
	boolFlags map[string]bool
	cfg       forklift.Config // what the flags write into

	logLevel, logFormat, metricsAddr, reportPath string
	jsonOut                                      bool
	warnings                                     []string // said once the logger exists
	shardFlags                                   shardFlags
	shard                                        forklift.Shard
	getenv                                       func(string) string // os.Getenv; tests replace it
}

// newCommon registers the shared flags; sharded commands also take --shard.
func newCommon(name string, stderr io.Writer, sharded bool) *common {
	c := &common{fs: flag.NewFlagSet("forklift "+name, flag.ContinueOnError), set: map[string]func(string) error{}, raw: map[string]string{},
		boolFlags: map[string]bool{},
		getenv:    os.Getenv}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.config, "config", "", "YAML config file (required unless every needed key is given as a flag)")
	c.fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	c.fs.StringVar(&c.logFormat, "log-format", "text", "text or json (structured logs on stderr)")
	c.fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. 127.0.0.1:9100: this machine only; any other address is warned about); empty = off")
	c.fs.StringVar(&c.reportPath, "report", "", "also write the JSON report to this file")
	c.fs.BoolVar(&c.jsonOut, "json", false, "print the JSON report on stdout instead of the table")
	if sharded {
		c.shardFlags.register(c.fs)
	}
	c.configFlags()
	return c
}

// key registers a flag that overrides one config key.
func (c *common) key(name, help string, apply func(string) error) {
	c.fs.Func(name, help, func(v string) error {
		c.set[name] = apply
		c.raw[name] = v
		return apply(v) // validate now; applied again over the YAML later
	})
}

// boolKeyValue is key for a boolean config key that takes its value (--source-tls true): the
// value must be one strconv.ParseBool accepts, refused unshown otherwise (refuseUnsafeValues).
func (c *common) boolKeyValue(name, help string, apply func(string) error) {
	c.boolFlags[name] = true
	c.key(name, help, apply)
}

// boolKey is key for a boolean config key: the flag alone means true (--create-table).
func (c *common) boolKey(name, help string, apply func(string) error) {
	c.fs.BoolFunc(name, help, func(v string) error {
		c.set[name] = apply
		c.raw[name] = v
		return apply(v)
	})
}

func (c *common) configFlags() {
	d := forklift.Defaults()
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	list := func(p *[]string) func(string) error {
		return func(v string) error { *p = splitList(v); return nil }
	}
	num := func(p *int) func(string) error {
		return func(v string) error { _, err := fmt.Sscan(v, p); return err }
	}
	// Strict: ParseBool or an error (refuseUnsafeValues has refused anything else unshown).
	boolean := func(p *bool) func(string) error {
		return func(v string) (err error) { *p, err = strconv.ParseBool(v); return err }
	}
	dur := func(p *time.Duration) func(string) error {
		return func(v string) (err error) { *p, err = time.ParseDuration(v); return err }
	}
	for _, side := range []struct {
		name string
		cc   *forklift.ClusterConfig
	}{{"source", &c.cfg.Source}, {"destination", &c.cfg.Destination}} {
		p, cc := side.name, side.cc
		c.key(p+"-hosts", p+".hosts: contact points, comma-separated host[:port]", list(&cc.Hosts))
		c.key(p+"-local-dc", p+".local_dc: datacenter to route to (default: none, token-aware round robin)", str(&cc.LocalDC))
		c.key(p+"-username", p+".username (default: no auth)", str(&cc.Username))
		// No --source-password: a password on the command line shows in ps (parse refuses it).
		c.key(p+"-password-file", p+".password_file: file holding the password", str(&cc.PasswordFile))
		c.key(p+"-password-env", p+".password_env: environment variable holding the password", str(&cc.PasswordEnv))
		c.key(p+"-consistency", p+".consistency (default "+d.Source.Consistency+")", str(&cc.Consistency))
		c.key(p+"-timeout", p+".timeout of one request (default "+d.Source.Timeout.String()+")", dur(&cc.Timeout))
		c.key(p+"-connect-timeout", p+".connect_timeout (default "+d.Source.ConnectTimeout.String()+")", dur(&cc.ConnectTimeout))
		c.key(p+"-connections", p+".connections per host (default 2)", num(&cc.Connections))
		c.boolKeyValue(p+"-disable-host-lookup", p+".disable_host_lookup: use only the contact points (default false)", boolean(&cc.DisableHostLookup))
		c.boolKeyValue(p+"-tls", p+".tls.enabled (default false)", boolean(&cc.TLS.Enabled))
		c.key(p+"-tls-ca", p+".tls.ca_file", str(&cc.TLS.CAFile))
		c.key(p+"-tls-cert", p+".tls.cert_file", str(&cc.TLS.CertFile))
		c.key(p+"-tls-key", p+".tls.key_file", str(&cc.TLS.KeyFile))
		c.key(p+"-tls-server-name", p+".tls.server_name", str(&cc.TLS.ServerName))
		c.boolKeyValue(p+"-tls-insecure", p+".tls.insecure_skip_verify: do not verify the server's certificate; logged as INSECURE (default false)", boolean(&cc.TLS.InsecureSkipVerify))
		c.boolKeyValue(p+"-insecure-password", p+".insecure_password: send the password to a server TLS does not verify; refused otherwise, logged as INSECURE (default false)", boolean(&cc.InsecurePassword))
		c.key(p+"-allowed-authenticators", p+".allowed_authenticators: server authenticator classes the password is offered to, comma-separated (default Cassandra's PasswordAuthenticator)", list(&cc.AllowedAuthenticators))
	}
	c.key("keyspaces", "keyspaces: copy every table of these keyspaces, comma-separated", list(&c.cfg.Keyspaces))
	c.key("tables", "tables: keyspace.table[=resolver], comma-separated (replaces the YAML's tables)", func(v string) error {
		c.cfg.Tables = nil
		for _, s := range splitList(v) {
			name, res, _ := strings.Cut(s, "=")
			ks, tb, ok := strings.Cut(name, ".")
			if !ok {
				return fmt.Errorf("%q: want keyspace.table[=resolver]", s)
			}
			c.cfg.Tables = append(c.cfg.Tables, forklift.TableConfig{Keyspace: ks, Table: tb, Resolver: res})
		}
		return nil
	})
	c.key("default-resolver", "default_resolver for tables given by keyspace (default "+d.DefaultResolver+")", str(&c.cfg.DefaultResolver))
	c.key("page-size", fmt.Sprintf("page_size: rows per read page and checkpoint (default %d)", d.PageSize), num(&c.cfg.PageSize))
	c.key("workers", fmt.Sprintf("workers: token ranges copied at once (default %d)", d.Workers), num(&c.cfg.Workers))
	c.key("write-concurrency", fmt.Sprintf("write_concurrency: partitions each worker writes at once (default %d)", d.WriteConcurrency), num(&c.cfg.WriteConcurrency))
	c.key("ranges", fmt.Sprintf("ranges: token ranges per table; keep it for --resume (default %d)", d.Ranges), num(&c.cfg.Ranges))
	c.key("rate-limit", "rate_limit: rows/s across workers, 0 = unlimited (default 0)", func(v string) error {
		_, err := fmt.Sscan(v, &c.cfg.RateLimit)
		return err
	})
	c.key("retries", fmt.Sprintf("retries of a timed-out or overloaded request (default %d)", d.Retries), num(&c.cfg.Retries))
	c.key("max-batch-bytes", fmt.Sprintf("max_batch_bytes of one unlogged batch (default %d)", d.MaxBatchBytes), num(&c.cfg.MaxBatchBytes))
	c.key("checkpoint-keyspace", "checkpoint_keyspace in the destination (default "+d.CheckpointKeyspace+")", str(&c.cfg.CheckpointKeyspace))
	c.key("checkpoint-rf", "checkpoint_rf when forklift creates that keyspace (default 1)", num(&c.cfg.CheckpointRF))
	c.key("run-id", "run_id: names the run's checkpoints (default "+d.RunID+")", str(&c.cfg.RunID))
	c.key("verify-subranges", fmt.Sprintf("verify_subranges hashed per range (default %d)", d.VerifySubranges), num(&c.cfg.VerifySubranges))
	c.key("verify-samples", fmt.Sprintf("verify_samples per kind and table (default %d)", d.VerifySamples), num(&c.cfg.VerifySamples))
	c.key("migration", "migration.name: run only once every live instance of this migration dual-writes", str(&c.cfg.Migration.Name))
	c.key("migration-keyspace", "migration.keyspace: the control keyspace (default islands_control)", str(&c.cfg.Migration.Keyspace))
	c.key("migration-control-hosts", "migration.control.hosts: the control cluster (default: the destination's settings)", list(&c.cfg.Migration.Control.Hosts))
	c.key("quarantine-file", "quarantine_file: also append quarantined partitions here as JSON lines", str(&c.cfg.QuarantineFile))
	c.boolKey("create-table", "create_tables: create a missing destination table from the source's schema (default false)", boolean(&c.cfg.CreateTables))
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parse parses args and builds the config: YAML first, then every flag given; then the config and
// --shard are validated, so a configuration error is reported before any cluster is contacted.
func (c *common) parse(args []string) (forklift.Config, error) {
	if err := refusePasswordFlags(args); err != nil {
		return forklift.Config{}, err
	}
	if err := refuseUnsafeValues(c.fs, c.boolFlags, args); err != nil {
		return forklift.Config{}, err
	}
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return forklift.Config{}, errHelp
		}
		return forklift.Config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if c.fs.NArg() > 0 {
		// Named by its position, never echoed: it may be a password typed in the wrong place.
		return forklift.Config{}, fmt.Errorf("%w: %d unexpected argument(s) after the flags (the first is argument %d; not shown, it may be a secret): forklift takes flags only",
			errUsage, c.fs.NArg(), len(args)-c.fs.NArg()+1)
	}
	var cfg forklift.Config
	if c.config != "" {
		var err error
		if cfg, err = forklift.LoadConfig(c.config); err != nil {
			return cfg, fmt.Errorf("%s: %w", c.config, err)
		}
		c.warnings = append(c.warnings, exposedPasswords(c.config, cfg)...)
	}
	c.cfg = cfg
	for _, name := range c.order() {
		if err := c.set[name](c.raw[name]); err != nil {
			return cfg, err
		}
	}
	cfg = c.cfg
	for _, side := range []struct {
		name string
		cc   forklift.ClusterConfig
	}{{"source", cfg.Source}, {"destination", cfg.Destination}} {
		for _, w := range side.cc.Access.Warnings() {
			c.warnings = append(c.warnings, side.name+": "+w)
		}
	}
	if c.metricsAddr != "" && !imetrics.LoopbackOnly(c.metricsAddr) {
		c.warnings = append(c.warnings, fmt.Sprintf("--metrics-addr %s: /metrics is reachable from other machines (keyspaces, tables, hosts, progress); "+
			"set --metrics-addr 127.0.0.1:PORT to keep it on this one", c.metricsAddr))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	var err error
	c.shard, err = c.shardFlags.resolve(c.getenv)
	return cfg, err
}

// order lists the flags given, in the order flag.Visit reports them.
func (c *common) order() []string {
	var names []string
	c.fs.Visit(func(f *flag.Flag) {
		if _, ok := c.set[f.Name]; ok {
			names = append(names, f.Name)
		}
	})
	return names
}

func (c *common) logger(stderr io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var log *slog.Logger
	if c.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, opts))
	}
	for _, w := range c.warnings {
		log.Warn(w)
	}
	return log
}

// registry serves /metrics when --metrics-addr is set.
func (c *common) registry(log *slog.Logger) prometheus.Registerer {
	if c.metricsAddr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: c.metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "addr", c.metricsAddr, "err", err)
		}
	}()
	return reg
}

// output writes the command's report: as JSON to --report when given, and on stdout as JSON
// (--json) or as the command's text.
func (c *common) output(stdout io.Writer, out output) error {
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if c.reportPath != "" {
		if err := private.WriteFile(c.reportPath, append(b, '\n')); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if c.jsonOut {
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	out.print(stdout)
	return nil
}
