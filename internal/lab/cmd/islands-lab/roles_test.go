package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gocql/gocql"
)

func TestParseReplication(t *testing.T) {
	m, err := parseReplication("us-east-1:1, eu-west-1:2")
	if err != nil || len(m) != 2 || m["us-east-1"] != "1" || m["eu-west-1"] != "2" {
		t.Fatalf("parseReplication = %v, %v", m, err)
	}
	if got := formatReplication(m); got != "{eu-west-1:2, us-east-1:1}" {
		t.Errorf("formatReplication = %q", got)
	}
	if m, err := parseReplication(" "); m != nil || err != nil {
		t.Errorf("empty: %v, %v; want nil, nil (leave system_auth alone)", m, err)
	}
	for _, bad := range []string{"us-east-1", "us-east-1:0", ":1", "us-east-1:x", "a:1,,b:1"} {
		if _, err := parseReplication(bad); err == nil {
			t.Errorf("parseReplication(%q) accepted", bad)
		}
	}
}

// A password goes into a statement's text (role options take no bind markers): quoted so that no
// character of it can end the literal.
func TestCQLString(t *testing.T) {
	for in, want := range map[string]string{
		"abc":     "'abc'",
		"it's":    "'it''s'",
		"''":      "''''''",
		`a\'b;--`: `'a\''b;--'`,
	} {
		if got := cqlString(in); got != want {
			t.Errorf("cqlString(%q) = %s, want %s", in, got, want)
		}
	}
}

// A driver error that echoes a statement must not carry the password out; one that does not keeps
// its identity (errors.Is).
func TestRedact(t *testing.T) {
	pw := "s3cretPassw0rd"
	err := redact(errors.New("line 1:20 no viable alternative at input '"+pw+"'"), []string{"other", pw})
	if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("redact: %v", err)
	}
	if got := redact(gocql.ErrNotFound, []string{pw}); got != gocql.ErrNotFound {
		t.Errorf("redact changed an error without a secret: %v", got)
	}
	if redact(nil, []string{pw}) != nil {
		t.Error("redact(nil) != nil")
	}
}

// wantedRoles refuses a world without the secured variables, naming what to do.
func TestWantedRolesNeedsSecuredEnv(t *testing.T) {
	for _, v := range []string{"ISLANDS_CQL_CA", "ISLANDS_CQL_ADMIN_USER", "ISLANDS_CQL_ADMIN_PASSWORD_FILE",
		"ISLANDS_CQL_APP_USER", "ISLANDS_CQL_APP_PASSWORD_FILE", "ISLANDS_CQL_FORKLIFT_USER", "ISLANDS_CQL_FORKLIFT_PASSWORD_FILE",
		"ISLANDS_CQL_ADMIN_PASSWORD", "ISLANDS_CQL_APP_PASSWORD", "ISLANDS_CQL_FORKLIFT_PASSWORD"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	_, err := wantedRoles()
	if err == nil || !strings.Contains(err.Error(), "secured world") {
		t.Errorf("wantedRoles without the variables: %v", err)
	}
}

// Any superuser islands did not make is named, whether it holds SUPERUSER itself or through a
// role it was granted (a chain of grants included), and so is any role islands did not make that
// can log in (a spy made through cassandra/cassandra, granted SELECT on everything); islands' own
// roles and roles that can neither log in nor act as a superuser are not.
func TestStrangerRoles(t *testing.T) {
	rows := []roleRow{
		{name: "islands_admin", super: true, login: true},
		{name: "islands_app", login: true},
		{name: "islands_forklift", login: true},
		{name: "cassandra"},                                   // disabled by roles
		{name: "reader", memberOf: []string{"islands_app"}},   // no login, no superuser
		{name: "intruder", super: true},                       // made through cassandra/cassandra
		{name: "sneaky", memberOf: []string{"islands_admin"}}, // granted our superuser
		{name: "sneakier", memberOf: []string{"sneaky"}},      // through a chain
		{name: "spy", login: true},                            // logs in, whatever it was granted
	}
	ours := map[string]bool{"islands_admin": true, "islands_app": true, "islands_forklift": true}
	got := strangerRoles(rows, ours)
	if strings.Join(got, ",") != "intruder (SUPERUSER),sneakier (SUPERUSER),sneaky (SUPERUSER),spy (LOGIN)" {
		t.Fatalf("strangers %q", got)
	}
	if got := strangerRoles(rows[:5], ours); len(got) != 0 {
		t.Fatalf("islands' own roles only: %q", got)
	}
	err := strangersError("127.0.7.1:9042", []string{"intruder (SUPERUSER)"})
	var fatal fatalError
	if !errors.As(err, &fatal) || !strings.Contains(err.Error(), "intruder") || !strings.Contains(err.Error(), "DROP ROLE") {
		t.Fatalf("error %v: want a fatal error naming the role and the way out", err)
	}
}
