package cqlconn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/tlstest"

	"github.com/gocql/gocql"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyPasswordSources(t *testing.T) {
	file := writeFile(t, "pw", pw+"\n")
	t.Setenv("CQLCONN_TEST_PW", pw)
	// Plain text, so the password goes only with the explicit opt-out (TestPasswordOnlyToAVerifiedServer).
	for name, a := range map[string]Access{
		"file":    {Username: "u", PasswordFile: file, InsecurePassword: true},
		"env":     {Username: "u", PasswordEnv: "CQLCONN_TEST_PW", InsecurePassword: true},
		"literal": {Username: "u", Password: NewSecret(pw), InsecurePassword: true},
	} {
		c := gocql.NewCluster("127.0.0.1")
		if err := a.Apply(c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		auth, ok := c.Authenticator.(gocql.PasswordAuthenticator)
		if !ok || auth.Username != "u" || auth.Password != pw {
			t.Fatalf("%s: authenticator %T", name, c.Authenticator)
		}
		if c.SslOpts != nil {
			t.Fatalf("%s: TLS on without being asked", name)
		}
	}
}

func TestApplyErrorsNameTheProblem(t *testing.T) {
	empty := writeFile(t, "empty", "\n")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	cases := []struct {
		a    Access
		want string
	}{
		{Access{Username: "u", PasswordFile: "/nonexistent/pw"}, "password_file"},
		{Access{Username: "u", PasswordFile: empty}, "is empty"},
		{Access{Username: "u", PasswordEnv: "CQLCONN_TEST_UNSET_PASSWORD"}, "CQLCONN_TEST_UNSET_PASSWORD is not set"},
		{Access{Username: "u"}, "has no password"},
		{Access{PasswordFile: empty}, "no username"},
		{Access{Username: "u", Password: NewSecret("x"), PasswordEnv: "X"}, "alternatives"},
		{Access{TLS: TLS{CAFile: "/nonexistent/ca.pem"}}, "tls.ca_file"},
		{Access{TLS: TLS{CAFile: notPEM}}, "holds no PEM certificate"},
		{Access{TLS: TLS{Enabled: true, CertFile: notPEM}}, "go together"},
	}
	for _, c := range cases {
		err := c.a.Apply(gocql.NewCluster("127.0.0.1"))
		if err == nil || !errors.Is(err, ErrAccess) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an ErrAccess naming %q", c.a, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestApplyTLSVerifiesHost(t *testing.T) {
	ca := writeFile(t, "ca.pem", string(tlstest.CA(t)))
	c := gocql.NewCluster("127.0.0.1")
	if err := (Access{TLS: TLS{CAFile: ca}}).Apply(c); err != nil {
		t.Fatal(err)
	}
	if c.SslOpts == nil || !c.SslOpts.EnableHostVerification || c.SslOpts.Config.RootCAs == nil || c.SslOpts.Config.InsecureSkipVerify {
		t.Fatalf("TLS options %+v", c.SslOpts)
	}
	c = gocql.NewCluster("127.0.0.1")
	if err := (Access{TLS: TLS{Enabled: true, InsecureSkipVerify: true}}).Apply(c); err != nil {
		t.Fatal(err)
	}
	if c.SslOpts.EnableHostVerification || !c.SslOpts.Config.InsecureSkipVerify {
		t.Fatalf("insecure_skip_verify not honoured: %+v", c.SslOpts)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"ISLANDS_CQL_CA":                 "/w/ca.pem",
		"ISLANDS_CQL_APP_USER":           "islands_app",
		"ISLANDS_CQL_APP_PASSWORD_FILE":  "/w/app.password",
		"ISLANDS_CQL_ADMIN_USER":         "islands_admin",
		"ISLANDS_CQL_ADMIN_PASSWORD":     pw,
		"ISLANDS_CQL_FORKLIFT_USER":      "islands_forklift",
		"ISLANDS_CQL_FORKLIFT_PASSWORD_": "typo",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	a, err := fromLookup(RoleApp, lookup)
	if err != nil || a.Username != "islands_app" || a.PasswordFile != "/w/app.password" || a.TLS.CAFile != "/w/ca.pem" || !a.TLS.On() {
		t.Fatalf("app: %+v %v", a, err)
	}
	a, err = fromLookup(RoleAdmin, lookup)
	if err != nil || a.PasswordEnv != "ISLANDS_CQL_ADMIN_PASSWORD" || a.Password.IsSet() {
		t.Fatalf("admin: %+v %v", a, err)
	}
	if _, err = fromLookup(RoleForklift, lookup); err == nil || !strings.Contains(err.Error(), "ISLANDS_CQL_FORKLIFT_PASSWORD_FILE") {
		t.Fatalf("forklift without a password: %v", err)
	}
	a, err = fromLookup(RoleApp, func(string) (string, bool) { return "", false })
	if err != nil || a.Username != "" || a.TLS.On() {
		t.Fatalf("unsecured world: %+v %v", a, err)
	}
}

func TestDescribe(t *testing.T) {
	a := Access{Username: "islands_app", Password: NewSecret(pw), TLS: TLS{CAFile: "/w/ca.pem"}}
	if d := a.Describe(); d != "user islands_app, TLS (CA /w/ca.pem)" {
		t.Fatal(d)
	}
	if d := (Access{}).Describe(); d != "no credentials, plain text" {
		t.Fatal(d)
	}
}
