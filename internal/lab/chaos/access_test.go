package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
)

// The campaign's forklift config connects as the forklift role: forklift reads the user, the
// password file and the CA from it, and the file holds no password.
func TestForkliftConfigConnectsAsForklift(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "forklift.password")
	os.WriteFile(pwFile, []byte("chaos-t3st-pw\n"), 0o600)
	t.Setenv("ISLANDS_CQL_FORKLIFT_USER", "islands_forklift")
	t.Setenv("ISLANDS_CQL_FORKLIFT_PASSWORD_FILE", pwFile)
	t.Setenv("ISLANDS_CQL_CA", "/w/ca.pem")
	o := Options{Keyspace: "chaos", Env: Env{IslandCQL: "127.0.7.1:9042", GlobalCQL: map[string]string{"eu-west-1": "127.0.6.1:9042"}}}
	path := filepath.Join(dir, "forklift.yaml")
	if err := writeForkliftConfig(path, o, "-1-2", map[string]string{o.Env.IslandCQL: "eu-west-1", o.Env.GlobalCQL["eu-west-1"]: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "chaos-t3st-pw") {
		t.Fatalf("the config holds the password:\n%s", b)
	}
	cfg, err := forklift.LoadConfig(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for name, cc := range map[string]forklift.ClusterConfig{"source": cfg.Source, "destination": cfg.Destination} {
		a := cc.Access
		if a.Username != "islands_forklift" || a.PasswordFile != pwFile || !a.TLS.On() || a.TLS.CAFile != "/w/ca.pem" {
			t.Errorf("%s: %s (password file %q)", name, a.Describe(), a.PasswordFile)
		}
	}
	if cfg.CheckpointKeyspace != forkliftKS {
		t.Errorf("checkpoint keyspace %q, the campaign creates and grants %q", cfg.CheckpointKeyspace, forkliftKS)
	}

	// A world without security: no access keys at all, and the config still parses.
	for _, k := range []string{"ISLANDS_CQL_FORKLIFT_USER", "ISLANDS_CQL_FORKLIFT_PASSWORD_FILE", "ISLANDS_CQL_FORKLIFT_PASSWORD", "ISLANDS_CQL_CA"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if err := writeForkliftConfig(path, o, "-1-2", nil); err != nil {
		t.Fatal(err)
	}
	if cfg, err = forklift.LoadConfig(path); err != nil || cfg.Source.Username != "" || cfg.Source.TLS.On() {
		t.Fatalf("unsecured: %+v %v", cfg.Source.Access, err)
	}
}

// Forklift may read the island's keyspace (its source) and not write it; the writers read and
// write both, and the migration's control keyspace in the global cluster.
func TestGrantsFor(t *testing.T) {
	o := Options{Keyspace: "chaos", ForkliftBin: "forklift"}
	show := func(gs []grant) string {
		var s []string
		for _, g := range gs {
			s = append(s, fmt.Sprintf("%s:%s:%s", g.role.Name(), g.ks, strings.Join(g.perms, "+")))
		}
		return strings.Join(s, " ")
	}
	if got := show(grantsFor(o, "island")); got != "app:chaos:SELECT+MODIFY forklift:chaos:SELECT" {
		t.Errorf("island: %s", got)
	}
	if got := show(grantsFor(o, "global")); got != "app:chaos:SELECT+MODIFY app:chaos_control:SELECT+MODIFY forklift:chaos:SELECT+MODIFY forklift:chaos_forklift:SELECT+MODIFY+CREATE" {
		t.Errorf("global: %s", got)
	}
	o.ForkliftBin = ""
	if got := show(grantsFor(o, "island")); got != "app:chaos:SELECT+MODIFY" {
		t.Errorf("without forklift: %s", got)
	}
}

func TestPermanent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&cqlconn.Error{Cause: cqlconn.ErrPermission, Err: errors.New("x")}, true},
		{fmt.Errorf("dualwrite: the primary side: %w", &cqlconn.Error{Cause: cqlconn.ErrUnknownCA, Err: errors.New("x")}), true},
		{fmt.Errorf("role app: %w", cqlconn.ErrAccess), true},
		{&cqlconn.Error{Cause: cqlconn.ErrBadCredentials, Err: errors.New("Unable to perform authentication")}, false},
		{errors.New("gocql: no hosts available in the pool"), false},
	} {
		if got := permanent(c.err); got != c.want {
			t.Errorf("permanent(%v) = %v", c.err, got)
		}
	}
}
