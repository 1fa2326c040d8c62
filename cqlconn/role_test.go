package cqlconn

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/tlstest"

	"github.com/gocql/gocql"
)

func TestRoleApply(t *testing.T) {
	file := writeFile(t, "pw", pw+"\n")
	t.Setenv("ISLANDS_CQL_FORKLIFT_USER", "islands_forklift")
	t.Setenv("ISLANDS_CQL_FORKLIFT_PASSWORD_FILE", file)
	// Without the world's CA the password would go over plain text: refused.
	t.Setenv("ISLANDS_CQL_CA", "")
	if _, err := RoleForklift.Apply(gocql.NewCluster("127.0.0.1")); !errors.Is(err, ErrPasswordInClear) {
		t.Fatalf("a role without the CA: %v, want ErrPasswordInClear", err)
	}
	t.Setenv("ISLANDS_CQL_CA", writeFile(t, "ca.pem", string(tlstest.CA(t))))
	c := gocql.NewCluster("127.0.0.1")
	a, err := RoleForklift.Apply(c)
	if err != nil {
		t.Fatal(err)
	}
	auth, ok := c.Authenticator.(gocql.PasswordAuthenticator)
	if !ok || auth.Username != "islands_forklift" || auth.Password != pw || a.Username != "islands_forklift" {
		t.Fatalf("authenticator %T, access %v", c.Authenticator, a.Describe())
	}

	// A password file that cannot be read fails before any connection, naming the role and the
	// option, not the password.
	t.Setenv("ISLANDS_CQL_FORKLIFT_PASSWORD_FILE", "/nonexistent/forklift.password")
	_, err = RoleForklift.Apply(gocql.NewCluster("127.0.0.1"))
	if err == nil || !errors.Is(err, ErrAccess) || !strings.Contains(err.Error(), "role forklift") || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("unreadable password file: %v", err)
	}

	// The unsecured world: nothing set, nothing applied.
	for _, k := range []string{"ISLANDS_CQL_CA", "ISLANDS_CQL_APP_USER", "ISLANDS_CQL_APP_PASSWORD_FILE", "ISLANDS_CQL_APP_PASSWORD"} {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)
	}
	c = gocql.NewCluster("127.0.0.1")
	if a, err := RoleApp.Apply(c); err != nil || a.Username != "" || c.Authenticator != nil || c.SslOpts != nil {
		t.Fatalf("unsecured world: %+v %v", a, err)
	}
}

func TestGrantStatements(t *testing.T) {
	got := grantStatements("islands_app", "demo_global", []string{"select", "MODIFY"})
	want := []string{`GRANT SELECT ON KEYSPACE "demo_global" TO 'islands_app'`, `GRANT MODIFY ON KEYSPACE "demo_global" TO 'islands_app'`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := grantStatements("o'brien", `k"s`, []string{"ALL"}); got[0] != `GRANT ALL ON KEYSPACE "k""s" TO 'o''brien'` {
		t.Fatalf("quoting: %s", got[0])
	}
	// Without a user there is nothing to grant and no session is touched.
	if err := Grant(t.Context(), nil, Access{}, "ks", "SELECT"); err != nil {
		t.Fatal(err)
	}
}

func TestRoleName(t *testing.T) {
	if RoleAdmin.Name() != "admin" || RoleApp.Name() != "app" || RoleForklift.Name() != "forklift" {
		t.Fatal(RoleAdmin.Name(), RoleApp.Name(), RoleForklift.Name())
	}
}
