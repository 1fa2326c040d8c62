package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab"
	"github.com/globalcloud/islands/internal/lab/world"
	"github.com/globalcloud/islands/internal/private"
)

// Options size and place a demo run. The world's addresses come from the ISLANDS_* variables of
// scripts/regions env when World is empty.
type Options struct {
	Members  int     // members per region [2000; Short: 200] (knobs)
	Scale    float64 // multiplies Members [1]
	Short    bool    // the make test version: fewer members, shorter traffic (knobs)
	Out      string  // directory of report.json, report.html and the replay logs [demo-out]
	Progress io.Writer
	// EvacuationShare splits us-east-1's members between the regions that take them when it is
	// evacuated, by weight [DefaultEvacuationShare: eu-west-1 70, us-west-2 30].
	EvacuationShare map[world.Region]int

	World world.Env // the world (world.FromEnv when its WANAPI is empty)
}

func (o *Options) defaults() error {
	if o.World.WANAPI == "" {
		w, err := world.FromEnv()
		if err != nil {
			return fmt.Errorf("demo: run `make demo`, or eval \"$(scripts/regions up)\" first: %w", err)
		}
		o.World = w
	}
	if o.World.Regions == "" {
		o.World.Regions = os.Getenv("ISLANDS_REGIONS")
	}
	if o.World.Regions == "" {
		return errors.New("demo: ISLANDS_REGIONS (the path of scripts/regions) is unset")
	}
	if o.Members == 0 {
		o.Members = o.knobs().members
	}
	if o.Scale > 0 {
		o.Members = int(float64(o.Members) * o.Scale)
	}
	if o.Out == "" {
		o.Out = "demo-out"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.EvacuationShare == nil {
		o.EvacuationShare = DefaultEvacuationShare
	}
	return checkShare(o.EvacuationShare)
}

func (o *Options) sample() int { return min(o.knobs().sample, o.Members/2) }

func (o *Options) trafficTime() time.Duration { return o.knobs().traffic }

// Run runs the demo and returns its report; every check's result is in Report.Checks, and
// Report.OK is true only when all are green.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	logf, err := openOut(opts.Out)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d := &run{opts: opts, k: opts.knobs(), w: opts.World, rep: &Report{Started: time.Now(), MembersPerRegion: opts.Members}, m: newModel(),
		rng: rand.New(rand.NewPCG(42, uint64(opts.Members)))}
	d.start = time.Now()
	d.logger = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	defer d.close()
	stopRecording := d.record(ctx)
	err = d.all(ctx)
	d.ctl.close() // the instances' watchers write the report: stopped before it is read
	stopRecording()
	if err != nil {
		d.rep.Error = err.Error()
	}
	d.rep.Seconds = time.Since(d.start).Seconds()
	d.rep.finish()
	if werr := d.rep.write(opts.Out); werr != nil && err == nil {
		err = werr
	}
	return d.rep, err
}

// openOut creates the output directory (0700) and its demo.log (0600): the log and the reports
// hold member data (internal/private).
func openOut(dir string) (*os.File, error) {
	if err := private.MkdirAll(dir, nil); err != nil {
		return nil, fmt.Errorf("demo: output directory: %w", err)
	}
	f, err := private.Create(filepath.Join(dir, "demo.log"))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return f, nil
}

type run struct {
	opts   Options
	k      knobs // the run's sizes and durations (knobs.go)
	w      world.Env
	link   world.Link // the WAN the run found (its distance; 70 ms RTT when it found none)
	rep    *Report
	m      *model
	rng    *rand.Rand
	start  time.Time
	access map[cqlconn.Role]cqlconn.Access // how each role connects (roles.go)
	// region holds one handle per region, in world.Regions' order (index us, eu, usw): its
	// sessions on the global cluster (the demo's own as admin, the application's as app),
	// memcached, SQS clients, and its cache side (publisher per other region, client, agent).
	region   []*lab.Region
	island   *gocql.Session // the demo's own (admin) session on the EU island
	ctl      *control       // the EU application's migration through the control plane (control.go)
	dws      []*dualwrite.Session
	lagMu    sync.Mutex
	lags     []float64
	lagAt    []time.Time // when each event of lags was published
	windows  []window    // the distance step's windows, for its cache-lag figures
	dwLat    samples     // the EU application's dual-write latencies, by WAN setting
	dwLabel  atomic.Pointer[string]
	stats    trafficStats
	logger   *slog.Logger
	rec      *recorder // the timeline of report.json
	outage   atomic.Bool
	outageEv atomic.Int64
}

