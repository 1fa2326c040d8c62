package forklift

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
)

// CassandraCheckpoints keeps checkpoints in <keyspace>.forklift_progress of the destination, so
// every process of a sharded run, and a run resumed on another machine, sees them.
type CassandraCheckpoints struct {
	s        *gocql.Session
	keyspace string
	table    string
}

// NewCassandraCheckpoints creates the keyspace (if missing: SimpleStrategy with rf on one
// datacenter, NetworkTopologyStrategy with rf in the contacted node's on several) and the tables:
// forklift_progress and forklift_inflight (InFlightStore).
func NewCassandraCheckpoints(ctx context.Context, s *gocql.Session, keyspace string, rf int) (*CassandraCheckpoints, error) {
	if err := ensureKeyspace(ctx, s, keyspace, rf, "", nil); err != nil {
		return nil, err
	}
	c := &CassandraCheckpoints{s: s, keyspace: keyspace, table: cql.QuoteTable(keyspace, "forklift_progress")}
	err := ensureTable(ctx, s, keyspace, "forklift_progress", `CREATE TABLE IF NOT EXISTS `+c.table+` (
		run text, tbl text, range_start bigint, range_end bigint, last_token bigint, rows bigint,
		done boolean, updated_at timestamp, PRIMARY KEY ((run), tbl, range_start))`)
	if err != nil {
		return nil, fmt.Errorf("forklift: create checkpoint table %s: %w", c.table, err)
	}
	if err := c.ensureInFlight(ctx); err != nil {
		return nil, err
	}
	return c, nil
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

// ensureTable runs ddl only when keyspace.table is missing (CREATE TABLE IF NOT EXISTS needs CREATE
// on the keyspace even when the table exists), then waits until the table answers a read.
//
// The shards of a run start together: one creates the table while another finds it in
// system_schema and reads it at once. A node lists a new table in system_schema a moment before
// it can serve it ("table forklift_progress does not exist", then "Unknown CF <id>" while it opens
// the table's store), and a keyspace likewise, so every
// step is retried while Cassandra says the keyspace or table does not exist, for up to
// schemaSettle; any other error of the DDL is returned at once (of the probe: it is served).
func ensureTable(ctx context.Context, s *gocql.Session, keyspace, table, ddl string) error {
	probe := `SELECT * FROM ` + cql.QuoteTable(keyspace, table) + ` LIMIT 1`
	deadline := time.Now().Add(schemaSettle)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := func() error {
			if ok, err := tableExists(ctx, s, keyspace, table); err != nil || !ok {
				if err := s.Query(ddl).WithContext(ctx).Exec(); err != nil {
					return err
				}
			}
			// The probe asks the coordinator whether it serves the table: any answer but "does
			// not exist" says it does (too few replicas up for the read, in the demo's world a
			// keyspace whose replicas are in another datacenter, is not this function's to judge).
			if err := s.Query(probe).WithContext(ctx).Consistency(gocql.One).Exec(); schemaNotSettled(err) {
				return err
			}
			return nil
		}()
		if err == nil || !schemaNotSettled(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for %s.%s to be served: %w)", ctx.Err(), keyspace, table, err)
		case <-time.After(wait):
		}
	}
}

// schemaSettle bounds how long ensureTable waits for a table another process has just created.
const schemaSettle = 30 * time.Second

// schemaNotSettled reports whether err is Cassandra saying a keyspace or table does not exist
// (yet): an invalid request naming it, or a server error for a table listed but not yet opened
// ("java.lang.IllegalArgumentException: Unknown CF <id>").
func schemaNotSettled(err error) bool {
	var re gocql.RequestError
	if !errors.As(err, &re) {
		return false
	}
	m := strings.ToLower(re.Message())
	switch re.Code() {
	case gocql.ErrCodeInvalid:
		return strings.Contains(m, "does not exist") || strings.Contains(m, "unconfigured table")
	case gocql.ErrCodeServer:
		return strings.Contains(m, "unknown cf") || strings.Contains(m, "unknown keyspace")
	}
	return false
}
