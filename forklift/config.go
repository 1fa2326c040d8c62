package forklift

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/globalcloud/islands/cqlconn"
)

// Config is what forklift copies and how. Every key is a YAML key (the yaml tags) and has a flag in
// cmd/forklift that overrides it; Defaults documents each default.
type Config struct {
	Source      ClusterConfig `yaml:"source"`
	Destination ClusterConfig `yaml:"destination"`

	// Keyspaces copies every table of each keyspace with DefaultResolver.
	Keyspaces []string `yaml:"keyspaces"`
	// Tables lists tables explicitly, each with its resolver; they override Keyspaces' entries.
	Tables []TableConfig `yaml:"tables"`
	// DefaultResolver is the resolver of tables listed only through Keyspaces. Default "lww".
	DefaultResolver string `yaml:"default_resolver"`

	// PageSize is the rows per read page, and the unit of checkpointing. Default 1000.
	PageSize int `yaml:"page_size"`
	// Workers is how many token ranges are copied at once. Default 4.
	Workers int `yaml:"workers"`
	// WriteConcurrency is how many partitions each worker writes at once. Default 16.
	WriteConcurrency int `yaml:"write_concurrency"`
	// Ranges is how many token ranges each table is split into; must stay the same for --resume.
	// Default 256.
	Ranges int `yaml:"ranges"`
	// RateLimit caps rows read per second across all workers; 0 = unlimited. Default 0.
	RateLimit float64 `yaml:"rate_limit"`
	// Retries is how many times a timed-out or overloaded request is retried, with exponential
	// backoff from 100ms to 10s. Default 8.
	Retries int `yaml:"retries"`
	// MaxBatchBytes caps one unlogged batch (a batch holds statements of one partition only).
	// Cassandra fails batches over batch_size_fail_threshold (50 KiB by default). Default 40000.
	MaxBatchBytes int `yaml:"max_batch_bytes"`

	// CheckpointKeyspace is the destination keyspace of forklift_progress and forklift_quarantine;
	// created when missing with CheckpointReplication. Default "forklift".
	CheckpointKeyspace string `yaml:"checkpoint_keyspace"`
	// CheckpointRF is the replication factor used when forklift creates CheckpointKeyspace. Default 1.
	CheckpointRF int `yaml:"checkpoint_rf"`
	// CheckpointReplication is the replication of CheckpointKeyspace when forklift creates it, per
	// datacenter (NetworkTopologyStrategy), e.g. {eu-west-1: 3}. Default: on a destination of
	// several datacenters, NetworkTopologyStrategy with CheckpointRF in its local one
	// (destination.local_dc, else the contacted node's); on one datacenter, SimpleStrategy with
	// CheckpointRF.
	CheckpointReplication map[string]int `yaml:"checkpoint_replication"`
	// RunID names a run in the checkpoint table; the same id resumes it. Default "forklift".
	RunID string `yaml:"run_id"`

	// VerifySubranges is how many subranges each range is hashed in by verify. Default 16.
	VerifySubranges int `yaml:"verify_subranges"`
	// VerifySamples is how many differences of each kind verify reports per table. Default 10.
	VerifySamples int `yaml:"verify_samples"`
	// CreateTables creates a destination table that is missing from the source's schema (columns,
	// primary key, clustering order; the destination's default table options) when the job opens
	// — any command, plan included; the keyspace must exist. Default false: a missing table is
	// ErrTableNotFound.
	CreateTables bool `yaml:"create_tables"`
	// QuarantineFile, when set, also appends each quarantined partition as a JSON line there.
	QuarantineFile string `yaml:"quarantine_file"`

	// Migration, when it names one, makes Run wait for the migration's fleet (migration.go).
	Migration MigrationConfig `yaml:"migration"`
}

