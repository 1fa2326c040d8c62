package cqlconn

import (
	"errors"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/tlstest"

	"github.com/gocql/gocql"
)

// A password goes only to a server TLS verifies: over plain text, or over TLS with
// insecure_skip_verify, it is refused before any connection (ErrPasswordInClear), unless
// insecure_password says otherwise, and then Warnings says so loudly. The error never shows it.
func TestPasswordOnlyToAVerifiedServer(t *testing.T) {
	ca := writeFile(t, "ca.pem", string(tlstest.CA(t)))
	file := writeFile(t, "pw", pw+"\n")
	verified := TLS{Enabled: true, CAFile: ca}
	unverified := TLS{Enabled: true, InsecureSkipVerify: true}
	cases := []struct {
		name    string
		a       Access
		refused bool
		warns   []string // each warning must contain one of these, in order
	}{
		{"plain text", Access{Username: "u", PasswordFile: file}, true, nil},
		{"literal, plain text", Access{Username: "u", Password: NewSecret(pw)}, true, nil},
		{"TLS without verification", Access{Username: "u", PasswordFile: file, TLS: unverified}, true, []string{"insecure_skip_verify"}},
		{"verified TLS", Access{Username: "u", PasswordFile: file, TLS: verified}, false, nil},
		{"verified TLS, system roots", Access{Username: "u", PasswordFile: file, TLS: TLS{Enabled: true}}, false, nil},
		{"opt-out, plain text", Access{Username: "u", PasswordFile: file, InsecurePassword: true}, false, []string{"insecure_password"}},
		{"opt-out, unverified TLS", Access{Username: "u", PasswordFile: file, InsecurePassword: true, TLS: unverified},
			false, []string{"insecure_skip_verify", "insecure_password"}},
		{"unverified TLS, no password", Access{TLS: unverified}, false, []string{"insecure_skip_verify"}},
		{"no credentials, plain text", Access{}, false, nil},
	}
	for _, c := range cases {
		for _, op := range []struct {
			name string
			f    func(Access) error
		}{{"Validate", Access.Validate}, {"Apply", func(a Access) error { return a.Apply(gocql.NewCluster("127.0.0.1")) }}} {
			err := op.f(c.a)
			if c.refused != (err != nil) || c.refused && !(errors.Is(err, ErrPasswordInClear) && errors.Is(err, ErrAccess)) {
				t.Errorf("%s: %s: got %v, want refused=%v with ErrPasswordInClear", c.name, op.name, err, c.refused)
			}
			if err != nil && (strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "tls.ca_file") || !strings.Contains(err.Error(), "insecure_password")) {
				t.Errorf("%s: %s: the error must name tls.ca_file and insecure_password, never the password: %v", c.name, op.name, err)
			}
		}
		w := c.a.Warnings()
		if len(w) != len(c.warns) {
			t.Errorf("%s: warnings %q, want %d", c.name, w, len(c.warns))
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], c.warns[i]) || strings.Contains(w[i], pw) {
				t.Errorf("%s: warning %q, want it to name %s", c.name, w[i], c.warns[i])
			}
		}
	}
}

// gocql answers any authenticator its default list names (DSE's, Instaclustr's…); a password is
// offered only to Cassandra's own PasswordAuthenticator, unless the access names others.
func TestApplyAllowsOnlyPasswordAuthenticator(t *testing.T) {
	ca := writeFile(t, "ca.pem", string(tlstest.CA(t)))
	for _, c := range []struct {
		allowed, want []string
	}{
		{nil, []string{"org.apache.cassandra.auth.PasswordAuthenticator"}},
		{[]string{"com.datastax.bdp.cassandra.auth.DseAuthenticator"}, []string{"com.datastax.bdp.cassandra.auth.DseAuthenticator"}},
	} {
		cl := gocql.NewCluster("127.0.0.1")
		a := Access{Username: "u", Password: NewSecret(pw), TLS: TLS{CAFile: ca}, AllowedAuthenticators: c.allowed}
		if err := a.Apply(cl); err != nil {
			t.Fatal(err)
		}
		auth := cl.Authenticator.(gocql.PasswordAuthenticator)
		if strings.Join(auth.AllowedAuthenticators, ",") != strings.Join(c.want, ",") {
			t.Errorf("allowed %q, want %q", auth.AllowedAuthenticators, c.want)
		}
		if _, _, err := auth.Challenge([]byte("com.instaclustr.cassandra.auth.SharedSecretAuthenticator")); err == nil {
			t.Errorf("a password offered to an authenticator not allowed")
		}
	}
}

// password_env names a variable; a value that cannot be one's name (a password typed in its
// place) is not echoed by the error.
func TestPasswordEnvNotAVariableNameIsNotEchoed(t *testing.T) {
	const typed = "Sup3r-s3cret-value"
	err := Access{Username: "u", PasswordEnv: typed}.Validate()
	if !errors.Is(err, ErrAccess) || strings.Contains(err.Error(), typed) || !strings.Contains(err.Error(), "password_env") {
		t.Fatalf("got %v", err)
	}
	err = Access{Username: "u", PasswordEnv: "CQLCONN_TEST_UNSET_PASSWORD"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "CQLCONN_TEST_UNSET_PASSWORD is not set") {
		t.Fatalf("a variable's name is named: %v", err)
	}
}

// A password of capitals, digits and words joined by _ (generated passwords often are) typed where
// password_env's variable name belongs is not echoed either: only a name that says it holds a
// password is (TestAttackSecPasswordEnvHoldingCapitalsEchoed's WORD_WORD sibling).
func TestPasswordEnvShapedLikeWordsIsNotEchoed(t *testing.T) {
	for _, typed := range []string{"HUNTER_TWO_X", "K9_QZ7_PLM2", "ADMIN_2024"} {
		err := Access{Username: "u", PasswordEnv: typed}.Validate()
		if !errors.Is(err, ErrAccess) || strings.Contains(err.Error(), typed) {
			t.Errorf("%s: got %v", typed, err)
		}
	}
}
