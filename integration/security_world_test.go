package integration

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The security tests that look at the running world from the side of another local user: its
// files, its processes, its management port.

// stateDir is the running world's $ISLANDS_STATE (scripts/regions' default: <repo>/.regions).
func stateDir(t *testing.T, e Env) string {
	t.Helper()
	if s := os.Getenv("ISLANDS_STATE"); s != "" {
		return s
	}
	return filepath.Join(filepath.Dir(filepath.Dir(e.Regions)), ".regions")
}

// TestSecurityWorldStateIsPrivate walks the running world's whole state tree (Cassandra's data,
// commit logs, hints, the logs, the pids, the keys and passwords) and fails on any file or
// directory another local user could read, write or enter; and each running service's umask is
// 077, so what it makes next is private too.
func TestSecurityWorldStateIsPrivate(t *testing.T) {
	e := needServices(t)
	state := stateDir(t, e)
	n := 0
	var open []string
	err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) { // a file the services removed while we walked
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		n++
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			open = append(open, fmt.Sprintf("%v %s", perm, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range open {
		if i == 20 {
			t.Errorf("… and %d more", len(open)-20)
			break
		}
		t.Errorf("open to others: %s", o)
	}
	t.Logf("%d entries under %s, %d open to others", n, state, len(open))
	if n < 50 {
		t.Fatalf("only %d entries under %s: is this the running world's state?", n, state)
	}
	pids, _ := filepath.Glob(filepath.Join(state, "run", "*.pid"))
	if len(pids) == 0 {
		t.Fatalf("no pid files under %s/run", state)
	}
	for _, pf := range pids {
		b, err := os.ReadFile(pf)
		if err != nil {
			t.Fatal(err)
		}
		status, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(b)), "status"))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(pf), err)
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok && strings.TrimSpace(v) != "0077" {
				t.Errorf("%s runs with umask %s, want 0077", strings.TrimSuffix(filepath.Base(pf), ".pid"), strings.TrimSpace(v))
			}
		}
	}
}

// TestSecurityJMXNeedsALogin: nodetool without credentials is refused by every node's JMX port
// (any local process could otherwise stop, drain or decommission it); with the world's JMX login
// (scripts/regions nodetool: -u islands_jmx -pwf) it works.
func TestSecurityJMXNeedsALogin(t *testing.T) {
	e := needServices(t)
	for _, svc := range []string{"cassandra-us", "cassandra-eu-global", "cassandra-usw", "cassandra-eu"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, e.Regions, "nodetool", svc, "version")
		cmd.Env = append(os.Environ(), "ISLANDS_NODETOOL_ANONYMOUS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("%s, no login: %v\n%s", svc, err, out)
		if err == nil || !strings.Contains(strings.ToLower(string(out)), "credentials required") && !strings.Contains(strings.ToLower(string(out)), "authentication failed") {
			t.Errorf("%s: nodetool without credentials was not refused: %v\n%s", svc, err, out)
		}
		out, err = exec.CommandContext(ctx, e.Regions, "nodetool", svc, "version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ReleaseVersion") {
			t.Errorf("%s: nodetool with the world's JMX login: %v\n%s", svc, err, out)
		}
		cancel()
	}
}

// TestSecurityRolesRefuseStrangerRoles: a superuser islands did not make, or a login it did not
// make (as one made through cassandra/cassandra before roles closed it would be), makes `islands-lab
// roles` fail naming it; once it is dropped, roles passes again.
func TestSecurityRolesRefuseStrangerRoles(t *testing.T) {
	e := needSecured(t)
	bin := filepath.Join(t.TempDir(), "islands-lab")
	if out, err := exec.Command("go", "build", "-o", bin, "../internal/lab/cmd/islands-lab").CombinedOutput(); err != nil {
		t.Fatalf("go build ./internal/lab/cmd/islands-lab: %v\n%s", err, out)
	}
	s := session(t, e.EUCQL)
	drop := func() {
		_ = s.Query(`DROP ROLE IF EXISTS intruder`).Exec()
		_ = s.Query(`DROP ROLE IF EXISTS spy`).Exec()
	}
	drop()
	t.Cleanup(drop)
	roles := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "roles", "-timeout", "60s", "-system-auth", "eu-west-1:1", e.EUCQL).CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct{ role, create string }{
		{"intruder (SUPERUSER)", `CREATE ROLE intruder WITH SUPERUSER = true AND LOGIN = false`},
		{"spy (LOGIN)", `CREATE ROLE spy WITH LOGIN = true AND PASSWORD = 'spy-not-a-world-secret'`},
	} {
		ddl(t, s, c.create)
		out, err := roles()
		t.Logf("roles with %s: %v\n%s", c.role, err, out)
		if err == nil || !strings.Contains(out, c.role) || !strings.Contains(out, "did not make") {
			t.Errorf("roles accepted a cluster holding %s: %v\n%s", c.role, err, out)
		}
		drop()
	}
	if out, err := roles(); err != nil || !strings.Contains(out, "no other superuser or login") {
		t.Errorf("roles after DROP ROLE: %v\n%s", err, out)
	}
}

// TestSecurityCAKeyStaysWithTheOperator: the nodes' tls/ holds the CA's certificate and each
// node's keystore, never the CA's key; the CA's keystore is under ca/, and the nodes' keystore
// password does not open it.
func TestSecurityCAKeyStaysWithTheOperator(t *testing.T) {
	e := needSecured(t)
	state := stateDir(t, e)
	ents, err := os.ReadDir(filepath.Join(state, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	if got := strings.Join(names, " "); got != "ca.pem cassandra-eu-global.p12 cassandra-eu.p12 cassandra-us.p12 cassandra-usw.p12" {
		t.Errorf("tls/ holds %s; want the CA's certificate and the nodes' keystores only", got)
	}
	ca := filepath.Join(state, "ca", "ca.p12")
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("the CA's keystore: %v", err)
	}
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("no keytool to check the CA's password")
	}
	out, err := exec.Command("keytool", "-list", "-keystore", ca, "-storetype", "PKCS12",
		"-storepass:file", filepath.Join(state, "secrets", "keystore.password")).CombinedOutput()
	if err == nil {
		t.Errorf("the nodes' keystore password opens the CA's keystore:\n%s", out)
	}
	out, err = exec.Command("keytool", "-list", "-keystore", ca, "-storetype", "PKCS12",
		"-storepass:file", filepath.Join(state, "secrets", "ca.password")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "islands-ca") {
		t.Errorf("ca.password does not open the CA's keystore: %v\n%s", err, out)
	}
}
