package cqlconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/gocql/gocql"
)

// ErrAccess marks an error in how a cluster is to be reached: a password that cannot be read, a CA
// file that is missing or holds no certificate, options that do not go together.
var ErrAccess = errors.New("cqlconn")

// ErrPasswordInClear marks an Access refused because its password would go to a server TLS does
// not verify (plain text, or insecure_skip_verify): whoever sits on the path, or answers on the
// address, would receive it. Access.InsecurePassword is the explicit opt-out.
var ErrPasswordInClear = errors.New("a password is sent only to a server TLS verifies")

// envName is what password_env's errors accept as a variable's name: capitals, digits and _.
var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// shownEnvName is what password_env's errors echo: a variable named for what it holds, words
// joined by _ and ending in one that says "password" (ISLANDS_CQL_APP_PASSWORD, DB_PW, APP_SECRET).
// Anything else may be the password itself typed where its variable's name belongs, generated
// passwords of capitals, digits and _ included (HUNTER2VERYSECRET7Q, HUNTER_TWO_X), and is never
// echoed.
var shownEnvName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_(PASSWORD|PASSWD|PWD|PW|PASS|SECRET|TOKEN)$`)

// PasswordAuthenticator is the authenticator class Cassandra names when it asks for a password;
// the only one a password is offered to unless Access.AllowedAuthenticators says otherwise.
const PasswordAuthenticator = "org.apache.cassandra.auth.PasswordAuthenticator"

// Access says how to authenticate to a cluster and whether to speak TLS to it. The zero value is
// plain text without credentials (a cluster with AllowAllAuthenticator).
type Access struct {
	// Username enables PasswordAuthenticator.
	Username string `yaml:"username" json:"username,omitempty"`
	// Password is the literal password. Prefer PasswordFile or PasswordEnv; a program must never
	// take it from a flag.
	Password Secret `yaml:"password" json:"password,omitempty"`
	// PasswordFile is a file whose content (trailing newline trimmed) is the password.
	PasswordFile string `yaml:"password_file" json:"password_file,omitempty"`
	// PasswordEnv names an environment variable that holds the password.
	PasswordEnv string `yaml:"password_env" json:"password_env,omitempty"`
	// TLS configures client-to-node encryption.
	TLS TLS `yaml:"tls" json:"tls"`
	// InsecurePassword sends the password even where TLS does not verify the server (plain text,
	// or tls.insecure_skip_verify), which is otherwise refused with ErrPasswordInClear. For a
	// throwaway test cluster only; Warnings says so, and programs log it.
	InsecurePassword bool `yaml:"insecure_password" json:"insecure_password,omitempty"`
	// AllowedAuthenticators are the server authenticator classes the password is offered to.
	// Default: PasswordAuthenticator only (gocql's own default list also answers DSE's and
	// Instaclustr's authenticators).
	AllowedAuthenticators []string `yaml:"allowed_authenticators" json:"allowed_authenticators,omitempty"`
}

// TLS configures client TLS for one cluster.
type TLS struct {
	// Enabled turns TLS on; setting CAFile or CertFile does too.
	Enabled bool `yaml:"enabled" json:"enabled,omitempty"`
	// CAFile is the PEM file of the CA(s) the server's certificate must chain to. Default: the
	// system's roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// CertFile and KeyFile are the client's certificate and key (PEM), for clusters that require
	// client certificates. They go together.
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file" json:"key_file,omitempty"`
	// ServerName is the name the server's certificate must carry. Default: the address dialled.
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`
	// InsecureSkipVerify accepts any server certificate: encryption without authentication of the
	// server. For a test cluster only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify,omitempty"`
}

// On reports whether TLS is asked for.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" }

// Validate checks what can be checked without the network: the options go together, the password
// source is readable, the CA file holds a certificate, a password goes only to a server TLS
// verifies. The error wraps ErrAccess and names the option (never the password).
func (a Access) Validate() error {
	pw, err := a.password()
	if err != nil {
		return err
	}
	if _, err := a.tlsConfig(); err != nil {
		return err
	}
	return a.checkPasswordVerified(pw)
}

// verifiesServer reports whether TLS is on and checks the server's certificate.
func (a Access) verifiesServer() bool { return a.TLS.On() && !a.TLS.InsecureSkipVerify }

// checkPasswordVerified refuses a password for a server TLS does not verify, unless
// InsecurePassword.
func (a Access) checkPasswordVerified(pw Secret) error {
	if !pw.IsSet() || a.verifiesServer() || a.InsecurePassword {
		return nil
	}
	how := "over plain text"
	if a.TLS.On() {
		how = "over TLS that does not verify the server (tls.insecure_skip_verify)"
	}
	return fmt.Errorf("%w: %w: user %q's password would go %s: set tls.enabled and tls.ca_file (the CA the cluster's certificates chain to) so the server is verified first, "+
		"or insecure_password: true to send it anyway (a throwaway test cluster only)", ErrAccess, ErrPasswordInClear, a.Username, how)
}

