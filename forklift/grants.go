package forklift

import (
	"context"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// checkGrants refuses to go on, before anything is read or written, when a configured role lacks
// a permission the operation needs: SELECT on every source and destination table, and for an
// operation that writes (write) MODIFY on the destination tables and on the checkpoint keyspace,
// or CREATE where forklift would create the checkpoint keyspace or its tables. Sessions given
// WithSessions are not checked: their credentials are not forklift's to know.
func (j *Job) checkGrants(ctx context.Context, write bool) error {
	if !j.own {
		return nil
	}
	var src, dst []cqlconn.Need
	for _, t := range j.tables {
		src = append(src, cqlconn.Need{Permission: "SELECT", Keyspace: t.src.Keyspace, Table: t.src.Name, Why: "source"})
		dst = append(dst, cqlconn.Need{Permission: "SELECT", Keyspace: t.dst.Keyspace, Table: t.dst.Name, Why: "destination"})
		if write {
			dst = append(dst, cqlconn.Need{Permission: "MODIFY", Keyspace: t.dst.Keyspace, Table: t.dst.Name, Why: "destination"})
		}
	}
	if write {
		needs, err := j.checkpointNeeds(ctx)
		if err != nil {
			return err
		}
		dst = append(dst, needs...)
	}
	if err := cqlconn.CheckGrants(ctx, j.src, j.cfg.Source.Access, src...); err != nil {
		return fmt.Errorf("%w: source: %w", ErrAccess, err)
	}
	if err := cqlconn.CheckGrants(ctx, j.dst, j.cfg.Destination.Access, dst...); err != nil {
		return fmt.Errorf("%w: destination: %w", ErrAccess, err)
	}
	return nil
}

// checkpointNeeds is what the checkpoint keyspace asks of the destination's role: MODIFY and
// SELECT on it, CREATE on it when its progress or in-flight table is missing, CREATE on all
// keyspaces when it is missing.
func (j *Job) checkpointNeeds(ctx context.Context) ([]cqlconn.Need, error) {
	ks, why := j.cfg.CheckpointKeyspace, "checkpoint keyspace"
	exists, err := keyspaceExists(ctx, j.dst, ks)
	if err != nil {
		return nil, err
	}
	if !exists {
		return []cqlconn.Need{{Permission: "CREATE", Why: why + " " + ks + " (to create it; or create it and grant its permissions)"}}, nil
	}
	needs := []cqlconn.Need{{Permission: "MODIFY", Keyspace: ks, Why: why}, {Permission: "SELECT", Keyspace: ks, Why: why}}
	progress, err := tableExists(ctx, j.dst, ks, "forklift_progress")
	if err != nil {
		return nil, err
	}
	inflight, err := tableExists(ctx, j.dst, ks, inFlightTable)
	if err != nil {
		return nil, err
	}
	if !progress || !inflight {
		needs = append(needs, cqlconn.Need{Permission: "CREATE", Keyspace: ks, Why: why + " (to create its tables)"})
	}
	return needs, nil
}

// keyspaceExists reads system_schema, which every role may read.
func keyspaceExists(ctx context.Context, s *gocql.Session, ks string) (bool, error) {
	var n int
	if err := s.Query(`SELECT count(*) FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).WithContext(ctx).Scan(&n); err != nil {
		return false, fmt.Errorf("%w: destination: reading system_schema.keyspaces: %v", ErrUnreachable, err)
	}
	return n > 0, nil
}

// tableExists reads system_schema, which every role may read.
func tableExists(ctx context.Context, s *gocql.Session, ks, table string) (bool, error) {
	var n int
	if err := s.Query(`SELECT count(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`,
		ks, table).WithContext(ctx).Scan(&n); err != nil {
		return false, fmt.Errorf("%w: destination: reading system_schema.tables: %v", ErrUnreachable, err)
	}
	return n > 0, nil
}
