package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// Attack (security review). `islands-lab roles` closes the default superuser cassandra/cassandra
// (new random password, LOGIN = false, SUPERUSER = false) and then refuses a cluster holding a
// stranger superuser or login. Anyone who reached the port in the window before (every up of a
// new world, and the README says so) can log in as cassandra. This test plays that login with a
// role of its own standing for cassandra: it logs in, the role is granted SELECT (what the
// intruder grants cassandra while it is still a superuser: roles never looks at, nor revokes,
// cassandra's permissions), then the role is closed exactly as roles closes cassandra. The session
// opened before keeps reading the member data: closing the role does not close its connections.
func TestAttackSecSessionOpenedInTheWindowOutlivesTheClosedRole(t *testing.T) {
	t.Skip("this test closes a role itself and never runs islands-lab roles, which is what drops the window's sessions (nodetool disablebinary/enablebinary); TestRolesLockDownRevokesWindowGrantsAndDropsHeldSessions covers the finding on the world")
	e := needSecured(t)
	admin := session(t, e.EUCQL)
	const role, pw = "attacksec_window", "attacksec-not-a-world-secret-1"
	freshKeyspace(t, admin, "attacksec_members")
	ddl(t, admin, "CREATE TABLE attacksec_members.members (id int PRIMARY KEY, email text)")
	if err := admin.Query("INSERT INTO attacksec_members.members (id, email) VALUES (1, 'alice@example.com')").Exec(); err != nil {
		t.Fatal(err)
	}
	drop := func() { _ = admin.Query("DROP ROLE IF EXISTS " + role).Exec() }
	drop()
	t.Cleanup(drop)
	ddl(t, admin, fmt.Sprintf("CREATE ROLE %s WITH LOGIN = true AND SUPERUSER = false AND PASSWORD = '%s'", role, pw))
	ddl(t, admin, "GRANT SELECT ON KEYSPACE attacksec_members TO "+role)
	ddl(t, admin, "GRANT ALL PERMISSIONS ON ALL ROLES TO "+role)
	t.Cleanup(func() { _ = admin.Query("DROP ROLE IF EXISTS attacksec_minted").Exec() })

	a := cqlconn.MustFromEnv(cqlconn.RoleApp)
	a.Username, a.PasswordFile, a.Password = role, "", cqlconn.NewSecret(pw)
	c := clusterAs(e.EUCQL, a)
	c.Keyspace = "attacksec_members"
	held, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	// What roles does to cassandra (Cassandra refuses a second password change within 5 s).
	time.Sleep(5500 * time.Millisecond)
	ddl(t, admin, fmt.Sprintf("ALTER ROLE %s WITH PASSWORD = 'attacksec-new-random-2' AND LOGIN = false AND SUPERUSER = false", role))
	if _, err := c.CreateSession(); err == nil {
		t.Fatal("a new login still works: the test does not close the role as roles does")
	}
	time.Sleep(5 * time.Second) // past roles_validity and permissions_validity (2 s by default)
	// GRANT ALL PERMISSIONS ON ALL ROLES TO cassandra, in the window, gives the held session a new
	// login of its own whenever it likes (and ALTER on islands_admin): minted and dropped here.
	if err := held.Query("CREATE ROLE attacksec_minted WITH LOGIN = true AND PASSWORD = 'attacksec-minted-3'").Exec(); err == nil {
		_ = admin.Query("DROP ROLE IF EXISTS attacksec_minted").Exec()
		t.Errorf("the closed role's held session minted a new login role (it was granted ALL ROLES before being closed)")
	} else {
		t.Logf("held session CREATE ROLE: %v", err)
	}
	var email string
	err = held.Query("SELECT email FROM members WHERE id = 1").Consistency(gocql.One).Scan(&email)
	t.Logf("held session after LOGIN = false: %q, %v", email, err)
	if err == nil && strings.Contains(email, "@") {
		t.Errorf("a session opened before the role was closed still reads member data (%q): an intruder's cassandra/cassandra session from the window outlives roles", email)
	}
}