// ClusterConfig says how to reach one cluster.
type ClusterConfig struct {
	// Hosts are contact points, host or host:port. Required.
	Hosts []string `yaml:"hosts"`
	// LocalDC routes requests to this datacenter (DC-aware, token-aware policy). Default: none
	// (token-aware round robin over all hosts).
	LocalDC string `yaml:"local_dc"`
	// Access is how to authenticate and whether to speak TLS (username, password_file,
	// password_env, password, tls.*; see package cqlconn). Default: no auth, plain text. The
	// password never prints: it is a cqlconn.Secret.
	cqlconn.Access `yaml:",inline"`
	// Consistency of reads (source; destination reads of merges and verify) and writes
	// (destination). Default LOCAL_QUORUM.
	Consistency string `yaml:"consistency"`
	// Timeout of one request. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// ConnectTimeout of the first connection. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Connections per host. Default 2.
	Connections int `yaml:"connections"`
	// DisableHostLookup uses only Hosts, not the peers the contact points report (for clusters
	// behind NAT or loopback test nodes). Default false.
	DisableHostLookup bool `yaml:"disable_host_lookup"`
}

// TLS configures client TLS for one cluster (cqlconn.TLS).
type TLS = cqlconn.TLS

// TableConfig is one dataset: a table and the resolver that merges its two islands.
type TableConfig struct {
	Keyspace string `yaml:"keyspace"`
	Table    string `yaml:"table"`
	// DestinationKeyspace is where the table lives in the destination. Default: Keyspace.
	DestinationKeyspace string `yaml:"destination_keyspace"`
	// Resolver is a merge resolver name (lww, union, prefer-source, prefer-destination, newest-by,
	// quarantine, or a registered custom one). Default: the config's DefaultResolver.
	Resolver string `yaml:"resolver"`
	// Options are the resolver's options (e.g. column: updated_at for newest-by).
	Options map[string]any `yaml:"options"`
}

// Name is keyspace.table.
func (t TableConfig) Name() string { return t.Keyspace + "." + t.Table }

// DestKeyspace is the destination keyspace of the table.
func (t TableConfig) DestKeyspace() string {
	if t.DestinationKeyspace != "" {
		return t.DestinationKeyspace
	}
	return t.Keyspace
}

// Defaults returns a Config with every default set and no clusters or tables.
func Defaults() Config { return Config{}.withDefaults() }

// withDefaults returns a copy of c with every unset key at its default; c, and the slices it
// shares with the caller, are left as they were.
func (c Config) withDefaults() Config {
	c.Tables = append([]TableConfig(nil), c.Tables...)
	setStr(&c.DefaultResolver, "lww")
	setInt(&c.PageSize, 1000)
	setInt(&c.Workers, 4)
	setInt(&c.WriteConcurrency, 16)
	setInt(&c.Ranges, 256)
	setInt(&c.Retries, 8)
	setInt(&c.MaxBatchBytes, 40000)
	setStr(&c.CheckpointKeyspace, "forklift")
	setInt(&c.CheckpointRF, 1)
	setStr(&c.RunID, "forklift")
	setInt(&c.VerifySubranges, 16)
	setInt(&c.VerifySamples, 10)
	for _, cc := range []*ClusterConfig{&c.Source, &c.Destination} {
		setStr(&cc.Consistency, "LOCAL_QUORUM")
		if cc.Timeout == 0 {
			cc.Timeout = 10 * time.Second
		}
		if cc.ConnectTimeout == 0 {
			cc.ConnectTimeout = 10 * time.Second
		}
		setInt(&cc.Connections, 2)
	}
	for i := range c.Tables {
		setStr(&c.Tables[i].Resolver, c.DefaultResolver)
	}
	return c
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

// LoadConfig reads a YAML config file, expanding ${VAR} from the environment in its values (see
// ParseConfig). Unknown keys are errors, so a misspelt key never silently falls back to a default.
// Defaults are not applied yet: flags override first, then Open applies them.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return ParseConfig(b)
}

