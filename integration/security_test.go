package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/forklift"
)

// The security tests run on the secured world (scripts/regions up without ISLANDS_SECURE=0):
// PasswordAuthenticator, CassandraAuthorizer, a TLS-only native port, and a role per program.

// needSecured skips (or fails under ISLANDS_REQUIRE_SERVICES=1) when the world runs unsecured.
func needSecured(t *testing.T) Env {
	t.Helper()
	e := needServices(t)
	if cqlconn.MustFromEnv(cqlconn.RoleAdmin).Username == "" || !cqlconn.MustFromEnv(cqlconn.RoleAdmin).TLS.On() {
		msg := "the world runs unsecured (ISLANDS_SECURE=0 or no ISLANDS_CQL_* variables)"
		if os.Getenv("ISLANDS_REQUIRE_SERVICES") == "1" && os.Getenv("ISLANDS_SECURE") != "0" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return e
}

// grant gives the user of to each of perms on keyspace ks, through the admin's session s.
func grant(t *testing.T, s *gocql.Session, to cqlconn.Access, ks string, perms ...string) {
	t.Helper()
	if err := cqlconn.Grant(context.Background(), s, to, ks, perms...); err != nil {
		t.Fatal(err)
	}
}

// roleCluster is a config for addr as the given access, with the keyspace set.
func roleCluster(addr, ks string, a cqlconn.Access) *gocql.ClusterConfig {
	c := clusterAs(addr, a)
	c.Keyspace = ks
	c.ConnectTimeout = 5 * time.Second
	c.Timeout = 5 * time.Second
	return c
}

func countRows(t *testing.T, s *gocql.Session, table string) int {
	t.Helper()
	var n int
	if err := s.Query("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// securityYAML is a forklift config between the two islands, as the given access on both sides.
func securityYAML(t *testing.T, e Env, a cqlconn.Access, src, dst, ckpt, run string) string {
	side := func(host string) string {
		return clusterYAML(t, forklift.ClusterConfig{Hosts: []string{host}, Consistency: "ONE", DisableHostLookup: true,
			ConnectTimeout: 5 * time.Second, Access: a})
	}
	return fmt.Sprintf(`source: %s
destination: %s
tables:
  - {keyspace: %s, table: t, destination_keyspace: %s, resolver: lww}
checkpoint_keyspace: %s
run_id: %s
ranges: 16
`, side(e.USCQL), side(e.EUCQL), src, dst, ckpt, run)
}

// runForkliftProgram runs the forklift program and returns its combined output and how long it took.
func runForkliftProgram(t *testing.T, bin string, args ...string) (string, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err, time.Since(start)
}

// TestSecurityProgramsWithTheirRoles: each program works with its own role and nothing more. The
// application's role dual-writes its two keyspaces through dualwrite.Open; forklift's role copies
// and verifies with the forklift program (password from a file, TLS with the world's CA), and its
// JSON report is kept for the secret scan; a keyspace the role was not granted is refused before
// anything is written.
func TestSecurityProgramsWithTheirRoles(t *testing.T) {
	e := needSecured(t)
	app, fl := cqlconn.MustFromEnv(cqlconn.RoleApp), cqlconn.MustFromEnv(cqlconn.RoleForklift)
	us, eu := session(t, e.USCQL), session(t, e.EUCQL)
	for _, s := range []*gocql.Session{us, eu} {
		freshKeyspace(t, s, "sec_app")
		ddl(t, s, "CREATE TABLE sec_app.t (k int PRIMARY KEY, v text)")
		freshKeyspace(t, s, "sec_other")
		ddl(t, s, "CREATE TABLE sec_other.t (k int PRIMARY KEY, v text)")
		grant(t, s, app, "sec_app", "SELECT", "MODIFY")
	}
	freshKeyspace(t, us, "sec_src")
	ddl(t, us, "CREATE TABLE sec_src.t (k int PRIMARY KEY, v text)")
	freshKeyspace(t, eu, "sec_dst")
	ddl(t, eu, "CREATE TABLE sec_dst.t (k int PRIMARY KEY, v text)")
	freshKeyspace(t, eu, "sec_dst_ro")
	ddl(t, eu, "CREATE TABLE sec_dst_ro.t (k int PRIMARY KEY, v text)")
	freshKeyspace(t, eu, "sec_ckpt")
	grant(t, us, fl, "sec_src", "SELECT")
	grant(t, eu, fl, "sec_dst", "SELECT", "MODIFY")
	grant(t, eu, fl, "sec_dst_ro", "SELECT")
	grant(t, eu, fl, "sec_ckpt", "ALL")
	for i := 0; i < 500; i++ {
		if err := us.Query("INSERT INTO sec_src.t (k, v) VALUES (?, ?)", i, fmt.Sprint("v", i)).Exec(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("app dual-writes its keyspaces", func(t *testing.T) {
		dw, err := dualwrite.Open(waitCtx(t, 30*time.Second), roleCluster(e.USCQL, "sec_app", app), roleCluster(e.EUCQL, "sec_app", app),
			dualwrite.WithReplayDir(keptDir(t)), dualwrite.WithPhase(dualwrite.Dual))
		if err != nil {
			t.Fatal(err)
		}
		defer dw.Close()
		for i := 0; i < 100; i++ {
			if err := dw.Query("INSERT INTO t (k, v) VALUES (?, ?)", i, "x").Exec(); err != nil {
				t.Fatal(err)
			}
		}
		if n, m := countRows(t, us, "sec_app.t"), countRows(t, eu, "sec_app.t"); n != 100 || m != 100 {
			t.Fatalf("rows: primary %d, secondary %d, want 100 each", n, m)
		}
	})

	t.Run("app refused a keyspace it was not granted, before writing", func(t *testing.T) {
		start := time.Now()
		_, err := dualwrite.Open(waitCtx(t, 30*time.Second), roleCluster(e.USCQL, "sec_app", app), roleCluster(e.EUCQL, "sec_other", app),
			dualwrite.WithReplayDir(keptDir(t)))
		t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if !errors.Is(err, cqlconn.ErrPermission) || !strings.Contains(err.Error(), "GRANT MODIFY ON KEYSPACE sec_other TO "+app.Username) {
			t.Fatalf("got %v, want cqlconn.ErrPermission naming the GRANT", err)
		}
		if n := countRows(t, eu, "sec_other.t"); n != 0 {
			t.Fatalf("%d rows written", n)
		}
		// And the role really cannot: the cluster refuses the write itself.
		s, err := roleCluster(e.EUCQL, "sec_other", app).CreateSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = cqlconn.Explain(s.Query("INSERT INTO t (k, v) VALUES (1, 'x')").Exec(), app)
		if !errors.Is(err, cqlconn.ErrPermission) {
			t.Fatalf("the cluster accepted the app's write to a keyspace it was not granted: %v", err)
		}
		t.Logf("the cluster's own refusal, explained: %v", err)
	})

	bin := buildForklift(t)
	out := keptDir(t)
	t.Run("forklift copies and verifies as its role", func(t *testing.T) {
		cfg := writeForkliftYAML(t, securityYAML(t, e, fl, "sec_src", "sec_dst", "sec_ckpt", "sec"))
		o, err, took := runForkliftProgram(t, bin, "run", "--config", cfg, "--report", filepath.Join(out, "run.json"), "--log-format", "json")
		t.Logf("forklift run (%v):\n%s", took.Round(time.Millisecond), o)
		if err != nil {
			t.Fatalf("forklift run as %s: %v", fl.Username, err)
		}
		o, err, _ = runForkliftProgram(t, bin, "verify", "--config", cfg, "--report", filepath.Join(out, "verify.json"))
		t.Logf("forklift verify:\n%s", o)
		if err != nil {
			t.Fatalf("forklift verify as %s: %v", fl.Username, err)
		}
		if n := countRows(t, eu, "sec_dst.t"); n != 500 {
			t.Fatalf("destination holds %d rows, want 500", n)
		}
	})

	t.Run("forklift refused a destination it may only read, before writing", func(t *testing.T) {
		cfg := writeForkliftYAML(t, securityYAML(t, e, fl, "sec_src", "sec_dst_ro", "sec_ckpt", "sec-ro"))
		o, err, took := runForkliftProgram(t, bin, "run", "--config", cfg)
		t.Logf("forklift run (%v): %v\n%s", took.Round(time.Millisecond), err, o)
		if err == nil || !strings.Contains(o, "GRANT MODIFY ON TABLE sec_dst_ro.t TO "+fl.Username) {
			t.Fatal("want a refusal naming GRANT MODIFY ON TABLE sec_dst_ro.t")
		}
		if n := countRows(t, eu, "sec_dst_ro.t"); n != 0 {
			t.Fatalf("%d rows written to the destination", n)
		}
		var n int
		if err := eu.Query("SELECT count(*) FROM sec_ckpt.forklift_progress WHERE run = 'sec-ro'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d checkpoints written for the refused run", n)
		}
	})
}

// TestSecurityRefusalsFailFast: a wrong password, no CA, plain text to the TLS-only port and no
// credentials at all each fail at connect, within the connect timeout, with an error naming the
// cause (the library's errors.Is sentinel, and the forklift program's message and exit code), and
// nothing is written.
func TestSecurityRefusalsFailFast(t *testing.T) {
	e := needSecured(t)
	app := cqlconn.MustFromEnv(cqlconn.RoleApp)
	eu := session(t, e.EUCQL)
	freshKeyspace(t, eu, "sec_refuse")
	ddl(t, eu, "CREATE TABLE sec_refuse.t (k int PRIMARY KEY, v text)")
	freshKeyspace(t, eu, "sec_refuse_ckpt")

	wrongPW := filepath.Join(t.TempDir(), "wrong.password")
	if err := os.WriteFile(wrongPW, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		a     cqlconn.Access
		cause error
		says  string
	}{
		{"wrong password", cqlconn.Access{Username: app.Username, PasswordFile: wrongPW, TLS: app.TLS}, cqlconn.ErrBadCredentials, "refused user"},
		{"no CA", cqlconn.Access{Username: app.Username, PasswordFile: app.PasswordFile, TLS: cqlconn.TLS{Enabled: true}}, cqlconn.ErrUnknownCA, "tls.ca_file"},
		// Without credentials: with a password, plain text is refused before dialling (below).
		{"plain text to the TLS port", cqlconn.Access{}, cqlconn.ErrPlainToTLS, "tls.enabled"},
		{"no credentials", cqlconn.Access{TLS: app.TLS}, cqlconn.ErrNoCredentials, "password_file"},
	}
	bin := buildForklift(t)
	// A password never leaves for a server TLS does not verify: refused before any connection,
	// by the library and by forklift (a configuration error, exit 2), naming the fix.
	for name, a := range map[string]cqlconn.Access{
		"password over plain text":     {Username: app.Username, PasswordFile: app.PasswordFile},
		"password over unverified TLS": {Username: app.Username, PasswordFile: app.PasswordFile, TLS: cqlconn.TLS{Enabled: true, InsecureSkipVerify: true}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := a.Apply(gocql.NewCluster(e.EUCQL)); !errors.Is(err, cqlconn.ErrPasswordInClear) || !strings.Contains(err.Error(), "tls.ca_file") {
				t.Errorf("Apply: %v, want ErrPasswordInClear naming tls.ca_file", err)
			}
			cfg := writeForkliftYAML(t, securityYAML(t, e, a, "sec_refuse", "sec_refuse", "sec_refuse_ckpt", "refuse"))
			o, ferr, _ := runForkliftProgram(t, bin, "run", "--config", cfg)
			var exit *exec.ExitError
			if !errors.As(ferr, &exit) || exit.ExitCode() != 2 || !strings.Contains(o, cqlconn.ErrPasswordInClear.Error()) {
				t.Errorf("forklift run: %v\n%s\nwant exit 2 saying %q", ferr, o, cqlconn.ErrPasswordInClear)
			}
		})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := dualwrite.Open(waitCtx(t, time.Minute), roleCluster(e.EUCQL, "sec_refuse", c.a), roleCluster(e.EUCQL, "sec_refuse", c.a),
				dualwrite.WithReplayDir(t.TempDir()))
			took := time.Since(start)
			t.Logf("dualwrite.Open after %v: %v", took.Round(time.Millisecond), err)
			if !errors.Is(err, c.cause) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("dualwrite.Open: got %v, want %v saying %q", err, c.cause, c.says)
			}
			if took > 30*time.Second {
				t.Errorf("dualwrite.Open took %v to fail: not fast", took)
			}
			cfg := writeForkliftYAML(t, securityYAML(t, e, c.a, "sec_refuse", "sec_refuse", "sec_refuse_ckpt", "refuse"))
			o, ferr, took := runForkliftProgram(t, bin, "run", "--config", cfg)
			t.Logf("forklift run after %v: %v\n%s", took.Round(time.Millisecond), ferr, o)
			var exit *exec.ExitError
			if !errors.As(ferr, &exit) || exit.ExitCode() != 1 || !strings.Contains(o, c.cause.Error()) || !strings.Contains(o, c.says) {
				t.Errorf("forklift run: %v, want exit 1 saying %q and %q", ferr, c.cause, c.says)
			}
			if n := countRows(t, eu, "sec_refuse.t"); n != 0 {
				t.Errorf("%d rows written", n)
			}
		})
	}
}
