package forklift

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/globalcloud/islands/merge"
)

// RunReport is the result of Run (and Repair), ready for json.Marshal.
type RunReport struct {
	RunID       string        `json:"run_id"`
	Shard       string        `json:"shard"`
	Resumed     bool          `json:"resumed"`
	Started     time.Time     `json:"started"`
	Finished    time.Time     `json:"finished"`
	Seconds     float64       `json:"seconds"`
	Rows        int64         `json:"rows"`
	RowsPerSec  float64       `json:"rows_per_sec"`
	Interrupted bool          `json:"interrupted"`
	Tables      []TableReport `json:"tables"`
}

// TableReport is one table's share of a run.
type TableReport struct {
	Table       string           `json:"table"`
	Resolver    string           `json:"resolver"`
	Blind       bool             `json:"blind"` // written without reading the destination
	Ranges      int              `json:"ranges"`
	RangesDone  int              `json:"ranges_done"`
	Rows        int64            `json:"rows"`
	Partitions  int64            `json:"partitions"`
	Statements  int64            `json:"statements"`
	Conflicts   map[string]int64 `json:"conflicts,omitempty"` // by column
	Quarantined int64            `json:"quarantined"`
	// InFlightRepaired names (key in hex) the partitions a killed run left half-written (in
	// flight) that this resumed run repaired by union: see InFlightStore.
	InFlightRepaired []string `json:"in_flight_repaired,omitempty"`
}

// tableStats is a TableReport being filled by many workers.
type tableStats struct {
	Rows, Partitions, Statements, Quarantined, RangesDone atomic.Int64

	mu        sync.Mutex
	conflicts map[string]int64
	repaired  []string // partitions in flight repaired (keyString)
}

func (s *tableStats) addRepaired(key [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repaired = append(s.repaired, keyString(key))
}

func (s *tableStats) addConflicts(m *metrics, table string, cs []merge.Conflict) {
	if len(cs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflicts == nil {
		s.conflicts = map[string]int64{}
	}
	for _, c := range cs {
		s.conflicts[c.Column]++
		m.conflicts.WithLabelValues(table, c.Column).Inc()
	}
}

func (s *tableStats) report(t *table, ranges int) TableReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := TableReport{Table: t.Name(), Resolver: t.cfg.Resolver, Blind: t.blind, Ranges: ranges,
		RangesDone: int(s.RangesDone.Load()), Rows: s.Rows.Load(), Partitions: s.Partitions.Load(),
		Statements: s.Statements.Load(), Quarantined: s.Quarantined.Load()}
	r.InFlightRepaired = append([]string(nil), s.repaired...)
	sort.Strings(r.InFlightRepaired)
	if len(s.conflicts) > 0 {
		r.Conflicts = map[string]int64{}
		for k, v := range s.conflicts {
			r.Conflicts[k] = v
		}
	}
	return r
}

func sortTableReports(ts []TableReport) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Table < ts[j].Table })
}