// ParseConfig parses YAML config bytes. Its invariants:
//
//   - The YAML is parsed first, then ${NAME} is expanded from the environment in each value
//     (never in a key). An expanded value is never read as YAML again: a variable's content cannot
//     add keys or change the document's shape, whatever it holds.
//   - Only ${NAME} (a letter or _, then letters, digits, _) is expanded; any other $ is kept as it
//     is ("pa$word", "a$$b"), and $${ is a literal ${. A variable that is not set is an error that
//     names it and the key, so a typo never becomes an empty host or password.
//   - An unquoted value that was expanded takes the type its text has (workers: ${N} is a number);
//     a quoted one stays a string.
//   - An error never shows a value (a password, or a variable holding one): it names the line and
//     the key, and the YAML decoder's echo of the offending value is cut out. An unknown key is
//     quoted only when it looks like a key (looksLikeKey) and is not under a secret key: a
//     password typed without its ": " in a flow mapping ({password:PW}) parses as a key. Under a
//     secret key (password, password_env, …: secretKey) an unset ${NAME} is not named either: a
//     literal password may hold "${…}" (write $${ for a literal ${).
func ParseConfig(b []byte) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, yamlError(err))
	}
	var c Config
	if root.Kind == 0 {
		return c, nil // an empty file
	}
	if err := checkKeys(&root, reflect.TypeOf(c), ""); err != nil {
		return Config{}, err
	}
	if err := expandNode(&root, ""); err != nil {
		return Config{}, err
	}
	if err := root.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, yamlError(err))
	}
	return c, nil
}

// quotedValue is how the YAML parser and decoder quote a value in their errors ("cannot unmarshal
// !!str `x` into int", "cannot decode !!str `x` as a !!int", "unknown anchor 'x' referenced"):
// yamlError cuts it out, from the first quote to the last of its kind in one error (greedy, line
// breaks included: a block scalar's value holds them), so neither a quote nor a line break inside
// the value can end the cut early.
var quotedValue = regexp.MustCompile("(?s)\\s*(`.*`|'.*'|\".*\")")

// yamlError is err's text without the "yaml: " prefix and without any value it quotes: only the
// line (when the parser gives one) and the kind of error remain, never the text of the file. The
// decoder's type errors (one per value) are cut one by one, so each keeps its line.
func yamlError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			lines[i] = quotedValue.ReplaceAllString(e, " (value not shown)")
		}
		return "unmarshal errors:\n  " + strings.Join(lines, "\n  ")
	}
	return quotedValue.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), " (value not shown)")
}

// checkKeys refuses a mapping key that names no field of t (the yaml tags, inline structs
// included), with its line and path; maps and interface values take any key.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkKeys(c, t, path); err != nil {
				return err
			}
		}
		return nil
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return nil // the decoder reports the type error
		}
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct {
			return nil
		}
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				if !looksLikeKey(k.Value) || secretKey(path) {
					// A password typed without its ": " (password:PW in a flow mapping), or
					// given as a mapping, parses as a key: never quote it.
					return fmt.Errorf("%w: line %d: an unknown key (not shown: it may hold a value)%s", ErrConfig, k.Line, inPath(path))
				}
				return fmt.Errorf("%w: line %d: unknown key %q%s", ErrConfig, k.Line, k.Value, inPath(path))
			}
			if err := checkKeys(v, ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields adds the YAML keys of struct t to fields, as yaml.v3 names them.
func yamlFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			yamlFields(f.Type, fields)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
}

// looksLikeKey reports whether an unknown key may be quoted in an error: only what looks like a
// key (lower case letters and _, at most 40 characters); anything else may be a value typed in
// its place.
func looksLikeKey(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return false
		}
	}
	return true
}

