package forklift

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
)

// CassandraCheckpoints keeps checkpoints in <keyspace>.forklift_progress of the destination, so
// every process of a sharded run, and a run resumed on another machine, sees them.
type CassandraCheckpoints struct {
	s     *gocql.Session
	table string
}

// NewCassandraCheckpoints creates the keyspace (if missing: rf replicas in the datacenter of the
// node s talks to) and the table.
func NewCassandraCheckpoints(ctx context.Context, s *gocql.Session, keyspace string, rf int) (*CassandraCheckpoints, error) {
	if err := ensureKeyspace(ctx, s, keyspace, rf); err != nil {
		return nil, err
	}
	c := &CassandraCheckpoints{s: s, table: cql.QuoteTable(keyspace, "forklift_progress")}
	err := ensureTable(ctx, s, keyspace, "forklift_progress", `CREATE TABLE IF NOT EXISTS `+c.table+` (
		run text, tbl text, range_start bigint, range_end bigint, last_token bigint, rows bigint,
		done boolean, updated_at timestamp, PRIMARY KEY ((run), tbl, range_start))`)
	if err != nil {
		return nil, fmt.Errorf("forklift: create checkpoint table %s: %w", c.table, err)
	}
	return c, nil
}

func ensureKeyspace(ctx context.Context, s *gocql.Session, keyspace string, rf int) error {
	// Only when missing: CREATE KEYSPACE IF NOT EXISTS needs CREATE on all keyspaces even when the
	// keyspace exists, which a forklift role given its checkpoint keyspace does not have.
	if ok, err := keyspaceExists(ctx, s, keyspace); err == nil && ok {
		return nil
	}
	// Checkpoints are read and written at LOCAL_QUORUM, which counts only the coordinator's
	// datacenter: the replicas must be there. SimpleStrategy in a cluster of several datacenters
	// (the global cluster) puts them anywhere, and LOCAL_QUORUM is then unavailable for every run
	// whose partition landed in another datacenter. So: NetworkTopologyStrategy, rf in the
	// datacenter of the node forklift talks to (Destination.LocalDC's, when set).
	var dc string
	if err := s.Query(`SELECT data_center FROM system.local`).WithContext(ctx).Scan(&dc); err != nil {
		return fmt.Errorf("forklift: the destination's datacenter (for checkpoint keyspace %s): %w", keyspace, err)
	}
	err := s.Query(fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': %d}`,
		cql.Quote(keyspace), strings.ReplaceAll(dc, "'", "''"), rf)).WithContext(ctx).Exec()
	if err != nil {
		return fmt.Errorf("forklift: create checkpoint keyspace %s in the destination: %w", keyspace, err)
	}
	return nil
}

// Load implements CheckpointStore.
func (c *CassandraCheckpoints) Load(ctx context.Context, run string) ([]Checkpoint, error) {
	iter := c.s.Query(`SELECT tbl, range_start, range_end, last_token, rows, done, updated_at FROM `+c.table+
		` WHERE run = ?`, run).WithContext(ctx).Consistency(gocql.LocalQuorum).Iter()
	var out []Checkpoint
	var cp Checkpoint
	for iter.Scan(&cp.Table, &cp.Range.Start, &cp.Range.End, &cp.Last, &cp.Rows, &cp.Done, &cp.Updated) {
		cp.Run = run
		out = append(out, cp)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("forklift: load checkpoints of run %s: %w", run, err)
	}
	sortCheckpoints(out)
	return out, nil
}

// Save implements CheckpointStore.
func (c *CassandraCheckpoints) Save(ctx context.Context, cp Checkpoint) error {
	if cp.Updated.IsZero() {
		cp.Updated = time.Now()
	}
	err := c.s.Query(`INSERT INTO `+c.table+` (run, tbl, range_start, range_end, last_token, rows, done, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, cp.Run, cp.Table, cp.Range.Start, cp.Range.End, cp.Last, cp.Rows, cp.Done, cp.Updated).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Exec()
	if err != nil {
		return fmt.Errorf("forklift: save checkpoint %s %s: %w", cp.Table, cp.Range, err)
	}
	return nil
}

// ensureTable runs ddl only when keyspace.table is missing: CREATE TABLE IF NOT EXISTS needs CREATE
// on the keyspace even when the table exists.
func ensureTable(ctx context.Context, s *gocql.Session, keyspace, table, ddl string) error {
	if ok, err := tableExists(ctx, s, keyspace, table); err == nil && ok {
		return nil
	}
	return s.Query(ddl).WithContext(ctx).Exec()
}
