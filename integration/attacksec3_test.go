package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// Attack (security review 3): system_traces is readable by every role (islands_app reads it with
// no grant, as TestAttackSecAppRoleReadsVirtualTables shows), and a traced request's session row
// keeps its statement's text, with the values it holds as literals. Whenever anyone traces a
// request (cqlsh's TRACING ON while diagnosing, nodetool settraceprobability, a driver's Trace),
// the application's role — granted nothing on that keyspace — reads the member data the request
// carried (SELECT * FROM system_traces.sessions lists them all), for as long as the traces live
// (a day by default). Here the admin traces one insert, as cqlsh sends it, into a keyspace the
// application may not read.
//
// Cassandra 5.0 cannot be told otherwise: ClientState's READABLE_SYSTEM_RESOURCES holds
// system_traces.sessions and .events, readable by any role before any permission is looked at
// (no REVOKE closes them). So this is a documented limit: the test checks that a bound value never
// reaches the trace (what docs/security.md tells applications to do), and that when a literal does,
// docs/security.md says so.
func TestAttackSec3AppRoleReadsTracedMemberData(t *testing.T) {
	e := needSecured(t)
	const ks = "attacksec3_traced"
	const bound, literal = "bound.member@example.com", "traced.member@example.com"
	admin := session(t, e.EUCQL)
	freshKeyspace(t, admin, ks)
	t.Cleanup(func() { _ = admin.Query("DROP KEYSPACE IF EXISTS " + ks).Exec() })
	ddl(t, admin, "CREATE TABLE "+ks+".members (id int PRIMARY KEY, email text)")
	app, err := clusterAs(e.EUCQL, cqlconn.MustFromEnv(cqlconn.RoleApp)).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var probe int
	if err := app.Query("SELECT id FROM " + ks + ".members LIMIT 1").Scan(&probe); err == nil {
		t.Fatalf("the application's role reads %s.members directly: the test's premise (no grant) does not hold", ks)
	}
	// traced runs q as the admin with tracing on, and returns what the application reads of the
	// trace's session row that holds email ("" when nothing, within 20 s).
	traced := func(email, q string, values ...any) string {
		tracer := &traceIDs{}
		if err := admin.Query(q, values...).Trace(tracer).Exec(); err != nil {
			t.Fatal(err)
		}
		if len(tracer.ids) == 0 {
			t.Fatal("no trace id came back")
		}
		seen := false
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			it := app.Query("SELECT parameters FROM system_traces.sessions WHERE session_id = ?", tracer.ids[0]).Iter()
			var params map[string]string
			for it.Scan(&params) {
				seen = true
				t.Logf("the application reads the trace session's parameters: %v", params)
				if s := fmt.Sprint(params); strings.Contains(s, email) {
					return s
				}
			}
			if err := it.Close(); err != nil {
				t.Logf("reading system_traces.sessions as the application: %v (Cassandra closed the traces)", err)
				return ""
			}
			if seen {
				return ""
			}
		}
		return ""
	}
	// A bound value, as dualwrite and forklift send theirs: never in the trace.
	if found := traced(bound, "INSERT INTO "+ks+".members (id, email) VALUES (?, ?)", 2, bound); found != "" {
		t.Errorf("a bound value reaches system_traces.sessions, readable by the application's role: %.300s", found)
	}
	// As cqlsh sends it after TRACING ON: the values are literals in the statement.
	found := traced(literal, "INSERT INTO "+ks+".members (id, email) VALUES (1, '"+literal+"')")
	if found == "" {
		t.Logf("a literal did not reach a trace the application reads: the limit may be gone")
		return
	}
	t.Logf("known limit (Cassandra: system_traces is readable by every role): the application reads a traced literal: %.200s", found)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"system_traces.sessions", "readable by every role", "applications bind", "TRUNCATE system_traces.sessions"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the application's role reads a traced statement's literal, and docs/security.md does not state the limit (%q missing)", want)
		}
	}
}

// traceIDs is a gocql.Tracer that keeps the trace ids.
type traceIDs struct{ ids [][]byte }

func (t *traceIDs) Trace(id []byte) { t.ids = append(t.ids, id) }
