package cqlconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/gocql/gocql"
)

// Need is one permission a program needs before it starts: Permission (SELECT, MODIFY, CREATE,
// ALTER…) on Keyspace, on Keyspace.Table when Table is set, on all keyspaces when Keyspace is "". Why says what for ("source",
// "destination", "checkpoint keyspace"), for the error.
type Need struct {
	Permission string
	Keyspace   string
	Table      string
	Why        string
}

func (n Need) resource() string {
	if n.Keyspace == "" {
		return "ALL KEYSPACES"
	}
	if n.Table != "" {
		return "TABLE " + n.Keyspace + "." + n.Table
	}
	return "KEYSPACE " + n.Keyspace
}

// satisfiedBy reports whether a granted (permission, resource) row covers n: the resource itself
// or a parent (the keyspace of a table, all keyspaces).
func (n Need) satisfiedBy(perm, resource string) bool {
	if !strings.EqualFold(perm, n.Permission) {
		return false
	}
	switch strings.ToLower(resource) {
	case "<all keyspaces>":
		return true
	case "<keyspace " + strings.ToLower(n.Keyspace) + ">", "<all tables in " + strings.ToLower(n.Keyspace) + ">":
		return n.Keyspace != ""
	case "<table " + strings.ToLower(n.Keyspace+"."+n.Table) + ">":
		return n.Table != ""
	}
	return false
}

// CheckGrants verifies, before a program writes anything, that the user of a holds every
// permission in needs, directly or through the roles granted to it; a superuser holds them all.
// The error wraps ErrPermission and lists each missing permission with the GRANT that gives it.
// Without a user (a cluster without authentication) it checks nothing. When the cluster cannot
// answer the question (no authorizer, or LIST refused) it returns nil and the statements
// themselves will fail, explained by Explain.
func CheckGrants(ctx context.Context, s *gocql.Session, a Access, needs ...Need) error {
	if a.Username == "" || len(needs) == 0 {
		return nil
	}
	user := "'" + strings.ReplaceAll(a.Username, "'", "''") + "'"
	// LIST ROLES OF gives the user's roles, inherited ones too, with their superuser flag.
	iter := s.Query("LIST ROLES OF " + user).WithContext(ctx).Iter()
	var super bool
	for {
		row := map[string]any{}
		if !iter.MapScan(row) {
			break
		}
		if b, ok := row["super"].(bool); ok && b {
			super = true
		}
	}
	if err := iter.Close(); err != nil {
		return nil // no authorizer or role manager that answers: the statements will tell
	}
	if super {
		return nil
	}
	type grant struct{ perm, resource string }
	var grants []grant
	iter = s.Query("LIST ALL PERMISSIONS OF " + user).WithContext(ctx).Iter()
	for {
		row := map[string]any{}
		if !iter.MapScan(row) {
			break
		}
		p, _ := row["permission"].(string)
		r, _ := row["resource"].(string)
		grants = append(grants, grant{p, r})
	}
	if err := iter.Close(); err != nil {
		return nil
	}
	var missing []string
	for _, n := range needs {
		ok := false
		for _, g := range grants {
			if n.satisfiedBy(g.perm, g.resource) {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s on %s (%s): GRANT %s ON %s TO %s",
				strings.ToUpper(n.Permission), strings.ToLower(n.resource()), n.Why,
				strings.ToUpper(n.Permission), n.resource(), a.Username))
		}
	}
	if len(missing) > 0 {
		return &Error{Cause: ErrPermission,
			Hint: fmt.Sprintf("role %s lacks %s", a.Username, strings.Join(missing, "; ")),
			Err:  fmt.Errorf("checked with LIST ALL PERMISSIONS OF %s before writing anything", a.Username)}
	}
	return nil
}