// Warnings lists what a is unsafe about, for a program to log at start: TLS that does not verify
// the server, and a password sent without that verification (InsecurePassword). Empty when a is
// safe. They never include the password.
func (a Access) Warnings() []string {
	var out []string
	if a.TLS.On() && a.TLS.InsecureSkipVerify {
		out = append(out, "INSECURE: tls.insecure_skip_verify: the server's certificate is not checked, so whoever can reach the path can pose as the cluster and read or change every row")
	}
	if a.InsecurePassword && a.Username != "" && !a.verifiesServer() {
		out = append(out, fmt.Sprintf("INSECURE: insecure_password: user %q's password is sent to a server TLS does not verify: anyone on the path can capture it; never use this outside a throwaway test cluster", a.Username))
	}
	return out
}

// password resolves the password from its one source.
func (a Access) password() (Secret, error) {
	n := 0
	for _, set := range []bool{a.Password.IsSet(), a.PasswordFile != "", a.PasswordEnv != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return Secret{}, fmt.Errorf("%w: password, password_file and password_env are alternatives: set one", ErrAccess)
	}
	if n == 1 && a.Username == "" {
		return Secret{}, fmt.Errorf("%w: a password is set but no username: set username too", ErrAccess)
	}
	switch {
	case a.PasswordFile != "":
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			// The path is not shown: it may have come from ${VAR} expansion, or be the password
			// itself given where password_env was meant.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return Secret{}, fmt.Errorf("%w: password_file cannot be opened (path not shown: it may be the password): %v", ErrAccess, err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return Secret{}, fmt.Errorf("%w: password_file is empty", ErrAccess)
		}
		return NewSecret(p), nil
	case a.PasswordEnv != "":
		p, ok := os.LookupEnv(a.PasswordEnv)
		if !ok || p == "" {
			if !envName.MatchString(a.PasswordEnv) {
				// Not shown: what stands where a variable's name should may be the password itself.
				return Secret{}, fmt.Errorf("%w: password_env must name an environment variable (capitals, digits, _), and what it holds is not one (not shown: it may be the password)", ErrAccess)
			}
			if !shownEnvName.MatchString(a.PasswordEnv) {
				return Secret{}, fmt.Errorf("%w: password_env: the environment variable it names is not set (name not shown: it may be the password; a name ending in _PASSWORD, _PW, _SECRET or _TOKEN is shown)", ErrAccess)
			}
			return Secret{}, fmt.Errorf("%w: password_env: the environment variable %s is not set", ErrAccess, a.PasswordEnv)
		}
		return NewSecret(p), nil
	case a.Username != "" && !a.Password.IsSet():
		return Secret{}, fmt.Errorf("%w: username %q has no password: set password_file or password_env", ErrAccess, a.Username)
	}
	return a.Password, nil
}

// tlsConfig builds the client TLS configuration, or nil for plain text.
func (a Access) tlsConfig() (*tls.Config, error) {
	t := a.TLS
	if !t.On() {
		return nil, nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("%w: tls.cert_file and tls.key_file go together", ErrAccess)
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the user's explicit choice, documented
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.ca_file: %v", ErrAccess, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.ca_file %s holds no PEM certificate", ErrAccess, t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.cert_file/key_file: %v", ErrAccess, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Apply sets c's Authenticator and SslOpts from a: it reads the password and the CA now, so a
// missing file fails here, before any connection, and it refuses a password for a server TLS does
// not verify (ErrPasswordInClear) unless a.InsecurePassword. With host verification on (the
// default) gocql checks the server's certificate against the address it dials. The password is
// offered only to AllowedAuthenticators (default: Cassandra's PasswordAuthenticator).
func (a Access) Apply(c *gocql.ClusterConfig) error {
	pw, err := a.password()
	if err != nil {
		return err
	}
	tc, err := a.tlsConfig()
	if err != nil {
		return err
	}
	if err := a.checkPasswordVerified(pw); err != nil {
		return err
	}
	if a.Username != "" {
		allowed := a.AllowedAuthenticators
		if len(allowed) == 0 {
			allowed = []string{PasswordAuthenticator}
		}
		c.Authenticator = gocql.PasswordAuthenticator{Username: a.Username, Password: pw.Reveal(),
			AllowedAuthenticators: append([]string(nil), allowed...)}
	}
	if tc != nil {
		c.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: !a.TLS.InsecureSkipVerify}
	}
	return nil
}

// Cluster returns gocql.NewCluster(hosts...) with a applied.
func (a Access) Cluster(hosts ...string) (*gocql.ClusterConfig, error) {
	c := gocql.NewCluster(hosts...)
	if err := a.Apply(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Describe says how a connects, for logs and reports: "islands_app, TLS (CA /x/ca.pem)",
// "no credentials, plain text". It never includes the password.
func (a Access) Describe() string {
	who := "no credentials"
	if a.Username != "" {
		who = "user " + a.Username
	}
	switch {
	case !a.TLS.On():
		return who + ", plain text"
	case a.TLS.InsecureSkipVerify:
		return who + ", TLS without server verification"
	case a.TLS.CAFile != "":
		return who + ", TLS (CA " + a.TLS.CAFile + ")"
	default:
		return who + ", TLS (system CAs)"
	}
}
