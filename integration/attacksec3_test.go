package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cqlconn"
)

// Attack (security review 3): "islands_app ... only what it is granted (SELECT, MODIFY on its
// keyspaces)". The admin makes a keyspace of member data the application's role is granted nothing
// on, with a storage-attached index on the email column (SAI, Cassandra 5's index), flushes it,
// and the application's role then reads every virtual table (system_views.*) there is. A virtual
// table is read without a grant; any that shows a member's email, from a keyspace the role may not
// read, lets an application (or whoever holds its password file) read other keyspaces' data.
func TestAttackSec3AppRoleReadsOtherKeyspacesThroughVirtualTables(t *testing.T) {
	e := needSecured(t)
	const ks = "attacksec3_members"
	admin := session(t, e.EUCQL)
	freshKeyspace(t, admin, ks)
	t.Cleanup(func() { _ = admin.Query("DROP KEYSPACE IF EXISTS " + ks).Exec() })
	ddl(t, admin, "CREATE TABLE "+ks+".members (id int PRIMARY KEY, email text, name text)")
	ddl(t, admin, "CREATE INDEX members_email ON "+ks+".members (email) USING 'sai'")
	emails := []string{"aaron.first@example.com", "zoe.last@example.com"}
	for i, m := range emails {
		if err := admin.Query("INSERT INTO "+ks+".members (id, email, name) VALUES (?, ?, ?)", i, m, "Member "+m).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, e.Regions, "nodetool", "cassandra-eu", "flush", ks).CombinedOutput(); err != nil {
		t.Fatalf("nodetool flush: %v\n%s", err, out)
	}

	app, err := clusterAs(e.EUCQL, cqlconn.MustFromEnv(cqlconn.RoleApp)).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var probe int
	if err := app.Query("SELECT id FROM " + ks + ".members LIMIT 1").Scan(&probe); err == nil {
		t.Fatalf("the application's role reads %s.members directly: the test's premise (no grant) does not hold", ks)
	}
	it := app.Query("SELECT keyspace_name, table_name FROM system_virtual_schema.tables").Iter()
	var vks, vt string
	var tables []string
	for it.Scan(&vks, &vt) {
		tables = append(tables, vks+"."+vt)
	}
	if err := it.Close(); err != nil {
		t.Fatalf("listing the virtual tables as the application: %v", err)
	}
	readable := 0
	for _, tb := range tables {
		it := app.Query("SELECT * FROM " + tb + " LIMIT 5000").Iter()
		rows, _ := it.SliceMap()
		if err := it.Close(); err != nil {
			t.Logf("%s: %v", tb, err)
			continue
		}
		readable++
		for _, r := range rows {
			s := fmt.Sprint(r)
			for _, m := range emails {
				if strings.Contains(s, m) {
					t.Errorf("the application's role, granted nothing on %s, reads the member's email %q in %s: %.300s", ks, m, tb, s)
				}
			}
		}
	}
	t.Logf("the application's role read %d of %d virtual tables", readable, len(tables))
}
