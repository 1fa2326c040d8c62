package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/globalcloud/islands/internal/private"
)

// Report is everything a demo run did and found; written as report.json and report.html.
type Report struct {
	Started          time.Time        `json:"started"`
	Seconds          float64          `json:"seconds"`
	MembersPerRegion int              `json:"members_per_region"`
	Travellers       int              `json:"travellers"`
	Planted          int              `json:"planted_inconsistencies"`
	Seeded           [2]int           `json:"seeded_rows"` // the Americas island (demo_global, us-east-1 only), the EU island
	WAN              string           `json:"wan"`
	Roles            []RoleUse        `json:"roles,omitempty"` // who each part connected to Cassandra as (roles.go)
	Steps            []Step           `json:"steps"`
	Extension        Extension        `json:"extension"`
	Distance         DistanceFigures  `json:"distance"`
	Migration        MigrationReport  `json:"migration"`
	Flip             Flip             `json:"flip"`
	Control          ControlPlane     `json:"control_plane"` // the EU instances' migration through the control plane (control.go)
	DualWrite        DualWriteFigures `json:"dual_write"`
	Cache            CacheFigures     `json:"cache"`
	Evacuation       Evacuation       `json:"evacuation"`
	CatchUp          CatchUp          `json:"catch_up"`
	Checks           []Check          `json:"checks"`
	Timeline         Timeline         `json:"timeline"`        // what happened when: phases, faults, sampled series
	Error            string           `json:"error,omitempty"` // why the run stopped before its end
	OK               bool             `json:"ok"`
}

// Step is one step's duration.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Check is one green-or-red verdict.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// DualWriteFigures sum every dualwrite session of the run.
type DualWriteFigures struct {
	Writes        int64 `json:"writes"`
	Acknowledged  int64 `json:"acknowledged"`
	Failed        int64 `json:"failed"`
	KeptForReplay int64 `json:"kept_for_replay"`
	Replayed      int64 `json:"replayed"`
}

// CacheFigures sum both regions' cache clients and agents.
type CacheFigures struct {
	CacheWrites  int64     `json:"cache_writes"`
	Published    int64     `json:"events_published"`
	Received     int64     `json:"events_received"`
	Applied      int64     `json:"events_applied"`
	Stale        int64     `json:"events_stale_or_duplicate"`
	Poison       int64     `json:"poison"`
	ApplyRetries int64     `json:"apply_retries"`
	HeldByOutage int64     `json:"events_held_by_outage"` // applied after the region came back; not in the lag figures
	LagP50ms     float64   `json:"lag_p50_ms"`
	LagP99ms     float64   `json:"lag_p99_ms"`
	LagMs        []float64 `json:"-"`
}

// Extension is the Americas keyspace (us-east-1, us-west-2) extended to eu-west-1.
type Extension struct {
	RebuildSeconds float64 `json:"rebuild_seconds"`
	Seconds        float64 `json:"seconds"`
	RowsInEU       int     `json:"rows_in_eu_west_1"`
	RowsInUSW      int     `json:"rows_in_us_west_2"`
}

// Flip is the end of the EU application's dual writes.
type Flip struct {
	DualWrites int64 `json:"dual_writes"` // writes through dualwrite until the island was retired
}

// Evacuation is us-east-1 cut off and killed, its members served by the other regions.
type Evacuation struct {
	DrainSeconds       float64      `json:"drain_seconds"` // us-east-1's replication and cache events reaching the other regions before the cut
	Partitioned        bool         `json:"wan_partitioned"`
	Isolated           string       `json:"isolated,omitempty"` // the region cut off from every other (scripts/regions partition REGION)
	Killed             []string     `json:"killed"`
	Share              string       `json:"share,omitempty"` // how us-east-1's members were split (Options.EvacuationShare)
	WritesDuringOutage int64        `json:"writes_during_outage"`
	ReplayBacklog      int64        `json:"replay_backlog"`
	Regions            []EvacRegion `json:"regions,omitempty"` // each region that served members during the outage
	Check              *CheckResult `json:"check"`             // every receiving region's check, summed
	Seconds            float64      `json:"seconds"`
}