func (d *run) say(format string, args ...any) {
	fmt.Fprintf(d.opts.Progress, "%6.1fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *run) step(name string) func() {
	d.say("== %s", name)
	t0 := time.Now()
	end := d.rec.phase("step", name)
	return func() {
		end()
		d.rep.Steps = append(d.rep.Steps, Step{Name: name, Seconds: time.Since(t0).Seconds()})
	}
}

func (d *run) close() {
	for _, r := range d.region {
		r.StopAgent()
	}
	d.ctl.close()
	for _, dw := range d.dws {
		dw.Close()
	}
	lab.CloseAll(d.region) // the publishers, then the sessions
	if d.island != nil {
		d.island.Close()
	}
	// Give the world back as the run found it: connected, at its distance.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wan := d.w.WAN()
	if err := wan.Heal(ctx); err != nil {
		d.logger.Warn("healing the WAN", "err", err)
	}
	if err := wan.Apply(ctx, d.link); err != nil {
		d.logger.Warn("restoring the WAN's distance", "err", err)
	}
}

func quiet(c *gocql.ClusterConfig) *gocql.ClusterConfig {
	c.Logger = log.New(io.Discard, "", 0) // the evacuation cuts and kills on purpose
	c.ReconnectInterval = time.Second
	return c
}

// islandCluster is the EU application's gocql configuration of the EU island, without
// credentials: whoever connects applies its role's (d.session, d.as).
func (d *run) islandCluster() *gocql.ClusterConfig {
	c := gocql.NewCluster(d.w.EUIslandCQL)
	c.Consistency = gocql.LocalQuorum
	c.Timeout = 5 * time.Second
	c.WriteTimeout = 5 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.DisableInitialHostLookup = true
	return quiet(c)
}

// globalCluster is an application's gocql configuration of the global cluster in region r: its
// own datacenter directly, the other through the WAN (lab.Region.Cluster), LOCAL_QUORUM;
// without credentials, as islandCluster.
func (d *run) globalCluster(r int) *gocql.ClusterConfig { return d.region[r].Cluster() }

// localOnly is a session of role on region r's datacenter of the global cluster and nothing
// else: what a check of "region r serves" reads through (no fallback to the other region's node).
func (d *run) localOnly(r int, role cqlconn.Role) (*gocql.Session, error) {
	return d.session(role, regionNames[r]+" alone", d.region[r].LocalOnly())
}

// admin is region r's session as the administrator on the global cluster: the demo's own
// scaffolding and probes (the handle opens it once and closes it).
func (d *run) admin(r int) (*gocql.Session, error) {
	s, err := d.region[r].Session(cqlconn.RoleAdmin)
	if err != nil {
		return nil, fmt.Errorf("the global cluster from %s as admin: %w", regionNames[r], err)
	}
	return s, nil
}

func (d *run) all(ctx context.Context) error {
	o := d.opts
	wan := d.w.WAN()
	link, err := wan.Link(ctx)
	if err != nil {
		return fmt.Errorf("the WAN: %w", err)
	}
	d.link = link
	if d.link.OneWay == 0 && d.link.Delays == (world.Delays{}) {
		d.link = world.Link{OneWay: 35 * time.Millisecond, Jitter: 5 * time.Millisecond}
	}
	d.link.Partitioned, d.link.Isolated = false, world.Link{}.Isolated
	if err := wan.Heal(ctx); err != nil {
		return err
	}
	// The demo's own scaffolding (dropping and creating keyspaces: a schema change of the global
	// cluster waits for every datacenter to agree, twenty times over) runs at 0 ms; the story runs
	// at the WAN's distance.
	if err := wan.Set(ctx, 0, 0); err != nil {
		return err
	}
	d.rep.WAN = d.link.String()
	d.say("the WAN between the regions: %s (0 ms while the demo creates its keyspaces)", d.link)
	if err := d.loadRoles(); err != nil {
		return err
	}
	// One handle per region of the world: us-east-1 and us-west-2 hold the Americas keyspace,
	// eu-west-1 runs the EU application next to the EU island.
	if d.region, err = lab.OpenAll(ctx, d.w, lab.Options{Access: d.access, Logger: d.logger,
		Configure: func(c *gocql.ClusterConfig) { quiet(c) }}); err != nil {
		return err
	}
	for r := range d.region {
		if _, err := d.admin(r); err != nil {
			return err
		}
	}
	// The demo's own session on the island runs DDL (drop, create, the retirement's drop): long
	// timeouts. The application's (dualwrite) has the short ones.
	ic := d.islandCluster()
	ic.Timeout, ic.WriteTimeout = time.Minute, time.Minute
	if d.island, err = d.session(cqlconn.RoleAdmin, "the EU island", ic); err != nil {
		return err
	}

	done := d.step("1. two islands: the Americas keyspace (us-east-1 and us-west-2) and the EU island; seed")
	t0 := time.Now()
	gc := d.globalCluster(us)
	gc.Timeout, gc.WriteTimeout = time.Minute, time.Minute
	ddl, err := d.session(cqlconn.RoleAdmin, "schema changes of the global cluster (from us-east-1)", gc)
	if err != nil {
		return err
	}
	err = createSchema(ctx, ddl, d.island)
	if err == nil {
		// As the administrator, before forklift runs as its own role: its checkpoint tables.
		if _, err = forklift.NewCassandraCheckpoints(ctx, ddl, fliftKS, 1); err != nil {
			err = fmt.Errorf("forklift's checkpoint tables in %s: %w", fliftKS, err)
		}
	}
	if err == nil {
		err = d.grantRoles(ctx, ddl, d.island)
	}
	ddl.Close()
	if err != nil {
		return err
	}
	d.say("keyspaces created in %.1fs", time.Since(t0).Seconds())
	usAdmin, err := d.admin(us)
	if err != nil {
		return err
	}
	rows, err := seed(ctx, [2]*gocql.Session{usAdmin, d.island}, d.m, o.Members, d.rng)
	if err != nil {
		return err
	}
	d.rep.Seeded = rows
	// The islands as they were before the story begins: seeded, like the keyspaces, at 0 ms.
	if err := wan.Apply(ctx, d.link); err != nil {
		return err
	}
	travellers, planted := 0, 0
	for _, mem := range d.m.members {
		if mem.Traveller {
			travellers++
		}
		if mem.Planted {
			planted++
		}
	}
	d.rep.Travellers, d.rep.Planted = travellers, planted
	d.say("seeded %d rows in the Americas island (demo_global, us-east-1 and us-west-2), %d in the EU island; %d members, %d travellers, %d planted inconsistencies; the WAN back at %s",
		rows[us], rows[eu], len(d.m.members), travellers, planted, d.link)
	done()

	done = d.step("2. keyspace extension: demo_global replicated to eu-west-1 (ALTER KEYSPACE, nodetool rebuild)")
	if err := d.extend(ctx); err != nil {
		return err
	}
	done()

	done = d.step("3. dual writes on through the control plane: three EU instances write the EU island and the global cluster (its follower hangs a moment); cache sync over the WAN")
	if err := d.startCaches(ctx); err != nil {
		return err
	}
	apps, err := d.migrationApps(ctx)
	if err != nil {
		return err
	}
	if err := d.followerHangs(ctx); err != nil {
		return err
	}
	done()

	done = d.step("4. distance: each figure at 0 ms and at " + d.link.String())
	if err := d.distance(ctx, apps); err != nil {
		return err
	}
	done()

	done = d.step("5. forklift: plan, run (EU island -> demo_global through eu-west-1, gated by the control plane), second pass, verify")
	mg := d.migration()
	d.rec.rate("forklift", "forklift_rows", "forklift", mg.copied)
	end := d.rec.phase("activity", "forklift plan --sample")
	if d.rep.Migration.Plans, err = mg.plan(ctx); err != nil {
		return err
	}
	end()
	// The migration-phase traffic runs for trafficTime from pass 1's start, whether pass 1 ends
	// first (it waits) or not (pass 1 goes on alone): the second pass picks up what it wrote.
	tctx, stopTraffic := context.WithTimeout(ctx, o.trafficTime())
	defer stopTraffic()
	endTraffic := d.rec.phase("traffic", "EU dual writes island + global (3 instances); Americas writes global")
	trafficDone := d.drive(tctx, d.steady(apps), 1)
	trafficStopped := make(chan struct{})
	go func() { trafficDone(); endTraffic(); close(trafficStopped) }()
	end = d.rec.phase("activity", "forklift pass 1")
	pass1, err := mg.pass(ctx, 1)
	end()
	<-trafficStopped
	if err != nil {
		return err
	}
	d.say("migration-phase traffic: %d writes acknowledged, %d failed", d.stats.Acked.Load(), d.stats.Failed.Load())
	end = d.rec.phase("activity", "forklift pass 2")
	pass2, err := mg.pass(ctx, 2)
	end()
	if err != nil {
		return err
	}
	d.rep.Migration.Passes = [][]FlowRun{pass1, pass2}
	d.ctl.forkliftRecord(ctx)
	// Each pass named the migration: forklift's gate let it copy only once every live EU instance
	// had applied dual, and recorded the run on the migration's row.
	d.rep.check("forklift gate: the passes copied only once every live EU instance dual-wrote (forklift's record on the migration's row)",
		strings.HasPrefix(d.rep.Control.Forklift, "finished (by forklift run ") && strings.Contains(d.rep.Control.Forklift, "pass2"), d.rep.Control.Forklift)
	var clean bool
	end = d.rec.phase("activity", "forklift verify")
	if d.rep.Migration.Verify, clean, err = mg.verify(ctx, 2); err != nil {
		return err
	}
	end()
	d.rep.check("forklift verify: the global keyspace agrees with the EU island under each resolver", clean, "")
	d.rep.Migration.Progress, d.rep.Migration.Rows = mg.points, mg.rows
	quarantined := d.quarantined(pass2)
	d.rep.check("quarantine: exactly the planted members set aside", quarantined == int64(planted),
		fmt.Sprintf("%d partitions quarantined in the second pass, %d planted members", quarantined, planted))
	done()

	return d.flipAndEvacuate(ctx, apps)
}

// home returns the members whose home is region r (us-east-1 for the Americas island's, eu-west-1
// for the EU island's; none lives in us-west-2 before the evacuation).
func (d *run) home(r int) []member {
	var out []member
	for _, m := range d.m.members {
		if m.Home == r {
			out = append(out, m)
		}
	}
	return out
}

// load is one application's share of the traffic: the members it writes (each by one goroutine
// only, so the model's order is the database's), at rate writes/s with workers goroutines.
type load struct {
	a       *app
	members []member
	rate    float64
	workers int
}

// steady is the traffic of the regions in their usual state: the Americas application (us-east-1)
// writes its members; the EU members are written by the EU instances, each its own share of them
// and of the EU application's rate, or, once the island is retired, by apps[eu].
func (d *run) steady(apps []*app) []load {
	ls := []load{{apps[us], d.home(us), d.k.rate, d.k.workers}}
	return append(ls, d.euLoads(apps)...)
}

// euLoads is the EU application's traffic: its instances' (during the migration) or apps[eu]'s.
func (d *run) euLoads(apps []*app) []load {
	inst := d.ctl.apps()
	if len(inst) == 0 {
		return []load{{apps[eu], d.home(eu), d.k.rate, d.k.workers}}
	}
	ms := make([][]member, len(inst))
	for i, m := range d.home(eu) {
		ms[i%len(inst)] = append(ms[i%len(inst)], m)
	}
	var ls []load
	for i, a := range inst {
		ls = append(ls, load{a, ms[i], d.k.rate / float64(len(inst)), max(1, d.k.workers/len(inst))})
	}
	return ls
}

// drive runs the loads until ctx ends; wait waits for them to stop.
func (d *run) drive(ctx context.Context, ls []load, seed uint64) (wait func()) {
	var wg sync.WaitGroup
	for i, l := range ls {
		if l.a == nil || len(l.members) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.a.traffic(ctx, l.members, l.rate, l.workers, seed*100+uint64(i))
		}()
	}
	return wg.Wait
}

