package cqlconn

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gocql/gocql"
)

// The causes Explain recognises; test them with errors.Is.
var (
	ErrBadCredentials = errors.New("the cluster refused the user name or password")
	ErrNoCredentials  = errors.New("the cluster requires credentials and none were given")
	ErrUnknownCA      = errors.New("the server's certificate is not signed by a trusted CA")
	ErrWrongHost      = errors.New("the server's certificate does not name the address dialled")
	ErrTLSToPlain     = errors.New("TLS was spoken to a plain-text port")
	ErrPlainToTLS     = errors.New("plain text was spoken to a port that requires TLS")
	ErrPermission     = errors.New("the role lacks a permission")
	ErrAuthUnready    = errors.New("the node could not read its roles")
)

// Error is an access failure explained: Cause is one of the Err* above, Hint says what to change,
// Err is the driver's error.
type Error struct {
	Cause error
	Hint  string
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s (%v)", e.Cause, e.Hint, e.Err)
}

// Is matches the cause.
func (e *Error) Is(target error) bool { return target == e.Cause }

// Unwrap gives the driver's error.
func (e *Error) Unwrap() error { return e.Err }

var noPermission = regexp.MustCompile(`User (\S+) has no (\w+) permission on <(\w+) ([^>]+)>`)

// Explain turns a driver error met while connecting to hosts with a, or while running a statement,
// into an *Error naming the cause and what to change. Errors of other kinds come back unchanged.
func Explain(err error, a Access, hosts ...string) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	msg := err.Error()
	where := "the cluster"
	if len(hosts) > 0 {
		where = "Cassandra at " + strings.Join(hosts, ",")
	}
	ex := func(cause error, hint string, args ...any) error {
		return &Error{Cause: cause, Hint: fmt.Sprintf(hint, args...), Err: err}
	}
	var reqErr gocql.RequestError
	isCode := func(code int) bool { return errors.As(err, &reqErr) && reqErr.Code() == code }
	switch {
	case isCode(gocql.ErrCodeUnauthorized) || noPermission.MatchString(msg):
		if m := noPermission.FindStringSubmatch(msg); m != nil {
			resource := strings.ToUpper(m[3]) + " " + m[4] // <table ks.t>, <keyspace ks>
			switch {
			case m[3] == "all" && strings.HasPrefix(m[4], "tables in "):
				// <all tables in ks> (CREATE TABLE): its parent, the keyspace, is what one grants.
				resource = "KEYSPACE " + strings.TrimPrefix(m[4], "tables in ")
			case m[3] == "all":
				resource = strings.ToUpper(m[3] + " " + m[4]) // <all keyspaces>
			}
			return ex(ErrPermission, "role %s has no %s on %s: an administrator grants it with GRANT %s ON %s TO %s",
				m[1], m[2], strings.ToLower(resource), m[2], resource, m[1])
		}
		return ex(ErrPermission, "%s refused a statement of user %q: grant the role the permission it names", where, a.Username)
	case strings.Contains(msg, "Unable to perform authentication") && strings.Contains(msg, "consistency level"):
		return ex(ErrAuthUnready, "%s cannot reach enough replicas of system_auth to check the login: replicate system_auth to every datacenter (NetworkTopologyStrategy) and bring its replicas up, or retry once the cluster has settled", where)
	case strings.Contains(msg, "Provided username") || strings.Contains(msg, "password are incorrect") ||
		isCode(gocql.ErrCodeCredentials) && a.Username != "":
		return ex(ErrBadCredentials, "%s refused user %q: check its password (%s) and that the role exists with LOGIN = true",
			where, a.Username, a.passwordSource())
	case strings.Contains(msg, "authentication required") || isCode(gocql.ErrCodeCredentials):
		return ex(ErrNoCredentials, "%s uses PasswordAuthenticator: set username and password_file (or password_env)", where)
	case strings.Contains(msg, "certificate signed by unknown authority") || strings.Contains(msg, "certificate is not trusted"):
		return ex(ErrUnknownCA, "%s presented a certificate this client cannot verify: set tls.ca_file to the cluster's CA (the local world's is ISLANDS_CQL_CA)", where)
	case strings.Contains(msg, "x509: certificate is valid for") || strings.Contains(msg, "cannot validate certificate for") ||
		strings.Contains(msg, "certificate is not valid for any names"):
		return ex(ErrWrongHost, "connect to an address the node's certificate names, or set tls.server_name to the name it carries")
	case strings.Contains(msg, "first record does not look like a TLS handshake") ||
		strings.Contains(msg, "tls: ") && strings.Contains(msg, "record") && strings.Contains(msg, "handshake"):
		return ex(ErrTLSToPlain, "%s does not speak TLS on this port: turn tls off for it, or enable client_encryption_options on the cluster", where)
	case !a.TLS.On() && closedEarly(msg):
		return ex(ErrPlainToTLS, "%s closed the connection before the CQL handshake, as a TLS-only port does to plain text: set tls.enabled and tls.ca_file (the local world's CA is ISLANDS_CQL_CA)", where)
	}
	return err
}

// closedEarly reports a driver error of a connection the server dropped during the handshake.
func closedEarly(msg string) bool {
	for _, s := range []string{"EOF", "connection reset by peer", "broken pipe", "no response to connection startup", "no response received from cassandra within timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (a Access) passwordSource() string {
	switch {
	case a.PasswordFile != "":
		if strings.Contains(a.PasswordFile, "/") {
			return "password_file " + a.PasswordFile
		}
		return "password_file (a name without /, not shown: it may be the password)"
	case a.PasswordEnv != "":
		if shownEnvName.MatchString(a.PasswordEnv) {
			return "environment variable " + a.PasswordEnv
		}
		return "the environment variable password_env names (not shown: it may be the password)"
	case a.Password.IsSet():
		return "the password given in the configuration (gocql's PasswordAuthenticator)"
	default:
		return "no password given"
	}
}
