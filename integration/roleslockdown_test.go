package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// TestRolesLockDownRevokesWindowGrantsAndDropsHeldSessions plays the window before roles on the
// EU island: the default superuser is granted ALTER on islands_admin, a role islands did not make
// is granted SELECT on member data, a session is opened as it, and the role is closed as roles
// closes cassandra (LOGIN = false). Then `scripts/regions roles` runs: every grant of a role
// islands did not make is revoked, and the held session's connections are gone (the nodes'
// native transport was bounced), so it reads nothing.
//
// It drops every client connection of the EU island, so it runs only when asked
// (ISLANDS_ROLES_LOCKDOWN=1), under the world's lock.
func TestRolesLockDownRevokesWindowGrantsAndDropsHeldSessions(t *testing.T) {
	if os.Getenv("ISLANDS_ROLES_LOCKDOWN") != "1" {
		t.Skip("ISLANDS_ROLES_LOCKDOWN=1 to run (it drops every client connection of the EU island)")
	}
	e := needSecured(t)
	admin := session(t, e.EUCQL)
	const role, pw = "secfix_window", "secfix-not-a-world-secret-1"
	freshKeyspace(t, admin, "secfix_members")
	t.Cleanup(func() { _ = admin.Query("DROP KEYSPACE IF EXISTS secfix_members").Exec() })
	ddl(t, admin, "CREATE TABLE secfix_members.members (id int PRIMARY KEY, email text)")
	ddl(t, admin, "INSERT INTO secfix_members.members (id, email) VALUES (1, 'alice@example.com')")
	drop := func() {
		_ = admin.Query("DROP ROLE IF EXISTS " + role).Exec()
		_ = admin.Query("REVOKE ALTER ON ROLE islands_admin FROM cassandra").Exec()
	}
	drop()
	t.Cleanup(drop)
	ddl(t, admin, "CREATE ROLE "+role+" WITH LOGIN = true AND SUPERUSER = false AND PASSWORD = '"+pw+"'")
	ddl(t, admin, "GRANT SELECT ON KEYSPACE secfix_members TO "+role)
	ddl(t, admin, "GRANT ALTER ON ROLE islands_admin TO cassandra")

	a := cqlconn.MustFromEnv(cqlconn.RoleApp)
	a.Username, a.PasswordFile, a.Password = role, "", cqlconn.NewSecret(pw)
	c := clusterAs(e.EUCQL, a)
	c.Keyspace = "secfix_members"
	held, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var email string
	if err := held.Query("SELECT email FROM members WHERE id = 1").Scan(&email); err != nil {
		t.Fatalf("the held session reads nothing before the lock-down: %v", err)
	}
	ddl(t, admin, "ALTER ROLE "+role+" WITH LOGIN = false")

	out, err := exec.Command("../scripts/regions", "roles").CombinedOutput()
	t.Logf("scripts/regions roles:\n%s", out)
	if err != nil {
		t.Fatalf("scripts/regions roles: %v", err)
	}
	if !strings.Contains(string(out), "every client connection opened before the lock-down dropped") {
		t.Errorf("roles revoked grants but dropped no connection")
	}

	for _, r := range []string{"cassandra", role} {
		rows := retrySlice(t, admin, "LIST ALL PERMISSIONS OF "+r)
		for _, p := range rows {
			t.Errorf("%s still holds %v on %v", r, p["permission"], p["resource"])
		}
	}
	for _, p := range retrySlice(t, admin, "SELECT username FROM system_views.clients") {
		if p["username"] == role {
			t.Errorf("a connection of %s opened before the lock-down is still there: %v", role, p)
		}
	}
	time.Sleep(3 * time.Second) // past permissions_validity: what the held session could still do
	email = ""
	err = held.Query("SELECT email FROM members WHERE id = 1").Consistency(gocql.One).Scan(&email)
	if err == nil {
		t.Errorf("the session opened in the window still reads member data after the lock-down: %q", email)
	}
	t.Logf("held session after the lock-down: %v", err)
}

// retrySlice runs stmt on s until it answers (the admin's own connection was just dropped and
// reconnects), at most 30 s.
func retrySlice(t *testing.T, s *gocql.Session, stmt string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := s.Query(stmt).Consistency(gocql.One).Iter().SliceMap()
		if err == nil {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", stmt, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