// driveFor runs the loads for dur.
func (d *run) driveFor(ctx context.Context, ls []load, dur time.Duration, seed uint64) {
	tctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	d.drive(tctx, ls, seed)()
}

// migrationApps builds the applications of the migration phase. The Americas one writes the
// global cluster in us-east-1; us-west-2's is ready for the evacuation. The EU application is
// three instances (control.go), each its own dualwrite session (primary the EU island — the
// statements name demo_island —, secondary the global cluster in eu-west-1 via the keyspace map,
// primary-authoritative, its own replay log on disk) opened WithMigration: the operator moves
// them from primary-only to dual through the control plane (`islands migration set dual --wait`).
// No write crosses the WAN: Cassandra replicates demo_global to the other datacenters.
//
// All connect as the application role. The dual writes' two configs name their keyspaces, so
// dualwrite.Open checks that the role may MODIFY and SELECT there and refuses, naming the GRANT,
// before the first write.
func (d *run) migrationApps(ctx context.Context) ([]*app, error) {
	apps := make([]*app, len(d.region))
	for _, r := range []int{us, usw, eu} { // eu's: the EU application's, after the flip
		s, err := d.region[r].Session(cqlconn.RoleApp)
		if err != nil {
			return apps, fmt.Errorf("%s's application on the global cluster: %w", regionNames[r], err)
		}
		if r != eu {
			apps[r] = d.plainApp(r, s)
		}
	}
	ctl, err := d.openControl(ctx)
	if err != nil {
		return apps, err
	}
	d.ctl = ctl
	if err := ctl.set(ctx, "primary-only"); err != nil {
		return apps, err
	}
	if err := ctl.openInstances(ctx); err != nil {
		return apps, err
	}
	if err := ctl.set(ctx, "dual"); err != nil {
		return apps, err
	}
	d.say("EU application: %d instances in %s (EU island + global cluster in eu-west-1, LOCAL_QUORUM); Americas application: global cluster (us-east-1, LOCAL_QUORUM)",
		len(ctl.inst), ctl.phase())
	return apps, nil
}

