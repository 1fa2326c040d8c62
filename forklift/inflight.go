package forklift

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// Partitions in flight. A partition whose statements need more than one batch (max_batch_bytes)
// is not written atomically: a run killed between two of its batches leaves the destination
// holding part of a decision, and the page is not checkpointed, so a resumed run redoes it by
// resolving the source against that half-done write, which prefer-destination takes for the
// destination's own partition (writing nothing more) and newest-by for a tie. Verify, resolving
// the same way, would then say clean.
//
// Invariants:
//  1. A multi-batch partition is recorded in flight (InFlightStore, durable: the checkpoint
//     store) before its first batch is sent, and the record is cleared only after its last batch
//     landed. A partition sent in one batch (or one statement) needs no record: a single-partition
//     unlogged batch is applied atomically and in isolation by Cassandra.
//  2. A resumed run loads the run's records; when its copy reaches such a partition (in its own
//     ranges, so shards never repair each other's) it resolves it by union, the rule that cannot
//     lose: every row of either side is kept and each cell is Cassandra's reconciliation of both,
//     so nothing the destination held and nothing the half-done write landed is dropped, and every
//     source cell newer than the destination's is written. It then clears the record and names
//     the partition in the run's report (TableReport.InFlightRepaired). For lww, union and
//     prefer-destination (whose multi-batch writes only happen where the destination lacked the
//     partition) that is exactly the decision the killed run made; for other resolvers it is the
//     nearest that loses no cell, and the report names the partitions for a person to check.
//  3. While any record of the run is left (a partition the resumed run never reached: deleted
//     from the source meanwhile, or the run not resumed), Verify does not call the run clean and
//     names the partitions (TableVerification.InFlight).

// InFlight names one partition recorded in flight: its table (source keyspace.table) and key.
type InFlight struct {
	Table string
	Key   [][]byte
}

// InFlightStore keeps the partitions in flight of a run. The checkpoint stores implement it; a
// CheckpointStore that does not is used without records (and without invariant 2's recovery).
type InFlightStore interface {
	// MarkInFlight records a partition in flight; durable when it returns.
	MarkInFlight(ctx context.Context, run, table string, key [][]byte) error
	// ClearInFlight removes the record (none: no error).
	ClearInFlight(ctx context.Context, run, table string, key [][]byte) error
	// LoadInFlight returns every record of a run, ordered by table then key.
	LoadInFlight(ctx context.Context, run string) ([]InFlight, error)
}

// encodeKey is a partition key's components, each as a 4-byte length and its bytes: one blob that
// tells apart every composite key.
func encodeKey(key [][]byte) []byte {
	var b []byte
	for _, k := range key {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
	}
	return b
}

func decodeKey(b []byte) ([][]byte, error) {
	var key [][]byte
	for len(b) > 0 {
		if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
			return nil, fmt.Errorf("forklift: malformed in-flight partition key %x", b)
		}
		n := int(binary.BigEndian.Uint32(b))
		key = append(key, b[4:4+n])
		b = b[4+n:]
	}
	return key, nil
}

func inFlightID(table string, key [][]byte) string { return table + "\x00" + string(encodeKey(key)) }

// MarkInFlight implements InFlightStore.
func (s *MemoryCheckpoints) MarkInFlight(_ context.Context, run, table string, key [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = map[string]map[string]InFlight{}
	}
	if s.inflight[run] == nil {
		s.inflight[run] = map[string]InFlight{}
	}
	s.inflight[run][inFlightID(table, key)] = InFlight{Table: table, Key: key}
	return nil
}

// ClearInFlight implements InFlightStore.
func (s *MemoryCheckpoints) ClearInFlight(_ context.Context, run, table string, key [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight[run], inFlightID(table, key))
	return nil
}

// LoadInFlight implements InFlightStore.
func (s *MemoryCheckpoints) LoadInFlight(_ context.Context, run string) ([]InFlight, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []InFlight
	for _, f := range s.inflight[run] {
		out = append(out, f)
	}
	sortInFlight(out)
	return out, nil
}

func sortInFlight(fs []InFlight) {
	sort.Slice(fs, func(i, j int) bool { return inFlightID(fs[i].Table, fs[i].Key) < inFlightID(fs[j].Table, fs[j].Key) })
}

