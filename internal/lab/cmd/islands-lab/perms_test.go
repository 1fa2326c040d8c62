package main

import (
	"slices"
	"strings"
	"testing"
)

// The window's grants: a role made through cassandra/cassandra holding data permissions, the
// default superuser's creator grants on islands' roles, and a grant on islands_admin given to
// islands_app. Every stranger's permission is revoked by name; the one on islands' role held by
// islands' own app role is refused, naming it; the admin's and the app's data grants stay.
func TestPlanPermissionsRevokesStrangersAndRefusesGrantsOnOurRoles(t *testing.T) {
	ours := map[string]bool{"islands_admin": true, "islands_app": true, "islands_forklift": true}
	rows := []permRow{
		{"mallory", "data", []string{"SELECT", "MODIFY"}},
		{"mallory", "data/Ks/T", []string{"SELECT"}},
		{"cassandra", "roles/islands_admin", []string{"ALTER", "AUTHORIZE", "DROP"}},
		{"mallory", "roles", []string{"AUTHORIZE"}},
		{"mallory", "mbean", []string{"EXECUTE"}},
		{"mallory", "functions/ks/f[org.apache.cassandra.db.marshal.Int32Type]", []string{"EXECUTE"}},
		{"islands_app", "roles/islands_admin", []string{"ALTER"}},
		{"islands_app", "data/app", []string{"SELECT", "MODIFY"}},
		{"islands_admin", "roles/islands_app", []string{"ALTER", "AUTHORIZE", "DROP"}},
		{"islands_admin", "data/app", []string{"ALTER", "AUTHORIZE", "CREATE", "DROP", "MODIFY", "SELECT"}},
	}
	revokes, refused := planPermissions(rows, ours, "islands_admin")
	want := []string{
		"REVOKE ALTER ON ROLE 'islands_admin' FROM 'cassandra'",
		"REVOKE AUTHORIZE ON ALL ROLES FROM 'mallory'",
		"REVOKE AUTHORIZE ON ROLE 'islands_admin' FROM 'cassandra'",
		"REVOKE DROP ON ROLE 'islands_admin' FROM 'cassandra'",
		"REVOKE EXECUTE ON ALL MBEANS FROM 'mallory'",
		"REVOKE MODIFY ON ALL KEYSPACES FROM 'mallory'",
		"REVOKE SELECT ON ALL KEYSPACES FROM 'mallory'",
		`REVOKE SELECT ON TABLE "Ks"."T" FROM 'mallory'`,
	}
	if !slices.Equal(revokes, want) {
		t.Errorf("revokes:\n%s\nwant:\n%s", strings.Join(revokes, "\n"), strings.Join(want, "\n"))
	}
	wantRefused := []string{
		"islands_app: ALTER on roles/islands_admin",
		"mallory: EXECUTE on functions/ks/f[org.apache.cassandra.db.marshal.Int32Type] (cannot be revoked by name)",
	}
	if !slices.Equal(refused, wantRefused) {
		t.Errorf("refused: %q, want %q", refused, wantRefused)
	}
	err := permissionsError("127.0.0.1:9042", refused)
	if !strings.Contains(err.Error(), "islands_app: ALTER on roles/islands_admin") {
		t.Errorf("the error does not name the grant: %v", err)
	}
}

// A permission name that is not one (a stranger cannot make one, but the statement's text must
// never take it unquoted) is refused, not revoked.
func TestPlanPermissionsOddPermissionNameRefused(t *testing.T) {
	revokes, refused := planPermissions([]permRow{{"m", "data", []string{"SELECT ON x; DROP"}}}, map[string]bool{}, "a")
	if len(revokes) != 0 || len(refused) != 1 {
		t.Errorf("revokes %q, refused %q", revokes, refused)
	}
}

func TestResourceCQL(t *testing.T) {
	for in, want := range map[string]string{
		"data":          "ALL KEYSPACES",
		"data/ks":       `KEYSPACE "ks"`,
		"data/k\"s/t":   `TABLE "k""s"."t"`,
		"roles":         "ALL ROLES",
		"roles/it's":    "ROLE 'it''s'",
		"functions":     "ALL FUNCTIONS",
		"functions/ks":  `ALL FUNCTIONS IN KEYSPACE "ks"`,
		"mbean":         "ALL MBEANS",
		"mbean/org.x:*": "MBEAN 'org.x:*'",
	} {
		if got, ok := resourceCQL(in); !ok || got != want {
			t.Errorf("resourceCQL(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := resourceCQL("functions/ks/f[]"); ok {
		t.Error("a single function named")
	}
}
