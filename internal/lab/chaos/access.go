package chaos

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// The campaign connects to Cassandra as the local world's roles (package cqlconn, from the
// ISLANDS_CQL_* variables, which the children inherit): its own schema, grants and final reads as
// the administrator; the writers as the application; forklift as forklift. The application and
// forklift hold only what setupSchema grants them on the keyspaces it has just created.

// permanent reports an access failure that waiting will not cure: a role without a permission,
// credentials missing where the cluster wants them, a CA or a certificate that does not match,
// TLS to a plain-text port, an access setup that cannot be read. A writer or the campaign stops on
// it with the explained error instead of retrying until the run ends, which would judge a run
// that wrote nothing. A refused password is not among them: a node still starting answers
// "unable to perform authentication" with the same code, and retries cure that.
func permanent(err error) bool {
	for _, e := range []error{cqlconn.ErrPermission, cqlconn.ErrNoCredentials, cqlconn.ErrUnknownCA, cqlconn.ErrWrongHost,
		cqlconn.ErrTLSToPlain, cqlconn.ErrAccess} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// grant is permissions on a keyspace for a role.
type grant struct {
	role  cqlconn.Role
	ks    string
	perms []string
}

// grantsFor is what each cluster's administrator grants after creating the campaign's keyspace
// there (cluster "global" or "island"): the writers read and write it in both clusters, and the
// migration's control keyspace in the global cluster (its instances read the phase and write
// heartbeats); forklift reads the island (its source), reads and writes the global keyspace (its
// destination) and, in its checkpoint keyspace there, reads, writes and creates its tables (what
// forklift's own grants check asks; not ALL).
func grantsFor(o Options, cluster string) []grant {
	type g = grant
	out := []g{{cqlconn.RoleApp, o.Keyspace, []string{"SELECT", "MODIFY"}}}
	if cluster == "global" {
		out = append(out, g{cqlconn.RoleApp, controlKS, []string{"SELECT", "MODIFY"}})
	}
	if o.ForkliftBin == "" {
		return out
	}
	if cluster == "island" {
		return append(out, g{cqlconn.RoleForklift, o.Keyspace, []string{"SELECT"}})
	}
	return append(out, g{cqlconn.RoleForklift, o.Keyspace, []string{"SELECT", "MODIFY"}}, g{cqlconn.RoleForklift, forkliftKS, []string{"SELECT", "MODIFY", "CREATE"}})
}

// forkliftKS is forklift's checkpoint keyspace, in its destination's cluster (the global one).
const forkliftKS = "chaos_forklift"

// grantRoles gives the roles their permissions through s, the administrator's session on cluster.
func grantRoles(ctx context.Context, s *gocql.Session, o Options, cluster string) error {
	for _, g := range grantsFor(o, cluster) {
		a, err := cqlconn.FromEnv(g.role)
		if err != nil {
			return fmt.Errorf("chaos: the %s role: %w", g.role.Name(), err)
		}
		if err := cqlconn.Grant(ctx, s, a, g.ks, g.perms...); err != nil {
			return fmt.Errorf("chaos: grant the %s role in the %s cluster: %w", g.role.Name(), cluster, err)
		}
	}
	return nil
}
