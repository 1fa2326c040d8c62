package demo

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/tlstest"

	"github.com/globalcloud/islands/cqlconn"
)

const testPassword = "demo-t3st-passw0rd"

// setRoles sets the ISLANDS_CQL_* variables of a secured world: a throwaway CA (a password goes
// only to a server TLS verifies), the admin's password in a variable, the others' in files.
func setRoles(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, tlstest.CA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ISLANDS_CQL_CA", ca)
	t.Setenv("ISLANDS_CQL_ADMIN_USER", "islands_admin")
	t.Setenv("ISLANDS_CQL_ADMIN_PASSWORD_FILE", "")
	t.Setenv("ISLANDS_CQL_ADMIN_PASSWORD", testPassword)
	for _, r := range []string{"APP", "FORKLIFT"} {
		f := filepath.Join(dir, strings.ToLower(r)+".password")
		if err := os.WriteFile(f, []byte(testPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("ISLANDS_CQL_"+r+"_USER", "islands_"+strings.ToLower(r))
		t.Setenv("ISLANDS_CQL_"+r+"_PASSWORD_FILE", f)
	}
}

// The report (json, text, html), demo.log and the progress name each role's user and never a
// password.
func TestRolesReportedWithoutSecrets(t *testing.T) {
	setRoles(t)
	var log, progress bytes.Buffer
	d := &run{rep: &Report{}, logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		opts: Options{Progress: &progress}}
	if err := d.loadRoles(); err != nil {
		t.Fatal(err)
	}
	if len(d.rep.Roles) != 3 {
		t.Fatalf("roles %+v", d.rep.Roles)
	}
	for i, want := range []string{"islands_admin", "islands_app", "islands_forklift"} {
		if d.rep.Roles[i].User != want || !strings.Contains(d.rep.Roles[i].As, want) {
			t.Errorf("role %d: %+v, want user %s", i, d.rep.Roles[i], want)
		}
	}
	if a := d.access[cqlconn.RoleForklift]; a.Username != "islands_forklift" || a.PasswordFile == "" {
		t.Errorf("forklift access %s", a.Describe())
	}
	js, _ := json.Marshal(d.rep)
	var text bytes.Buffer
	d.rep.Print(&text)
	page := d.rep.html()
	for name, out := range map[string]string{"report.json": string(js), "summary": text.String(), "report.html": page,
		"demo.log": log.String(), "progress": progress.String()} {
		if strings.Contains(out, testPassword) {
			t.Errorf("%s shows a password", name)
		}
		if !strings.Contains(out, "islands_forklift") {
			t.Errorf("%s does not say forklift's user:\n%s", name, out)
		}
	}
	if !strings.Contains(page, `<section class="table" id="roles">`) {
		t.Error("report.html has no roles table")
	}
}

// A user without its password stops the run before anything connects, naming the variable.
func TestRolesMissingPassword(t *testing.T) {
	setRoles(t)
	t.Setenv("ISLANDS_CQL_APP_PASSWORD_FILE", "")
	os.Unsetenv("ISLANDS_CQL_APP_PASSWORD")
	d := &run{rep: &Report{}, logger: slog.New(slog.DiscardHandler), opts: Options{Progress: io.Discard}}
	err := d.loadRoles()
	if err == nil || !strings.Contains(err.Error(), "the app role") || !strings.Contains(err.Error(), "ISLANDS_CQL_APP_PASSWORD_FILE") {
		t.Fatalf("got %v", err)
	}
}

// The grants cover what forklift checks before it runs (SELECT on its source; SELECT and MODIFY
// on its destinations; its checkpoint keyspace) and what dualwrite.Open checks on each side.
func TestGrantsCoverTheRolesNeeds(t *testing.T) {
	// No more than they need: every grant names its permissions (ALL would add ALTER, DROP,
	// AUTHORIZE… on the checkpoint keyspace, which forklift never uses).
	for _, g := range grants {
		if slices.Contains(g.perms, "ALL") {
			t.Errorf("%s on %s: ALL; grant the permissions it needs", g.role.Name(), g.ks)
		}
	}
	has := func(global bool, r cqlconn.Role, ks, perm string) bool {
		for _, g := range grants {
			if g.global == global && g.role == r && g.ks == ks && (slices.Contains(g.perms, perm) || slices.Contains(g.perms, "ALL")) {
				return true
			}
		}
		return false
	}
	for _, n := range []struct {
		global bool
		role   cqlconn.Role
		ks     string
		perm   string
	}{
		{false, cqlconn.RoleApp, islandKS, "SELECT"}, {false, cqlconn.RoleApp, islandKS, "MODIFY"},
		{true, cqlconn.RoleApp, globalKS, "SELECT"}, {true, cqlconn.RoleApp, globalKS, "MODIFY"},
		{false, cqlconn.RoleForklift, islandKS, "SELECT"},
		{true, cqlconn.RoleForklift, globalKS, "SELECT"}, {true, cqlconn.RoleForklift, globalKS, "MODIFY"},
		{true, cqlconn.RoleForklift, scratchKS, "SELECT"}, {true, cqlconn.RoleForklift, scratchKS, "MODIFY"},
		{true, cqlconn.RoleForklift, fliftKS, "SELECT"}, {true, cqlconn.RoleForklift, fliftKS, "MODIFY"}, {true, cqlconn.RoleForklift, fliftKS, "CREATE"},
	} {
		if !has(n.global, n.role, n.ks, n.perm) {
			t.Errorf("no grant of %s on %s (global %v) to %s", n.perm, n.ks, n.global, n.role.Name())
		}
	}
	for _, g := range grants {
		if g.role == cqlconn.RoleForklift && !g.global && slices.Contains(g.perms, "MODIFY") {
			t.Errorf("forklift may modify its source: %v", g)
		}
	}
}