// EvacRegion is one region serving members while us-east-1 is out.
type EvacRegion struct {
	Region      string       `json:"region"`
	Weight      int          `json:"weight,omitempty"` // its weight in the share
	FromUSEast1 int          `json:"from_us_east_1"`   // us-east-1's members it took
	Members     int          `json:"members"`          // every member it served (its own too)
	Writes      Percentile   `json:"write_latency_ms"` // its application's acknowledged writes during the outage
	Check       *CheckResult `json:"check"`            // its members read from it alone
}

// CatchUp is us-east-1 healed, restarted, hinted and repaired.
type CatchUp struct {
	RestartSeconds float64      `json:"restart_seconds"`
	HintsSeconds   float64      `json:"hints_seconds"`
	RepairSeconds  float64      `json:"repair_seconds"`
	DrainSeconds   float64      `json:"drain_seconds"`
	Check          *CheckResult `json:"check"`
}

func (r *Report) check(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

func (r *Report) finish() {
	r.OK = len(r.Checks) > 0 && r.Error == "" // a run that stopped early is not green, whatever it checked
	for _, c := range r.Checks {
		r.OK = r.OK && c.OK
	}
	if l := slices.Clone(r.Cache.LagMs); len(l) > 0 {
		slices.Sort(l)
		r.Cache.LagP50ms, r.Cache.LagP99ms = l[len(l)/2], l[len(l)*99/100]
	}
}

func (r *Report) write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := private.WriteFile(filepath.Join(dir, "report.json"), b); err != nil {
		return err
	}
	return private.WriteFile(filepath.Join(dir, "report.html"), []byte(r.html()))
}

// ParseReport reads a report.json.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("demo: read report.json: %w", err)
	}
	return &r, nil
}

