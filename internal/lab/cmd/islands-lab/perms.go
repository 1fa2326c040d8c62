package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gocql/gocql"
)

// Permissions left by the window before roles (scripts/regions up, at a node's first start):
//
//  1. Every permission held by a role islands did not make (the default superuser cassandra
//     included: Cassandra grants a role's creator ALTER, DROP and AUTHORIZE on it) is revoked.
//  2. After that, a permission on one of islands' roles (or on ALL ROLES) held by any role but
//     the admin is refused with an error naming it: islands never grants one, so it was given
//     in the window (islands_app holding ALTER on islands_admin could take its password).
//  3. A permission whose resource islands cannot name in a REVOKE (a single function) is
//     refused the same way, never silently kept.

// permRow is one row of system_auth.role_permissions.
type permRow struct {
	role, resource string
	perms          []string
}

// permName is a Cassandra permission's name (SELECT, MODIFY, AUTHORIZE, SELECT_MASKED…): the
// only shape that goes into a statement unquoted.
var permName = regexp.MustCompile(`^[A-Z][A-Z_]*$`)

// readPermissions reads every granted permission at QUORUM.
func readPermissions(ctx context.Context, s *gocql.Session) ([]permRow, error) {
	iter := s.Query("SELECT role, resource, permissions FROM system_auth.role_permissions").WithContext(ctx).Consistency(authReadConsistency).Iter()
	var (
		rows []permRow
		r    permRow
	)
	for iter.Scan(&r.role, &r.resource, &r.perms) {
		rows = append(rows, r)
		r = permRow{}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("listing the permissions: %w", err)
	}
	return rows, nil
}

// cqlIdent quotes s as a CQL identifier (case kept).
func cqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// resourceCQL turns a resource as system_auth stores it ("data/ks/t", "roles/r", "mbean") into
// its name in a GRANT or REVOKE; false for one it cannot name (a single function).
func resourceCQL(res string) (string, bool) {
	parts := strings.Split(res, "/")
	switch {
	case res == "data":
		return "ALL KEYSPACES", true
	case parts[0] == "data" && len(parts) == 2:
		return "KEYSPACE " + cqlIdent(parts[1]), true
	case parts[0] == "data" && len(parts) == 3:
		return "TABLE " + cqlIdent(parts[1]) + "." + cqlIdent(parts[2]), true
	case res == "roles":
		return "ALL ROLES", true
	case parts[0] == "roles" && len(parts) == 2:
		return "ROLE " + cqlString(parts[1]), true
	case res == "functions":
		return "ALL FUNCTIONS", true
	case parts[0] == "functions" && len(parts) == 2:
		return "ALL FUNCTIONS IN KEYSPACE " + cqlIdent(parts[1]), true
	case res == "mbean":
		return "ALL MBEANS", true
	case parts[0] == "mbean" && len(parts) == 2:
		return "MBEAN " + cqlString(parts[1]), true
	}
	return "", false
}

// planPermissions applies the rules at the top of this file to rows: the REVOKE statements to
// run (sorted), and what is refused ("role: PERM on resource", sorted). ours holds islands'
// roles, admin the one among them that may hold permissions on roles.
func planPermissions(rows []permRow, ours map[string]bool, admin string) (revokes, refused []string) {
	for _, r := range rows {
		if !ours[r.role] {
			res, ok := resourceCQL(r.resource)
			for _, p := range r.perms {
				if !ok || !permName.MatchString(p) {
					refused = append(refused, fmt.Sprintf("%s: %s on %s (cannot be revoked by name)", r.role, p, r.resource))
					continue
				}
				revokes = append(revokes, "REVOKE "+p+" ON "+res+" FROM "+cqlString(r.role))
			}
			continue
		}
		if r.role == admin {
			continue
		}
		name, onRole := strings.CutPrefix(r.resource, "roles/")
		if r.resource == "roles" || onRole && ours[name] {
			for _, p := range r.perms {
				refused = append(refused, fmt.Sprintf("%s: %s on %s", r.role, p, r.resource))
			}
		}
	}
	slices.Sort(revokes)
	slices.Sort(refused)
	return revokes, refused
}

// permissionsError is the refusal of permissions islands did not grant and will not take away
// by itself.
func permissionsError(addr string, refused []string) error {
	return fatalError{fmt.Errorf("the cluster at %s holds permission(s) islands did not grant: %s. One may have been granted through the default superuser "+
		"cassandra/cassandra before roles disabled it, or by hand. REVOKE it as islands_admin and run roles again, or start a new world (scripts/regions down, then up)",
		addr, strings.Join(refused, "; "))}
}

// lockDownPermissions revokes and refuses as planPermissions says; it returns how many
// permissions it revoked.
func lockDownPermissions(ctx context.Context, s *gocql.Session, addr string, ours map[string]bool, admin string, exec func(string) error) (int, error) {
	rows, err := readPermissions(ctx, s)
	if err != nil {
		return 0, err
	}
	revokes, refused := planPermissions(rows, ours, admin)
	for _, stmt := range revokes {
		if err := exec(stmt); err != nil {
			return 0, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	if len(refused) > 0 {
		return len(revokes), permissionsError(addr, refused)
	}
	return len(revokes), nil
}
