package cqlconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/gocql/gocql"
)

// Name is the role as reports and logs show it: admin, app, forklift.
func (r Role) Name() string { return strings.ToLower(string(r)) }

// Apply reads role r's Access from the environment (FromEnv) and applies it to c: the one call
// a program of the local world (the demo, the chaos campaign, the benches) makes to connect as a
// role. It returns the Access, for Describe, Explain and CheckGrants. In a world started without
// security it leaves c as it is and returns the zero Access.
func (r Role) Apply(c *gocql.ClusterConfig) (Access, error) {
	a, err := FromEnv(r)
	if err != nil {
		return Access{}, err
	}
	if err := a.Apply(c); err != nil {
		return Access{}, fmt.Errorf("role %s: %w", r.Name(), err)
	}
	return a, nil
}

// Grant gives the user of to each of perms (SELECT, MODIFY, ALL…) on keyspace, through s, an
// administrator's session: one GRANT statement per permission. Without a user (a cluster without
// authentication) it does nothing. Cassandra forgets a keyspace's permissions when the keyspace is
// dropped, so whoever creates a keyspace grants again, every time.
func Grant(ctx context.Context, s *gocql.Session, to Access, keyspace string, perms ...string) error {
	if to.Username == "" {
		return nil
	}
	for _, stmt := range grantStatements(to.Username, keyspace, perms) {
		if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

func grantStatements(user, keyspace string, perms []string) []string {
	var out []string
	for _, p := range perms {
		out = append(out, fmt.Sprintf(`GRANT %s ON KEYSPACE "%s" TO '%s'`, strings.ToUpper(p),
			strings.ReplaceAll(keyspace, `"`, `""`), strings.ReplaceAll(user, "'", "''")))
	}
	return out
}