const inFlightTable = "forklift_inflight"

func (c *CassandraCheckpoints) inFlightName() string {
	return cql.QuoteTable(c.keyspace, inFlightTable)
}

// ensureInFlight creates the records' table (NewCassandraCheckpoints does, for a run).
func (c *CassandraCheckpoints) ensureInFlight(ctx context.Context) error {
	err := ensureTable(ctx, c.s, c.keyspace, inFlightTable, `CREATE TABLE IF NOT EXISTS `+c.inFlightName()+
		` (run text, tbl text, pkey blob, PRIMARY KEY ((run), tbl, pkey))`)
	if err != nil {
		return fmt.Errorf("forklift: create %s: %w", c.inFlightName(), err)
	}
	return nil
}

// MarkInFlight implements InFlightStore.
func (c *CassandraCheckpoints) MarkInFlight(ctx context.Context, run, table string, key [][]byte) error {
	err := c.s.Query(`INSERT INTO `+c.inFlightName()+` (run, tbl, pkey) VALUES (?, ?, ?)`, run, table, encodeKey(key)).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Exec()
	if err != nil {
		return fmt.Errorf("forklift: record partition (%s) of %s in flight: %w", keyHash(key), table, err)
	}
	return nil
}

// ClearInFlight implements InFlightStore.
func (c *CassandraCheckpoints) ClearInFlight(ctx context.Context, run, table string, key [][]byte) error {
	err := c.s.Query(`DELETE FROM `+c.inFlightName()+` WHERE run = ? AND tbl = ? AND pkey = ?`, run, table, encodeKey(key)).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Exec()
	if err != nil {
		return fmt.Errorf("forklift: clear in-flight partition (%s) of %s: %w", keyHash(key), table, err)
	}
	return nil
}

// LoadInFlight implements InFlightStore; a missing table holds nothing (verify creates nothing).
func (c *CassandraCheckpoints) LoadInFlight(ctx context.Context, run string) ([]InFlight, error) {
	if ok, err := tableExists(ctx, c.s, c.keyspace, inFlightTable); err != nil || !ok {
		return nil, err
	}
	iter := c.s.Query(`SELECT tbl, pkey FROM `+c.inFlightName()+` WHERE run = ?`, run).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Iter()
	var out []InFlight
	var tbl string
	var pkey []byte
	for iter.Scan(&tbl, &pkey) {
		key, err := decodeKey(pkey)
		if err != nil {
			_ = iter.Close()
			return nil, err
		}
		out = append(out, InFlight{Table: tbl, Key: key})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("forklift: load in-flight partitions of run %s: %w", run, err)
	}
	sortInFlight(out)
	return out, nil
}

// inFlightUnion is the rule a resumed run repairs a partition left in flight by (invariant 2).
var inFlightUnion = func() merge.Resolver {
	r, err := merge.New("union", nil)
	if err != nil {
		panic(err)
	}
	return r
}()

// loadRecovery is the set (by inFlightID) of a run's partitions in flight for the tables of the
// Job, which a resumed run repairs when its copy reaches them (invariant 2).
func loadRecovery(ctx context.Context, fs InFlightStore, run string, tables []*table) (map[string]bool, error) {
	recs, err := fs.LoadInFlight(ctx, run)
	if err != nil {
		return nil, err
	}
	configured := map[string]bool{}
	for _, t := range tables {
		configured[t.Name()] = true
	}
	out := map[string]bool{}
	for _, r := range recs {
		if configured[r.Table] {
			out[inFlightID(r.Table, r.Key)] = true
		}
	}
	return out, nil
}

// inFlightOf names (keyString), per table, the run's partitions still recorded in flight: a
// Verify that finds any does not call the run clean (invariant 3). Nothing is created.
func (j *Job) inFlightOf(ctx context.Context) (map[string][]string, error) {
	fs, ok := j.shadows().(InFlightStore)
	if !ok {
		return nil, nil
	}
	recs, err := fs.LoadInFlight(ctx, j.cfg.RunID)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, r := range recs {
		out[r.Table] = append(out[r.Table], keyString(r.Key))
	}
	return out, nil
}
