package forklift

import (
	"context"
	"fmt"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// Shadowed cells. A CQL read cannot see a deletion, so a source cell the destination deleted later
// (a newer row, range or cell deletion there, e.g. deletes that reached the new side first in
// dual-flipped) reads as missing, and a repair that writes it back with its original timestamp
// cannot make it appear: without a memory, verify and repair would loop on it forever. Repair is
// the probe: a difference still there after a repair with the source's own timestamps is shadowed
// by a newer deletion. Repair records it (ShadowStore); every later Verify reports it, while the
// source cell is unchanged (the record names its value and writetime), as superseded with the
// reason, not as a difference. A changed source cell is compared afresh. A key-only row is never
// recorded: nothing readable names its version (see Difference.id).

// ShadowStore keeps the differences a repair proved shadowed. The checkpoint stores implement it;
// ids are Difference.id values.
type ShadowStore interface {
	// LoadShadowed returns the ids recorded for a table of a run (none when nothing was recorded).
	LoadShadowed(ctx context.Context, run, table string) (map[string]bool, error)
	// SaveShadowed records ids for a table of a run.
	SaveShadowed(ctx context.Context, run, table string, ids []string) error
}

// shadowNote is the explanation a shadowed difference carries in the report.
const shadowNote = "shadowed: a repair with the source's own timestamps did not bring it back, so the destination holds a newer deletion of it (invisible to CQL reads); counted as superseded"

// id names one difference for the shadow records: table-relative key, row, column and the source
// version (value and writetime), so a changed source cell never matches an old record. A key-only
// row (row marker only) has no id (""): its marker's writetime is unreadable, so the record could
// not tell the row a repair failed to restore from the same row re-inserted in the source after
// the destination's deletion (which a re-copy would restore); such a row is never recorded and
// always reported missing. A difference where the destination holds too much (Difference.excess:
// a row, cell or element to delete) has no id either: nothing in the source is hidden there, so
// nothing is shadowed, and a record would name no source version (a "row deleted" record would
// hide every later row at that key).
func (d Difference) id() string {
	if d.keyOnly || d.excess {
		return ""
	}
	return d.Key + "\x00" + d.Clustering + "\x00" + d.Column + "\x00" + d.Source
}

// keyOnlyRow reports whether r holds no present cell: the row exists by its marker alone.
func keyOnlyRow(r *merge.Row) bool {
	for i := range r.Columns {
		if r.Columns[i].Present {
			return false
		}
	}
	return true
}

// LoadShadowed implements ShadowStore.
func (s *MemoryCheckpoints) LoadShadowed(_ context.Context, run, table string) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for id := range s.shadowed[run+"\x00"+table] {
		out[id] = true
	}
	return out, nil
}

// SaveShadowed implements ShadowStore.
func (s *MemoryCheckpoints) SaveShadowed(_ context.Context, run, table string, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shadowed == nil {
		s.shadowed = map[string]map[string]bool{}
	}
	k := run + "\x00" + table
	if s.shadowed[k] == nil {
		s.shadowed[k] = map[string]bool{}
	}
	for _, id := range ids {
		s.shadowed[k][id] = true
	}
	return nil
}

const shadowTable = "forklift_shadowed"

// LoadShadowed implements ShadowStore; a missing table holds nothing (verify creates nothing).
func (c *CassandraCheckpoints) LoadShadowed(ctx context.Context, run, table string) (map[string]bool, error) {
	out := map[string]bool{}
	if ok, err := tableExists(ctx, c.s, c.keyspace, shadowTable); err != nil || !ok {
		return out, err
	}
	iter := c.s.Query(`SELECT id FROM `+cql.QuoteTable(c.keyspace, shadowTable)+` WHERE run = ? AND tbl = ?`, run, table).
		WithContext(ctx).Iter()
	var id string
	for iter.Scan(&id) {
		out[id] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("forklift: load shadowed cells of %s: %w", table, err)
	}
	return out, nil
}

// SaveShadowed implements ShadowStore.
func (c *CassandraCheckpoints) SaveShadowed(ctx context.Context, run, table string, ids []string) error {
	name := cql.QuoteTable(c.keyspace, shadowTable)
	if err := ensureTable(ctx, c.s, c.keyspace, shadowTable, `CREATE TABLE IF NOT EXISTS `+name+
		` (run text, tbl text, id text, PRIMARY KEY ((run, tbl), id))`); err != nil {
		return fmt.Errorf("forklift: create %s: %w", name, err)
	}
	for _, id := range ids {
		if err := c.s.Query(`INSERT INTO `+name+` (run, tbl, id) VALUES (?, ?, ?)`, run, table, id).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("forklift: record a shadowed cell of %s: %w", table, err)
		}
	}
	return nil
}

// shadows returns the Job's shadow records, without creating anything.
func (j *Job) shadows() ShadowStore {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.store != nil {
		ss, _ := j.store.(ShadowStore)
		return ss
	}
	return &CassandraCheckpoints{s: j.dst, keyspace: j.cfg.CheckpointKeyspace, table: cql.QuoteTable(j.cfg.CheckpointKeyspace, "forklift_progress")}
}