// Print writes the summary a person reads at a glance.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nislands demo — the EU island merged into the global cloud (%d members per region, %.0fs, WAN %s)\n\n", r.MembersPerRegion, r.Seconds, r.WAN)
	fmt.Fprintf(w, "Seeded: %d rows in the Americas keyspace (us-east-1 and us-west-2), %d in the EU island; %d travellers, %d planted inconsistencies\n",
		r.Seeded[0], r.Seeded[1], r.Travellers, r.Planted)
	if len(r.Roles) > 0 {
		fmt.Fprintln(w, "Cassandra roles:")
		for _, u := range r.Roles {
			fmt.Fprintf(w, "  %-9s %s: %s\n", u.Role, u.As, u.Part)
		}
	}
	fmt.Fprintf(w, "Extension to eu-west-1: ALTER KEYSPACE + nodetool rebuild %.1fs, eu-west-1 holds %d rows, us-west-2 %d\n",
		r.Extension.RebuildSeconds, r.Extension.RowsInEU, r.Extension.RowsInUSW)
	printDistance(w, r.Distance)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Forklift (%d rows copied or merged in all)\n", r.Migration.Rows)
	fmt.Fprintf(w, "  %-36s %-18s %-16s %8s %8s %9s %11s\n", "flow", "dataset", "resolver", "pass 1", "pass 2", "conflicts", "quarantined")
	if len(r.Migration.Passes) == 2 {
		for i, f := range r.Migration.Passes[0] {
			p2 := r.Migration.Passes[1][i]
			for j, t := range f.Report.Tables {
				t2 := p2.Report.Tables[j]
				var conf int64
				for _, n := range t2.Conflicts {
					conf += n
				}
				fmt.Fprintf(w, "  %-36s %-18s %-16s %8d %8d %9d %11d\n", f.Flow, short(t.Table), t.Resolver, t.Rows, t2.Rows, conf, t2.Quarantined)
			}
		}
	}
	for _, v := range r.Migration.Verify {
		fmt.Fprintf(w, "  verify %-36s missing %d, mismatched %d -> %s\n", v.Flow, v.Report.Missing, v.Report.Mismatch, okWord(v.Report.Clean))
	}
	printControl(w, r.Control)
	d := r.DualWrite
	fmt.Fprintf(w, "\nDual writes (the EU instances, until the island was retired): %d issued, %d acknowledged, %d failed, %d kept for replay, %d replayed, lost 0 (checked below)\n",
		d.Writes, d.Acknowledged, d.Failed, d.KeptForReplay, d.Replayed)
	c := r.Cache
	fmt.Fprintf(w, "Cache events: %d published, %d received, %d applied, %d stale or duplicate (ignored), %d poison\n",
		c.Published, c.Received, c.Applied, c.Stale, c.Poison)
	fmt.Fprintf(w, "  lag write -> visible in the other region: p50 %.1f ms, p99 %.1f ms (%d events held by the outage, applied on return)\n",
		c.LagP50ms, c.LagP99ms, c.HeldByOutage)
	if e := r.Evacuation.Check; e != nil {
		cut := "WAN partitioned"
		if r.Evacuation.Isolated != "" {
			cut = r.Evacuation.Isolated + " isolated"
		}
		fmt.Fprintf(w, "\nEvacuation of us-east-1 (%s, %s killed, its members split %s): %d writes during the outage; %d of %d members served (%d cache hits, %d stale)\n",
			cut, strings.Join(r.Evacuation.Killed, ", "), r.Evacuation.Share, r.Evacuation.WritesDuringOutage, e.Served, e.Members, e.CacheHits, e.StaleFromCache)
		if len(r.Evacuation.Regions) > 0 {
			fmt.Fprintf(w, "  %-10s %6s %14s %8s %8s %-30s %s\n", "region", "weight", "of us-east-1's", "members", "served", "write latency", "member read latency")
			for _, er := range r.Evacuation.Regions {
				served := 0
				var reads Percentile
				if er.Check != nil {
					served, reads = er.Check.Served, er.Check.Reads
				}
				fmt.Fprintf(w, "  %-10s %6d %14d %8d %8d %-30s %s\n", er.Region, er.Weight, er.FromUSEast1, er.Members, served, er.Writes, reads)
			}
		}
	}
	if cu := r.CatchUp.Check; cu != nil {
		fmt.Fprintf(w, "Catch-up: heal and restart %.0fs, hints delivered in %.1fs, nodetool repair %.1fs, cache queues drained %.1fs after the restart; us-east-1 holds %d of %d members\n",
			r.CatchUp.RestartSeconds, r.CatchUp.HintsSeconds, r.CatchUp.RepairSeconds, r.CatchUp.DrainSeconds, cu.Served, cu.Members)
	}
	fmt.Fprintln(w, "\nChecks:")
	for _, ch := range r.Checks {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %s", mark, ch.Name)
		if ch.Detail != "" {
			fmt.Fprintf(w, " (%s)", ch.Detail)
		}
		fmt.Fprintln(w)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "\nTHE RUN STOPPED EARLY: %s\n", r.Error)
	}
	if r.OK {
		fmt.Fprintln(w, "\nEvery check green: the regions serve every member.")
	} else {
		fmt.Fprintln(w, "\nSOME CHECKS FAILED: see above and report.json.")
	}
}

func short(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return table[i+1:]
	}
	return table
}

// printControl writes the migration as the operator drove it: each `set --wait` and each
// instance's flips.
func printControl(w io.Writer, c ControlPlane) {
	if len(c.Sets) == 0 {
		return
	}
	fmt.Fprintf(w, "\nControl plane (migration %s in %s; EU instances %s)\n", c.Migration, c.Keyspace, strings.Join(c.Instances, ", "))
	for _, s := range c.Sets {
		fmt.Fprintf(w, "  %6.1fs  islands migration set %s --wait: epoch %d, LWT %.2fs, applied by %d instances %.2fs after the set\n",
			s.At, s.Phase, s.Epoch, s.LWTSeconds, s.Instances, s.AckSeconds)
		var fl []string
		for _, f := range c.Flips {
			if f.Epoch == s.Epoch {
				fl = append(fl, fmt.Sprintf("%s at %.2fs", f.Instance, f.At))
			}
		}
		if len(fl) > 0 {
			fmt.Fprintf(w, "           applied: %s\n", strings.Join(fl, ", "))
		}
	}
	if c.Forklift != "" {
		fmt.Fprintf(w, "  forklift (gated on the fleet): %s\n", c.Forklift)
	}
}