// secretKey reports whether the last key of path holds a secret, or the name of one: password,
// password_env (whose value may be the password typed in its place), and any key ending in
// password, secret or token. Errors about such a key's value show nothing of it, not even the
// name of a ${VAR} in it (which may be a piece of the password).
func secretKey(path string) bool {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if path == "password_env" {
		return true
	}
	for _, suffix := range []string{"password", "secret", "token"} {
		if strings.HasSuffix(path, suffix) {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func inPath(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// expandNode expands ${NAME} in every scalar value under n (keys left as they are).
func expandNode(n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := expandNode(c, path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expandNode(n.Content[i+1], join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return nil
		}
		v, err := expandValue(n.Value, os.LookupEnv)
		if err != nil && secretKey(path) {
			// The "variable" may be a piece of a literal password holding ${…}.
			return fmt.Errorf("%w: line %d: %s: a ${NAME} in it names no environment variable that is set (the name is not shown: it may be part of a literal password); "+
				"write $${ for a literal ${, or use password_file / password_env", ErrConfig, n.Line, path)
		}
		if err != nil {
			return fmt.Errorf("%w: line %d: %s: %v", ErrConfig, n.Line, path, err)
		}
		if v == n.Value {
			return nil
		}
		n.Value = v
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 && n.Style&yaml.TaggedStyle == 0 {
			// Unquoted and untagged: the expanded text's own type, as if written there; but a
			// variable holding "null" or "~" is that text, not an absent value.
			n.Tag = ""
			if n.Tag = n.ShortTag(); n.Tag == "!!null" {
				n.Tag = "!!str"
			}
		}
	}
	return nil
}

// expandValue replaces each ${NAME} in s by the variable's value; $${ is a literal ${, and every
// other $ stays. The error names the variable, never s.
func expandValue(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "$")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "$${") {
			b.WriteString("${")
			s = s[3:]
			continue
		}
		if name, ok := varName(s); ok {
			v, set := lookup(name)
			if !set {
				return "", fmt.Errorf("the environment variable %s is not set", name)
			}
			b.WriteString(v)
			s = s[len(name)+3:]
			continue
		}
		b.WriteByte('$')
		s = s[1:]
	}
}

// varName is NAME when s starts with ${NAME}.
func varName(s string) (string, bool) {
	if !strings.HasPrefix(s, "${") {
		return "", false
	}
	end := strings.IndexByte(s, '}')
	if end < 3 {
		return "", false
	}
	name := s[2:end]
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return "", false
		}
	}
	return name, true
}

// Validate checks that the config, with its defaults, can run; the error wraps ErrConfig and names
// the key. It changes nothing: Open applies the defaults to its own copy.
func (c Config) Validate() error { return c.withDefaults().validate(true) }

// validate checks a config whose defaults are applied; needHosts is false when the caller brings
// its own sessions.
func (c Config) validate(needHosts bool) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if needHosts && len(c.Source.Hosts) == 0 {
		return bad("source.hosts is empty: give at least one contact point (host or host:port)")
	}
	if needHosts && len(c.Destination.Hosts) == 0 {
		return bad("destination.hosts is empty: give at least one contact point (host or host:port)")
	}
	if len(c.Tables) == 0 && len(c.Keyspaces) == 0 {
		return bad("nothing to copy: set keyspaces or tables")
	}
	for i, t := range c.Tables {
		if t.Keyspace == "" || t.Table == "" {
			return bad("tables[%d]: keyspace and table are required", i)
		}
	}
	if err := c.checkResolvers(); err != nil {
		return err
	}
	for name, cc := range map[string]ClusterConfig{"source": c.Source, "destination": c.Destination} {
		if _, err := parseConsistency(cc.Consistency); err != nil {
			return bad("%s.consistency: %v", name, err)
		}
		if err := cc.Access.Validate(); err != nil {
			return bad("%s: %v", name, strings.TrimPrefix(err.Error(), "cqlconn: "))
		}
	}
	switch {
	case c.PageSize < 1:
		return bad("page_size must be ≥ 1, got %d", c.PageSize)
	case c.Workers < 1:
		return bad("workers must be ≥ 1, got %d", c.Workers)
	case c.WriteConcurrency < 1:
		return bad("write_concurrency must be ≥ 1, got %d", c.WriteConcurrency)
	case c.Ranges < 1:
		return bad("ranges must be ≥ 1, got %d", c.Ranges)
	case c.RateLimit < 0:
		return bad("rate_limit must be ≥ 0 (0 = unlimited), got %v", c.RateLimit)
	case c.VerifySubranges < 1:
		return bad("verify_subranges must be ≥ 1, got %d", c.VerifySubranges)
	}
	return nil
}
