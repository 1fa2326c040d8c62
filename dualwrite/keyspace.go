package dualwrite

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"
)

// explainNoConnections turns gocql's ErrNoConnectionsStarted for a config that names a keyspace
// into ErrNoKeyspace when that keyspace is what is missing: gocql opens every connection with USE
// <keyspace>, and when the keyspace does not exist each one fails and is dropped, leaving only
// "no connections were made". It asks the cluster once, through a session without a keyspace;
// any other outcome returns err as it was.
func explainNoConnections(ctx context.Context, sd side, c *gocql.ClusterConfig, err error) error {
	if c.Keyspace == "" || !errors.Is(err, gocql.ErrNoConnectionsStarted) {
		return err
	}
	probe := *c
	probe.Keyspace = ""
	// A host selection policy belongs to one session: the probe gets its own.
	probe.PoolConfig.HostSelectionPolicy = gocql.RoundRobinHostPolicy()
	probe.NumConns = 1
	sess, perr := connect(ctx, &probe)
	if perr != nil {
		return err
	}
	defer sess.Close()
	var name string
	qerr := sess.Query(`SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?`, c.Keyspace).
		WithContext(ctx).Scan(&name)
	if !errors.Is(qerr, gocql.ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: the %s side's keyspace %q does not exist on %v (create it, or fix the ClusterConfig's Keyspace; %v)",
		ErrNoKeyspace, sd, c.Keyspace, c.Hosts, err)
}
