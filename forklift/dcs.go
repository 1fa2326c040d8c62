package forklift

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
)

// clusterDCs returns the datacenters of the cluster s is connected to (system.local and
// system.peers, which every role may read) and the one of the node that answered.
func clusterDCs(ctx context.Context, s *gocql.Session) (dcs []string, here string, err error) {
	if err := s.Query(`SELECT data_center FROM system.local`).WithContext(ctx).Scan(&here); err != nil {
		return nil, "", fmt.Errorf("reading system.local: %w", err)
	}
	seen := map[string]bool{here: true}
	iter := s.Query(`SELECT data_center FROM system.peers`).WithContext(ctx).Iter()
	var dc string
	for iter.Scan(&dc) {
		seen[dc] = true
	}
	if err := iter.Close(); err != nil {
		return nil, "", fmt.Errorf("reading system.peers: %w", err)
	}
	for d := range seen {
		dcs = append(dcs, d)
	}
	sort.Strings(dcs)
	return dcs, here, nil
}

// checkLocalDC refuses a local_dc the cluster does not have: gocql's DC-aware policy would
// otherwise treat every node as remote and route anywhere, silently (issue 31).
func checkLocalDC(which string, cc ClusterConfig, s *gocql.Session) error {
	if cc.LocalDC == "" {
		return nil
	}
	t := cc.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), t)
	defer cancel()
	dcs, _, err := clusterDCs(ctx, s)
	if err != nil {
		return fmt.Errorf("%w: %s: checking local_dc %q: %v", ErrUnreachable, which, cc.LocalDC, err)
	}
	if !slices.Contains(dcs, cc.LocalDC) {
		return fmt.Errorf("%w: %s.local_dc %q is not a datacenter of the cluster at %v (it has: %s)",
			ErrConfig, which, cc.LocalDC, cc.Hosts, strings.Join(dcs, ", "))
	}
	return nil
}

// checkpointReplication is the replication of a checkpoint keyspace forklift creates: explicit
// (checkpoint_replication, DC → RF) when given; else, on a cluster of several datacenters,
// NetworkTopologyStrategy with rf in the local one (localDC, else the contacted node's), so the
// checkpoints stay beside the destination's coordinator instead of wherever SimpleStrategy's ring
// walk puts them (across the WAN); on one datacenter, SimpleStrategy with rf.
func checkpointReplication(ctx context.Context, s *gocql.Session, rf int, localDC string, explicit map[string]int) (string, error) {
	if len(explicit) > 0 {
		var parts []string
		for dc, n := range explicit {
			parts = append(parts, fmt.Sprintf("'%s': %d", strings.ReplaceAll(dc, "'", "''"), n))
		}
		sort.Strings(parts)
		return "{'class': 'NetworkTopologyStrategy', " + strings.Join(parts, ", ") + "}", nil
	}
	dcs, here, err := clusterDCs(ctx, s)
	if err != nil {
		return "", fmt.Errorf("forklift: checkpoint keyspace replication: %w", err)
	}
	if len(dcs) < 2 {
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", rf), nil
	}
	if localDC == "" {
		localDC = here
	}
	return fmt.Sprintf("{'class': 'NetworkTopologyStrategy', '%s': %d}", strings.ReplaceAll(localDC, "'", "''"), rf), nil
}

// ensureKeyspace creates a checkpoint keyspace that is missing (checkpointReplication).
func ensureKeyspace(ctx context.Context, s *gocql.Session, keyspace string, rf int, localDC string, explicit map[string]int) error {
	// Only when missing: CREATE KEYSPACE IF NOT EXISTS needs CREATE on all keyspaces even when the
	// keyspace exists, which a forklift role given its checkpoint keyspace does not have.
	if ok, err := keyspaceExists(ctx, s, keyspace); err == nil && ok {
		return nil
	}
	repl, err := checkpointReplication(ctx, s, rf, localDC, explicit)
	if err != nil {
		return err
	}
	err = s.Query(fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s`, cql.Quote(keyspace), repl)).WithContext(ctx).Exec()
	if err != nil {
		return fmt.Errorf("forklift: create checkpoint keyspace %s in the destination: %w", keyspace, err)
	}
	return nil
}
