package demo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/world"
)

// flow is one forklift run of the demo: the EU island into the global keyspace, through one
// datacenter of the global cluster.
type flow struct {
	via int
}

// The one flow of the seeds' migration: the EU island merged into the Americas keyspace (by now
// replicated in both datacenters) through eu-west-1, next to the island; Cassandra carries the
// merged rows to us-east-1.
var flows = []flow{{eu}}

func (f flow) String() string {
	return "EU island -> global (via " + regionNames[f.via] + ")"
}

// MigrationReport is what forklift did, per flow and dataset.
type MigrationReport struct {
	Plans    []FlowPlan   `json:"plans"`
	Passes   [][]FlowRun  `json:"passes"`
	Verify   []FlowVerify `json:"verify"`
	Progress []ProgressPt `json:"progress"`
	Rows     int64        `json:"rows"`
	Seconds  float64      `json:"seconds"`
}

// FlowPlan is plan --sample for one flow.
type FlowPlan struct {
	Flow   string               `json:"flow"`
	Report *forklift.PlanReport `json:"report"`
}

// FlowRun is one pass of one flow.
type FlowRun struct {
	Flow   string              `json:"flow"`
	Report *forklift.RunReport `json:"report"`
}

// FlowVerify is verify for one flow.
type FlowVerify struct {
	Flow   string                 `json:"flow"`
	Report *forklift.VerifyReport `json:"report"`
}

// ProgressPt is a point of the forklift progress chart: rows copied in all since the migration
// began.
type ProgressPt struct {
	T    float64 `json:"t"`
	Rows int64   `json:"rows"`
}

// forkliftMigration runs forklift over the demo's flows, as the forklift role; its runs are gated
// on the EU application's migration (control names it).
type forkliftMigration struct {
	w       world.Env
	control string         // the migration in controlKS whose fleet must dual-write before a pass copies
	access  cqlconn.Access // the forklift role's, on both clusters
	opts    Options
	say     func(string, ...any)
	mu      sync.Mutex
	start   time.Time
	base    int64 // rows of earlier runs, for the cumulative chart
	points  []ProgressPt
	rows    int64
}

// migration is a forklift migration of this run, as the forklift role.
func (d *run) migration() *forkliftMigration {
	mg := &forkliftMigration{w: d.w, access: d.access[cqlconn.RoleForklift], opts: d.opts, say: d.say, start: d.start}
	if d.ctl != nil {
		mg.control = d.ctl.name
	}
	return mg
}

func (mg *forkliftMigration) config(f flow, pass int) forklift.Config {
	cfg := forklift.Defaults()
	cl := func(addr, dc string) forklift.ClusterConfig {
		return forklift.ClusterConfig{Hosts: []string{addr}, DisableHostLookup: true, Consistency: "LOCAL_QUORUM", LocalDC: dc,
			Access: mg.access, Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Connections: 2}
	}
	via := world.Regions[f.via]
	cfg.Source, cfg.Destination = cl(mg.w.EUIslandCQL, ""), cl(mg.w.GlobalCQL(via, via), via.DC())
	for _, d := range datasets {
		cfg.Tables = append(cfg.Tables, forklift.TableConfig{Keyspace: islandKS, Table: d.Table, DestinationKeyspace: globalKS,
			Resolver: d.Resolver, Options: d.Options})
	}
	cfg.CheckpointKeyspace = fliftKS
	cfg.RunID = fmt.Sprintf("demo-%d-eu-island-via-%s-pass%d", mg.start.Unix(), regionNames[f.via], pass)
	cfg.Ranges = mg.opts.knobs().ranges
	if pass > 0 && mg.control != "" {
		// A pass copies only once every live EU instance dual-writes: forklift's gate reads the
		// control keyspace (through the destination, as the forklift role) and records the run's
		// start and end on the migration's row.
		cfg.Migration = forklift.MigrationConfig{Name: mg.control, Keyspace: controlKS}
	}
	cfg.Workers = 4
	cfg.PageSize = 500
	return cfg
}

// plan compares the EU island (source) with the Americas keyspace (destination, through
// eu-west-1) with plan --sample: how many members are in both, which cells conflict, what each
// resolver would do.
func (mg *forkliftMigration) plan(ctx context.Context) ([]FlowPlan, error) {
	f := flows[0]
	r, err := withJob(ctx, mg.config(f, 0), func(j *forklift.Job) (*forklift.PlanReport, error) {
		return j.Plan(ctx, forklift.PlanOptions{Sample: mg.opts.sample()})
	})
	if err != nil {
		return nil, fmt.Errorf("forklift plan --sample (%s): %w", f, err)
	}
	for _, t := range r.Tables {
		if t.Sample != nil {
			mg.say("  %-26s %-15s %s", t.Table, t.Resolver, sampleLine(t.Sample))
		}
	}
	return []FlowPlan{{Flow: "EU island vs the Americas keyspace", Report: r}}, nil
}

func (mg *forkliftMigration) pass(ctx context.Context, pass int) ([]FlowRun, error) {
	var out []FlowRun
	for _, f := range flows {
		cfg := mg.config(f, pass)
		opts := forklift.RunOptions{ProgressInterval: 250 * time.Millisecond,
			Progress: func(p forklift.Progress) {
				mg.mu.Lock()
				mg.points = append(mg.points, ProgressPt{T: time.Since(mg.start).Seconds(), Rows: mg.base + p.Rows})
				mg.mu.Unlock()
			}}
		r, err := withJob(ctx, cfg, func(j *forklift.Job) (*forklift.RunReport, error) { return j.Run(ctx, opts) })
		if err != nil {
			return out, fmt.Errorf("forklift run %s (pass %d): %w", f, pass, err)
		}
		mg.mu.Lock()
		mg.base += r.Rows
		mg.rows += r.Rows
		mg.mu.Unlock()
		out = append(out, FlowRun{Flow: f.String(), Report: r})
		var q int64
		for _, t := range r.Tables {
			q += t.Quarantined
		}
		mg.say("  pass %d %-32s %7d rows in %5.1fs (%6.0f rows/s), %d partitions quarantined", pass, f, r.Rows, r.Seconds, r.RowsPerSec, q)
	}
	return out, nil
}

func (mg *forkliftMigration) verify(ctx context.Context, pass int) ([]FlowVerify, bool, error) {
	var out []FlowVerify
	clean := true
	for _, f := range flows {
		r, err := withJob(ctx, mg.config(f, pass), func(j *forklift.Job) (*forklift.VerifyReport, error) {
			return j.Verify(ctx, forklift.VerifyOptions{})
		})
		if err != nil {
			return out, false, fmt.Errorf("forklift verify %s: %w", f, err)
		}
		out = append(out, FlowVerify{Flow: f.String(), Report: r})
		clean = clean && r.Clean
		var sup, quar int64
		for _, t := range r.Tables {
			sup += t.Superseded
			quar += t.Quarantined
		}
		mg.say("  verify %-32s missing %d, mismatched %d, superseded %d, quarantined %d -> %s", f, r.Missing, r.Mismatch, sup, quar, okWord(r.Clean))
	}
	return out, clean, nil
}

func sampleLine(s *forklift.Sample) string {
	return fmt.Sprintf("%4d keys, %4d on both, %4d rows conflict, %3d to quarantine", s.Partitions, s.OnBothSides, s.ConflictingRows, s.Quarantined)
}

func okWord(ok bool) string {
	if ok {
		return "clean"
	}
	return "DIFFERENCES"
}
