package forklift

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// YAML renders c as forklift's config file holds a cluster, the value of its source: or
// destination: key: a one-line flow mapping of the keys c sets, e.g.
//
//	{hosts: [127.0.5.1], local_dc: us-east-1, username: forklift, password_file: /run/forklift.password, tls: {enabled: true, ca_file: /etc/ca.pem}, disable_host_lookup: true}
//
// so a program that writes forklift's config (the chaos campaign, tests) writes
// "source: " + y. Keys left at their zero value are left out: they take their defaults.
//
// A literal Access.Password is refused with ErrConfig and nothing is rendered: a config file says
// where the password is (password_file, password_env), never the password. Values are written as
// they are; LoadConfig expands ${VAR} in them.
func (c ClusterConfig) YAML() (string, error) {
	if c.Password.IsSet() {
		return "", fmt.Errorf("%w: a literal password is never written to a config file: set password_file or password_env instead", ErrConfig)
	}
	// clusterYAML is ClusterConfig's keys with omitempty, Password left out; TestClusterConfigYAML
	// fails when ClusterConfig or cqlconn.Access gains a key this does not render.
	type tlsYAML struct {
		Enabled            bool   `yaml:"enabled,omitempty"`
		CAFile             string `yaml:"ca_file,omitempty"`
		CertFile           string `yaml:"cert_file,omitempty"`
		KeyFile            string `yaml:"key_file,omitempty"`
		ServerName         string `yaml:"server_name,omitempty"`
		InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
	}
	type clusterYAML struct {
		Hosts             []string      `yaml:"hosts,omitempty"`
		LocalDC           string        `yaml:"local_dc,omitempty"`
		Username          string        `yaml:"username,omitempty"`
		PasswordFile      string        `yaml:"password_file,omitempty"`
		PasswordEnv       string        `yaml:"password_env,omitempty"`
		TLS               *tlsYAML      `yaml:"tls,omitempty"`
		InsecurePassword  bool          `yaml:"insecure_password,omitempty"`
		AllowedAuths      []string      `yaml:"allowed_authenticators,omitempty"`
		Consistency       string        `yaml:"consistency,omitempty"`
		Timeout           time.Duration `yaml:"timeout,omitempty"`
		ConnectTimeout    time.Duration `yaml:"connect_timeout,omitempty"`
		Connections       int           `yaml:"connections,omitempty"`
		DisableHostLookup bool          `yaml:"disable_host_lookup,omitempty"`
	}
	y := clusterYAML{Hosts: c.Hosts, LocalDC: c.LocalDC, Username: c.Username, PasswordFile: c.PasswordFile,
		PasswordEnv: c.PasswordEnv, InsecurePassword: c.InsecurePassword, AllowedAuths: c.AllowedAuthenticators, Consistency: c.Consistency, Timeout: c.Timeout, ConnectTimeout: c.ConnectTimeout,
		Connections: c.Connections, DisableHostLookup: c.DisableHostLookup}
	if t := tlsYAML(c.TLS); t != (tlsYAML{}) {
		y.TLS = &t
	}
	var n yaml.Node
	if err := n.Encode(y); err != nil {
		return "", fmt.Errorf("forklift: render a cluster as YAML: %w", err)
	}
	n.Style = yaml.FlowStyle // nested mappings and sequences follow
	b, err := yaml.Marshal(&n)
	if err != nil {
		return "", fmt.Errorf("forklift: render a cluster as YAML: %w", err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}
