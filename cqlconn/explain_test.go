package cqlconn

import (
	"errors"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	app := Access{Username: "islands_app", PasswordFile: "/w/app.password", TLS: TLS{CAFile: "/w/ca.pem"}}
	plain := Access{Username: "islands_app", PasswordFile: "/w/app.password"}
	cases := []struct {
		msg   string
		a     Access
		cause error
		hint  string
	}{
		{"gocql: unable to create session: unable to discover protocol version: Provided username islands_app and/or password are incorrect", app, ErrBadCredentials, "password_file /w/app.password"},
		{`gocql: unable to create session: unable to discover protocol version: authentication required (using "org.apache.cassandra.auth.PasswordAuthenticator")`, Access{}, ErrNoCredentials, "password_file"},
		{"gocql: unable to create session: unable to discover protocol version: tls: failed to verify certificate: x509: certificate signed by unknown authority", Access{TLS: TLS{Enabled: true}}, ErrUnknownCA, "tls.ca_file"},
		{"x509: certificate is valid for 127.0.5.1, not 127.0.9.9", app, ErrWrongHost, "server_name"},
		{"gocql: unable to create session: unable to discover protocol version: tls: first record does not look like a TLS handshake", app, ErrTLSToPlain, "does not speak TLS"},
		{"gocql: unable to create session: unable to discover protocol version: EOF", plain, ErrPlainToTLS, "tls.enabled"},
		{"User islands_app has no MODIFY permission on <table ks1.t> or any of its parents", app, ErrPermission, "GRANT MODIFY ON TABLE ks1.t TO islands_app"},
		{"User islands_app has no CREATE permission on <all keyspaces> or any of its parents", app, ErrPermission, "GRANT CREATE ON ALL KEYSPACES TO islands_app"},
		{"User islands_forklift has no CREATE permission on <all tables in ifne> or any of its parents", app, ErrPermission, "GRANT CREATE ON KEYSPACE ifne TO islands_forklift"},
		{"gocql: unable to create session: unable to discover protocol version: Unable to perform authentication: Cannot achieve consistency level LOCAL_QUORUM", app, ErrAuthUnready, "system_auth"},
		{"tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match cassandra-us.example", app, ErrWrongHost, "server_name"},
		{"gocql: unable to create session: unable to discover protocol version: read tcp 127.0.0.1:33684->127.0.5.1:9042: read: connection reset by peer", plain, ErrPlainToTLS, "tls.enabled"},
	}
	for _, c := range cases {
		err := Explain(errors.New(c.msg), c.a, "127.0.5.1:9042")
		if !errors.Is(err, c.cause) || !strings.Contains(err.Error(), c.hint) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: got %v, want cause %v with %q", c.msg, err, c.cause, c.hint)
		}
	}
	// EOF with TLS on is not "plain text to a TLS port"; other errors pass unchanged.
	for _, msg := range []string{"EOF", "no hosts available in the pool"} {
		orig := errors.New(msg)
		if err := Explain(orig, app); err != orig {
			t.Errorf("%q: changed to %v", msg, err)
		}
	}
	if Explain(nil, app) != nil {
		t.Error("nil changed")
	}
	once := Explain(errors.New("Provided username u and/or password are incorrect"), app)
	if twice := Explain(once, app); twice != once {
		t.Errorf("explained twice: %v", twice)
	}
}

func TestNeedSatisfiedBy(t *testing.T) {
	n := Need{Permission: "MODIFY", Keyspace: "Ks", Table: "t"}
	for res, want := range map[string]bool{
		"<all keyspaces>": true, "<keyspace ks>": true, "<table ks.t>": true,
		"<table ks.u>": false, "<keyspace other>": false, "<all roles>": false, "<all tables in ks>": true,
	} {
		if got := n.satisfiedBy("MODIFY", res); got != want {
			t.Errorf("%s: %v, want %v", res, got, want)
		}
	}
	if n.satisfiedBy("SELECT", "<all keyspaces>") {
		t.Error("SELECT satisfied MODIFY")
	}
	if (Need{Permission: "CREATE", Keyspace: "ks"}).satisfiedBy("CREATE", "<table ks.t>") {
		t.Error("a table grant satisfied a keyspace need")
	}
}