// Attack: what the application's role, granted nothing, reads of others' activity in the virtual
// tables (statements being run by other roles, other clients, the settings).
func TestAttackSecAppRoleReadsVirtualTables(t *testing.T) {
	e := needSecured(t)
	app, err := clusterAs(e.EUCQL, cqlconn.MustFromEnv(cqlconn.RoleApp)).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for _, q := range []string{
		"SELECT * FROM system_views.queries",
		"SELECT * FROM system_views.clients",
		"SELECT * FROM system_views.settings",
		"SELECT * FROM system_views.system_logs",
		"SELECT * FROM system_traces.sessions",
		"SELECT * FROM system.prepared_statements",
		"SELECT * FROM system_auth.roles",
	} {
		it := app.Query(q).Iter()
		rows, _ := it.SliceMap()
		err := it.Close()
		t.Logf("%s: %d rows, %v", q, len(rows), err)
		for _, r := range rows {
			s := fmt.Sprint(r)
			if strings.Contains(q, "settings") {
				name := fmt.Sprint(r["name"])
				if strings.Contains(name, "password") && fmt.Sprint(r["value"]) != "" && fmt.Sprint(r["value"]) != "<nil>" {
					t.Errorf("settings show %s = %v", name, r["value"])
				}
				continue
			}
			if strings.Contains(q, "clients") {
				if u := fmt.Sprint(r["username"]); u != a0(app) {
					t.Logf("  sees another client: %v", s)
				}
				continue
			}
			if strings.Contains(q, "system_auth") || strings.Contains(q, "queries") || strings.Contains(q, "logs") {
				t.Errorf("  the app role reads %s: %.300s", q, s)
			}
		}
	}
}

func a0(*gocql.Session) string { return cqlconn.MustFromEnv(cqlconn.RoleApp).Username }

// Attack: after roles, the default superuser keeps every permission granted to it in the window
// (roles takes its LOGIN and SUPERUSER, never its grants), and nothing refuses a cluster where it
// has some. Run after an up that an intruder raced (scripts/regions down && up while
// internal/attacksecracer runs as another user), this lists what cassandra still holds.
func TestAttackSecDefaultSuperuserKeepsItsGrants(t *testing.T) {
	e := needSecured(t)
	for _, addr := range []string{e.USCQL, e.EUCQL} {
		s := session(t, addr)
		it := s.Query("LIST ALL PERMISSIONS OF cassandra").Iter()
		rows, _ := it.SliceMap()
		if err := it.Close(); err != nil {
			t.Logf("%s: LIST ALL PERMISSIONS OF cassandra: %v", addr, err)
			continue
		}
		for _, r := range rows {
			t.Errorf("%s: cassandra (LOGIN = false, SUPERUSER = false) still holds %v on %v", addr, r["permission"], r["resource"])
		}
		var super, login bool
		if err := s.Query("SELECT is_superuser, can_login FROM system_auth.roles WHERE role = 'cassandra'").Scan(&super, &login); err == nil {
			t.Logf("%s: cassandra super=%v login=%v", addr, super, login)
		}
	}
}

// TestAttackSecCleanup revokes what the racer granted the default superuser and drops the attack
// tests' keyspace (run by hand after a racer run: ATTACKSEC_CLEANUP=1).
func TestAttackSecCleanup(t *testing.T) {
	if os.Getenv("ATTACKSEC_CLEANUP") != "1" {
		t.Skip("ATTACKSEC_CLEANUP=1 to run")
	}
	e := needSecured(t)
	for _, addr := range []string{e.USCQL, e.EUCQL} {
		s := session(t, addr)
		for _, q := range []string{"REVOKE ALL PERMISSIONS ON ALL KEYSPACES FROM cassandra", "REVOKE ALL PERMISSIONS ON ALL ROLES FROM cassandra",
			"REVOKE ALL PERMISSIONS ON ROLE islands_admin FROM cassandra", "REVOKE ALL PERMISSIONS ON ROLE islands_app FROM cassandra",
			"REVOKE ALL PERMISSIONS ON ROLE islands_forklift FROM cassandra", "DROP KEYSPACE IF EXISTS attacksec_members"} {
			t.Logf("%s %s: %v", addr, q, s.Query(q).Exec())
		}
	}
}
