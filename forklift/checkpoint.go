package forklift

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Checkpoint is how far one token range of one table has been copied in a run. Every partition with
// a token ≤ Last has been written; a resumed run reads from (Last, Range.End].
type Checkpoint struct {
	Run     string     `json:"run"`
	Table   string     `json:"table"` // source keyspace.table
	Range   TokenRange `json:"range"`
	Last    int64      `json:"last"`
	Rows    int64      `json:"rows"`
	Done    bool       `json:"done"`
	Updated time.Time  `json:"updated"`
}

// CheckpointStore keeps checkpoints. Save must be durable when it returns: a kill -9 right after
// loses nothing saved. Implementations: CassandraCheckpoints (the destination's
// forklift_progress table, used by runs) and MemoryCheckpoints (unit tests).
type CheckpointStore interface {
	// Load returns every checkpoint of a run, ordered by table then range start.
	Load(ctx context.Context, run string) ([]Checkpoint, error)
	// Save writes one checkpoint, replacing the one for the same run, table and range start.
	Save(ctx context.Context, cp Checkpoint) error
}

// MemoryCheckpoints is an in-memory CheckpointStore for tests of pure logic.
type MemoryCheckpoints struct {
	mu       sync.Mutex
	m        map[string]Checkpoint
	shadowed map[string]map[string]bool     // run and table → ids (ShadowStore)
	inflight map[string]map[string]InFlight // run → partitions in flight (InFlightStore)
}

// Load implements CheckpointStore.
func (s *MemoryCheckpoints) Load(_ context.Context, run string) ([]Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Checkpoint
	for _, cp := range s.m {
		if cp.Run == run {
			out = append(out, cp)
		}
	}
	sortCheckpoints(out)
	return out, nil
}

// Save implements CheckpointStore.
func (s *MemoryCheckpoints) Save(_ context.Context, cp Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Checkpoint{}
	}
	s.m[cpKey(cp)] = cp
	return nil
}

func cpKey(cp Checkpoint) string {
	return cp.Run + "\x00" + cp.Table + "\x00" + TokenRange{Start: cp.Range.Start}.String()
}

func sortCheckpoints(cps []Checkpoint) {
	sort.Slice(cps, func(i, j int) bool {
		if cps[i].Table != cps[j].Table {
			return cps[i].Table < cps[j].Table
		}
		return cps[i].Range.Start < cps[j].Range.Start
	})
}