// plainApp is region r's application writing the global cluster through s (its own datacenter).
func (d *run) plainApp(r int, s *gocql.Session) *app {
	return &app{region: r, w: cqlWriter{s}, cache: d.region[r].Cache(), ks: globalKS, m: d.m, stats: &d.stats,
		log: d.logger.With("region", regionNames[r])}
}

// followerHangs shows the dual writes' failure path: while the EU instances write, the global
// cluster's eu-west-1 node (their follower side) hangs for a moment (kill -STOP). Their writes are
// acknowledged by the island, the follower's share waits in each instance's replay log, and lands
// once the node answers again; the model holds every acknowledged write, so the checks below find
// any that was lost.
func (d *run) followerHangs(ctx context.Context) error {
	var logged0 int64
	for _, dw := range d.dws {
		logged0 += dw.Stats().Logged
	}
	tctx, cancel := context.WithCancel(ctx)
	end := d.rec.phase("traffic", "EU dual writes while eu-west-1's global node hangs")
	wait := d.drive(tctx, d.euLoads(nil), 99)
	time.Sleep(500 * time.Millisecond)
	_, err := d.regions("pause", "cassandra-eu-global")
	if err == nil {
		time.Sleep(d.k.hang)
		_, err = d.regions("resume", "cassandra-eu-global")
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wait()
	end()
	if err != nil {
		return err
	}
	t0 := time.Now()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	var kept, backlog int64
	for _, dw := range d.dws {
		if err := dw.WaitReplayed(rctx); err != nil {
			return fmt.Errorf("replay after eu-west-1's global node hung: %w", err)
		}
		n, _ := dw.Backlog()
		kept, backlog = kept+dw.Stats().Logged, backlog+n
	}
	kept -= logged0
	d.say("eu-west-1's global node hung %v: %d of the EU instances' writes kept in their replay logs, replayed in %.1fs", d.k.hang, kept, time.Since(t0).Seconds())
	d.rep.check("dual writes: the EU instances' writes while their global side hung were kept in the replay logs and replayed",
		kept > 0 && backlog == 0, fmt.Sprintf("%d kept, %d left", kept, backlog))
	return nil
}

func (d *run) quarantined(pass []FlowRun) int64 {
	var n int64
	for _, f := range pass {
		for _, t := range f.Report.Tables {
			n += t.Quarantined
		}
	}
	return n
}

// keepLockFromDaemons: a demo run under `flock /work/regions.lock …` inherits the lock's file
// descriptor, and without this the Cassandra or memcached that scripts/regions restarts would
// inherit it too and hold the lock for as long as it runs (seen: every other locked command of the
// machine waiting on a memcached).
var keepLockFromDaemons sync.Once

// closeInheritedFDs marks every descriptor above stderr close-on-exec (Go's own already are).
func closeInheritedFDs() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// regions runs scripts/regions ACTION ARGS...; a fault (kill, restart …) goes on the timeline.
func (d *run) regions(action string, args ...string) (string, error) {
	keepLockFromDaemons.Do(closeInheritedFDs)
	out, err := exec.Command(d.w.Regions, append([]string{action}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("scripts/regions %s %v: %v: %s", action, args, err, out)
	}
	if len(args) == 1 {
		d.rec.action(action, args[0])
	}
	return string(out), nil
}

// isolate cuts region off from every other (scripts/regions partition REGION), on the timeline as
// a partition of that region.
func (d *run) isolate(ctx context.Context, region world.Region) error {
	if err := d.w.WAN().Isolate(ctx, region); err != nil {
		return err
	}
	d.rec.action("partition", string(region))
	return nil
}

// heal restores every path of the WAN, ending the partition of region on the timeline.
func (d *run) heal(ctx context.Context, region world.Region) error {
	if err := d.w.WAN().Heal(ctx); err != nil {
		return err
	}
	d.rec.action("heal", string(region))
	return nil
}
