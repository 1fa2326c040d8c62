package cqlconn

import (
	"context"
	"fmt"
	"slices"
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
	// LIST ROLES OF gives the user's roles, inherited ones too, with their superuser flag. An error
	// means no authorizer or role manager answers: the statements themselves will tell.
	roles, err := rows(ctx, s, "LIST ROLES OF "+user)
	if err != nil {
		return nil
	}
	for _, row := range roles {
		if super, _ := row["super"].(bool); super {
			return nil
		}
	}
	grants, err := rows(ctx, s, "LIST ALL PERMISSIONS OF "+user)
	if err != nil {
		return nil
	}
	var missing []string
	for _, n := range needs {
		granted := slices.ContainsFunc(grants, func(row map[string]any) bool {
			p, _ := row["permission"].(string)
			r, _ := row["resource"].(string)
			return n.satisfiedBy(p, r)
		})
		if !granted {
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

// rows runs stmt and returns all its rows as maps.
func rows(ctx context.Context, s *gocql.Session, stmt string) ([]map[string]any, error) {
	iter := s.Query(stmt).WithContext(ctx).Iter()
	out, err := iter.SliceMap()
	if cerr := iter.Close(); err == nil {
		err = cerr
	}
	return out, err
}
