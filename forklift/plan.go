package forklift

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/merge"
)

// PlanOptions are the knobs of Plan.
type PlanOptions struct {
	// Sample, when > 0, reads about this many source partitions per table and looks each up in the
	// destination, counting keys on both sides and conflicting cells per column.
	Sample int
}

// PlanReport is what Plan found, ready for json.Marshal.
type PlanReport struct {
	RunID  string      `json:"run_id"`
	Ranges int         `json:"ranges"` // per table
	Tables []TablePlan `json:"tables"`
}

// TablePlan is one table's plan.
type TablePlan struct {
	Table            string   `json:"table"`
	Destination      string   `json:"destination"`
	Resolver         string   `json:"resolver"`
	Blind            bool     `json:"blind"`
	PartitionKey     []string `json:"partition_key"`
	Clustering       []string `json:"clustering,omitempty"`
	Columns          []string `json:"columns"`
	Ranges           int      `json:"ranges"`
	EstPartitions    int64    `json:"est_partitions"` // from system.size_estimates; -1 unknown
	EstBytes         int64    `json:"est_bytes"`
	EstDstPartitions int64    `json:"est_destination_partitions"`
	Sample           *Sample  `json:"sample,omitempty"`
}

// Sample is the conflict analysis of plan --sample: the facts a person needs to choose a resolver.
type Sample struct {
	Partitions      int              `json:"partitions"`              // source partitions sampled
	OnBothSides     int              `json:"on_both_sides"`           // of them, also in the destination
	RowsOnBothSides int              `json:"rows_on_both"`            // rows (clustering keys) on both sides
	RowsOnlySource  int              `json:"rows_only_source"`        // in partitions on both sides
	ConflictingRows int              `json:"conflicting_rows"`        // rows with ≥ 1 conflicting cell
	Conflicts       map[string]int   `json:"conflicts"`               // cells, by column, both present and different
	NewerInSource   map[string]int   `json:"newer_in_source"`         // of the conflicts, source writetime newer
	ResolverWrites  int              `json:"resolver_writes"`         // partitions the chosen resolver would write
	Quarantined     int              `json:"quarantined"`             // partitions it would quarantine
	ResolverKept    map[string]int64 `json:"resolver_kept,omitempty"` // conflicts by who the resolver kept
}

// Plan reports what Open found (both schemas, compatible), the ranges and the size estimates; with
// opts.Sample it also analyses conflicts on a sample of keys. Plan writes nothing.
func (j *Job) Plan(ctx context.Context, opts PlanOptions) (*PlanReport, error) {
	cfg := &j.cfg
	rep := &PlanReport{RunID: cfg.RunID, Ranges: cfg.Ranges}
	for _, t := range j.tables {
		tp := TablePlan{Table: t.Name(), Destination: t.dst.String(), Resolver: t.cfg.Resolver, Blind: t.blind,
			PartitionKey: t.src.PartitionKeyNames(), Ranges: cfg.Ranges}
		for _, c := range t.src.Clustering {
			tp.Clustering = append(tp.Clustering, c.Name)
		}
		for _, c := range t.cols {
			tp.Columns = append(tp.Columns, c.Name+" "+c.Type)
		}
		tp.EstPartitions, tp.EstBytes = sizeEstimate(ctx, j.src, t.src.Keyspace, t.src.Name)
		tp.EstDstPartitions, _ = sizeEstimate(ctx, j.dst, t.dst.Keyspace, t.dst.Name)
		if opts.Sample > 0 {
			var err error
			if tp.Sample, err = j.sample(ctx, t, opts.Sample); err != nil {
				return nil, fmt.Errorf("forklift: sample %s: %w", t.Name(), err)
			}
		}
		rep.Tables = append(rep.Tables, tp)
	}
	return rep, nil
}

// sizeEstimate sums system.size_estimates (refreshed by Cassandra every few minutes; -1 when it has
// nothing for the table yet).
func sizeEstimate(ctx context.Context, s *gocql.Session, ks, table string) (partitions, bytes int64) {
	iter := s.Query(`SELECT partitions_count, mean_partition_size FROM system.size_estimates WHERE keyspace_name = ? AND table_name = ?`,
		ks, table).WithContext(ctx).Iter()
	var n, size int64
	found := false
	for iter.Scan(&n, &size) {
		partitions += n
		bytes += n * size
		found = true
	}
	if err := iter.Close(); err != nil || !found {
		return -1, -1
	}
	return partitions, bytes
}

// sample reads n source partitions starting at random tokens (10 partitions per start, so the
// sample spreads over the ring) and compares each with the destination.
func (j *Job) sample(ctx context.Context, t *table, n int) (*Sample, error) {
	sm := &Sample{Conflicts: map[string]int{}, NewerInSource: map[string]int{}, ResolverKept: map[string]int64{}}
	seen := map[string]bool{}
	for tries := 0; sm.Partitions < n && tries < n; tries++ {
		start := int64(rand.Uint64())
		st := openStream(ctx, j.src, t, t.selectRange, TokenRange{Start: start, End: FullRing.End}, 100)
		for k := 0; k < 10 && sm.Partitions < n; k++ {
			p, _ := st.next()
			if p == nil {
				break
			}
			key := keyString(p.Key)
			if seen[key] {
				continue
			}
			seen[key] = true
			sm.Partitions++
			dst, err := readPartition(ctx, j.dst, t, p.Key, j.cfg.Retries, j.m)
			if err != nil {
				_ = st.close()
				return nil, err
			}
			analyse(t, p, dst, sm)
		}
		if err := st.close(); err != nil {
			return nil, err
		}
	}
	return sm, nil
}

func analyse(t *table, src, dst *merge.Partition, sm *Sample) {
	if res, err := t.resolver.Resolve(src, dst); err == nil {
		if res.Quarantine != nil {
			sm.Quarantined++
		} else if res.Write != nil && len(res.Write.Rows) > 0 {
			sm.ResolverWrites++
		}
		for _, c := range res.Conflicts {
			sm.ResolverKept[c.Kept]++
		}
	}
	if dst == nil {
		return
	}
	sm.OnBothSides++
	for ri := range src.Rows {
		sr := &src.Rows[ri]
		dr := findRow(dst, sr.Clustering)
		if dr == nil {
			sm.RowsOnlySource++
			continue
		}
		sm.RowsOnBothSides++
		conflicting := false
		for ci := range sr.Columns {
			sc := &sr.Columns[ci]
			dc := findColumn(dr, sc.Name, ci)
			if !sc.Present || dc == nil || !dc.Present {
				continue
			}
			sv, dv := columnValue(sc), columnValue(dc)
			if string(sv.Value) != string(dv.Value) {
				conflicting = true
				sm.Conflicts[sc.Name]++
				if sv.WriteTime > dv.WriteTime {
					sm.NewerInSource[sc.Name]++
				}
			}
		}
		if conflicting {
			sm.ConflictingRows++
		}
	}
}

// columnValue sums a column up as one cell: collections as their sorted elements.
func columnValue(c *merge.Column) merge.Cell {
	if c.Kind == merge.Simple {
		return c.Cell
	}
	parts := make([]string, len(c.Elems))
	var wt int64
	for i, e := range c.Elems {
		parts[i] = string(e.Key) + "\x00" + string(e.Cell.Value)
		wt = max(wt, e.Cell.WriteTime)
	}
	if c.Kind != merge.List {
		sort.Strings(parts)
	}
	var v []byte
	for _, p := range parts {
		v = append(v, p...)
		v = append(v, 0xff)
	}
	return merge.Cell{Value: v, WriteTime: wt}
}
