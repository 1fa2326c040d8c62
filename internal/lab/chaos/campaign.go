package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/health"
	"github.com/globalcloud/islands/internal/lab/world"
	"github.com/globalcloud/islands/internal/private"
	"github.com/globalcloud/islands/internal/recordlog"
	"github.com/globalcloud/islands/migration"
)

// Options configure one campaign run (one seed).
type Options struct {
	Seed     uint64
	Duration time.Duration // of the workload and the faults [60s]
	Rate     int           // operations per second per writer [80]
	Keys     int           // rows (and cache-only keys) the workload touches [40]
	MaxFault time.Duration // longest pause or outage [8s]
	// Kinds restricts the fault kinds (pause, kill, skew, phase, forklift, partition, latency);
	// empty = every kind the world offers.
	Kinds []string
	// Targets restricts the targets (cassandra-eu, writer-us, writers, us-east-1 …); empty = all.
	Targets []string
	// KillCassandra lets the nemesis kill -9 and restart a Cassandra node (a restart takes tens of
	// seconds, so short runs leave it out).
	KillCassandra bool
	Env           Env
	Dir           string // history, logs, replay logs and the report of this run
	// IslandsBin runs the writers (`islands-lab chaos-writer`) and the cachesync agents
	// (`islands-lab chaos-agent`: the library's agent on the region's skewed clock), ForkliftBin
	// the forklift runs and the final verify ("" = no forklift). CachesyncBin is not used any more
	// (cmd/cachesync takes no clock the campaign could skew).
	IslandsBin, CachesyncBin, ForkliftBin string
	// Partitioner is the world's WAN, when it has one (nil today: no partition or latency faults).
	Partitioner  Partitioner
	TombstoneTTL time.Duration // cachesync tombstones, client and agents [10s]
	DrainTimeout time.Duration // how long a writer waits for its replay log at the end [30s]
	CallerWait   time.Duration // see CheckOptions [2s]
	Keyspace     string        // in both clusters, dropped and recreated [chaos]
	Progress     io.Writer     // [discard]
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 80
	}
	if o.Keys <= 1 {
		o.Keys = 40
	}
	if o.MaxFault <= 0 {
		o.MaxFault = 8 * time.Second
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Keyspace == "" {
		o.Keyspace = "chaos"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Report is the outcome of one seed.
type Report struct {
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"duration"`
	Schedule Schedule      `json:"schedule"`
	Skipped  []string      `json:"skipped,omitempty"` // fault kinds the world does not offer
	Result   Result        `json:"result"`
	Replay   string        `json:"replay"` // the command that replays this seed
	Dir      string        `json:"dir"`
}

// OK reports whether the run found no violation.
func (r *Report) OK() bool { return len(r.Result.Violations) == 0 }

// ReplayCommand is the one command that runs o's seed again with the same schedule and workload.
func ReplayCommand(o Options) string {
	cmd := fmt.Sprintf("make chaos SEED=%d DURATION=%s", o.Seed, o.Duration)
	if o.KillCassandra {
		cmd += " KILL_CASSANDRA=1"
	}
	var args []string
	if len(o.Kinds) > 0 {
		args = append(args, "--kinds "+strings.Join(o.Kinds, ","))
	}
	if len(o.Targets) > 0 {
		args = append(args, "--targets "+strings.Join(o.Targets, ","))
	}
	if o.MaxFault != 8*time.Second {
		args = append(args, "--max-fault "+o.MaxFault.String())
	}
	if o.Rate != 80 {
		args = append(args, fmt.Sprintf("--rate %d", o.Rate))
	}
	if o.Keys != 40 {
		args = append(args, fmt.Sprintf("--keys %d", o.Keys))
	}
	if o.TombstoneTTL != 10*time.Second {
		args = append(args, "--tombstone-ttl "+o.TombstoneTTL.String())
	}
	if len(args) > 0 {
		cmd += fmt.Sprintf(" CHAOS_ARGS=%q", strings.Join(args, " "))
	}
	return cmd
}

// Run runs one seed: schedule, workload and nemesis, heal, quiesce, check. Every service is left
// running and resumed when it returns, also on error.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o.defaults()
	keepLockToSelf()
	// A run of the same seed before left its histories here: they would be appended to and read
	// with this run's (operation ids invoked twice). Kept aside, not deleted.
	if ents, err := os.ReadDir(o.Dir); err == nil && len(ents) > 0 {
		old := fmt.Sprintf("%s.old-%d", o.Dir, time.Now().Unix())
		if err := os.Rename(o.Dir, old); err != nil {
			return nil, fmt.Errorf("chaos: %s holds an earlier run: %w", o.Dir, err)
		}
		fmt.Fprintf(o.Progress, "chaos: the earlier run in %s moved to %s\n", o.Dir, old)
	}
	if err := private.MkdirAll(o.Dir, nil); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "chaos %s seed %d: %s\n", time.Now().Format("15:04:05"), o.Seed, fmt.Sprintf(format, args...))
	}
	rec, err := NewRecorder(filepath.Join(o.Dir, "history-campaign.jsonl"))
	if err != nil {
		return nil, err
	}
	defer rec.Close()

	// A fault of an earlier seed or test can leave a node's schema apart, and every DDL below would
	// then wait out gocql's schema agreement (scripts/regions settle: restarts such a node).
	say("settling the clusters (scripts/regions settle)")
	if err := settle(ctx, o); err != nil {
		return nil, err
	}
	say("setting up keyspace %s (global, every datacenter; the EU island), the migration, queues, caches", o.Keyspace)
	dcs, err := setupSchema(ctx, o)
	if err != nil {
		return nil, err
	}
	suffix := fmt.Sprintf("-%d-%d", o.Seed, time.Now().Unix())
	// The migration the EU writers are instances of, at dual before they start (Open reads it).
	ctlSession, err := adminSession(ctx, o.Env.GlobalCQL[Regions[0]], "")
	if err != nil {
		return nil, err
	}
	defer ctlSession.Close()
	store := migration.NewStore(ctlSession, controlKS)
	migName := "chaos" + suffix
	for _, ph := range []string{"primary-only", "dual"} {
		if _, err := migration.Change(ctx, store, migName, ph, "chaos-campaign", false); err != nil {
			return nil, fmt.Errorf("chaos: migration %s to %s: %w", migName, ph, err)
		}
	}
	// A writer paused up to MaxFault must not drop out of the fleet (its heartbeat outlives it).
	migTTL := max(dualwrite.DefaultMigrationTTL, o.MaxFault+10*time.Second)

	// Each region's queue lives on that region's SQS server (sqsc[r], reached from the region).
	sqsc := map[string]*sqs.Client{}
	for _, r := range Regions {
		if sqsc[r], err = world.SQSClient(ctx, r, o.Env.SQS(r, r)); err != nil {
			return nil, err
		}
	}
	queues := map[string]*queuePair{}
	for _, r := range Regions {
		queues[r] = &queuePair{name: "chaos-" + r + suffix}
		if err := queues[r].create(ctx, sqsc[r]); err != nil {
			return nil, err
		}
	}
	defer func() {
		for r, q := range queues {
			q.delete(context.WithoutCancel(ctx), sqsc[r])
		}
	}()
	mcs := map[string]*memcache.Client{}
	for _, r := range Regions {
		mcs[r] = memcache.New(o.Env.Memcached[r])
		for k := 0; k < o.Keys; k++ {
			mcs[r].Delete(RowKey(k))
			mcs[r].Delete(CacheOnlyKey(k))
		}
	}

	// The children: an agent per region, the writers (one per region, two in eu-west-1).
	control := filepath.Join(o.Dir, "control.json")
	var agents, writers []*Child
	var instances []string
	disks := map[string]string{}            // a migrating writer -> its replay directory (kill-disk)
	writerCfgs := map[string]WriterConfig{} // config path -> config; written once the schedule is known
	for i, r := range Regions {
		listen := fmt.Sprintf("127.0.0.1:%d", 19560+i)
		cfgPath := filepath.Join(o.Dir, "agent-"+short(r)+".json")
		b, _ := json.MarshalIndent(AgentConfig{Region: r, Memcached: o.Env.Memcached[r], SQSEndpoint: o.Env.SQS(r, r), Queue: queues[r].URL(),
			Listen: listen, ControlPath: control, TombstoneTTL: o.TombstoneTTL}, "", "  ")
		if err := private.WriteFile(cfgPath, b); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		agents = append(agents, &Child{Name: "agent-" + short(r), Log: filepath.Join(o.Dir, "agent-"+short(r)+".log"),
			Args: func(int) []string {
				return []string{o.IslandsBin, "chaos-agent", "--config", cfgPath}
			},
			Ready: func(ctx context.Context) error { return waitHealthy(ctx, listen) }})
	}
	for _, ws := range writerSpecs() {
		r := ws.region
		wc := WriterConfig{Name: ws.name, Region: r, Seed: o.Seed, GlobalCQL: o.Env.GlobalCQL[r], Keyspace: o.Keyspace,
			Memcached: o.Env.Memcached[r], Own: QueueRoute{Region: r, Endpoint: o.Env.SQS(r, r), URL: queues[r].URL()},
			ReplayDir: filepath.Join(o.Dir, "replay-"+ws.name), History: filepath.Join(o.Dir, "history-writer-"+ws.name+".jsonl"),
			ControlPath: control, Rate: o.Rate, Keys: o.Keys, TombstoneTTL: o.TombstoneTTL, DrainTimeout: o.DrainTimeout}
		// Events to another region go to its SQS server through the WAN.
		for _, other := range Regions {
			if other != r {
				wc.Destinations = append(wc.Destinations, QueueRoute{Region: other, Endpoint: o.Env.SQS(r, other), URL: queues[other].URL()})
			}
		}
		if ws.migrating {
			wc.IslandCQL, wc.Migration, wc.ControlKeyspace, wc.MigrationTTL = o.Env.IslandCQL, migName, controlKS, migTTL
			instances = append(instances, "writer-"+ws.name)
			disks["writer-"+ws.name] = wc.ReplayDir
		}
		cfgPath := filepath.Join(o.Dir, "writer-"+ws.name+".json")
		writerCfgs[cfgPath] = wc
		writers = append(writers, &Child{Name: "writer-" + ws.name, Log: filepath.Join(o.Dir, "writer-"+ws.name+".log"),
			Args: func(inc int) []string {
				return []string{o.IslandsBin, "chaos-writer", "--config", cfgPath, "--incarnation", strconv.Itoa(inc)}
			}})
	}
	children := append(append([]*Child{}, agents...), writers...)

	skews, err := NewControlFault(control, Regions)
	if err != nil {
		return nil, err
	}
	var services []string
	for _, r := range Regions {
		services = append(services, globalService(r))
	}
	services = append(services, islandService)
	for _, r := range Regions {
		services = append(services, "memcached-"+short(r))
	}
	for _, r := range Regions {
		services = append(services, "elasticmq-"+short(r))
	}
	faults := []Fault{
		ServiceFault{Script: o.Env.Regions, Services: services,
			KillCassandra: o.KillCassandra, AfterRestart: func(ctx context.Context, svc string) error {
				var errs []error
				for r, q := range queues { // ElasticMQ keeps its queues in memory
					if svc == "elasticmq-"+short(r) {
						errs = append(errs, q.create(ctx, sqsc[r]))
					}
				}
				return errors.Join(errs...)
			}},
		ChildFault{Children: children, Instances: instances, Disks: disks, Rec: rec},
		skews,
		&MigrationFault{Store: store, Name: migName, WaitFor: migTTL + 15*time.Second, Rec: rec},
	}
	var skipped []string
	fkCfg := filepath.Join(o.Dir, "forklift.yaml")
	if o.ForkliftBin != "" {
		if err := writeForkliftConfig(fkCfg, o, suffix, dcs); err != nil {
			return nil, err
		}
		faults = append(faults, &ForkliftFault{Bin: o.ForkliftBin, Config: fkCfg, Log: filepath.Join(o.Dir, "forklift.log"), Rec: rec})
	} else {
		skipped = append(skipped, KindForklift+" (no forklift binary)")
	}
	if o.Partitioner != nil {
		faults = append(faults, PartitionFault{P: o.Partitioner, Regions: Regions})
	} else {
		skipped = append(skipped, KindPartition+", "+KindLatency+", "+KindSQSCut+" (this world has no WAN proxy)")
	}
	nem := NewNemesis(rec, faults...)
	offered := filterKinds(nem.Offered(), o.Kinds, o.Targets)
	// The schedule depends on what this world offers (a forklift binary, a WAN): the replay
	// command names the kinds offered, and a run asked for a kind its world cannot offer stops
	// instead of drawing another schedule.
	if missing := missingKinds(o.Kinds, offered); len(missing) > 0 {
		return nil, fmt.Errorf("chaos: %w: %s (%s)", ErrKindNotOffered, strings.Join(missing, ","), strings.Join(skipped, "; "))
	}
	replay := o
	if len(replay.Kinds) == 0 {
		replay.Kinds = kindsOf(offered)
	}
	sched := Generate(o.Seed, o.Duration, offered, o.MaxFault)
	// The publishers' SecondInvalidation within cachesync's contract for this schedule's skews.
	secondInv := SecondInvalidationFor(o.TombstoneTTL, MaxSkew(sched))
	for path, wc := range writerCfgs {
		wc.SecondInvalidation = secondInv
		writerCfgs[path] = wc // as the writer runs it: the spill drain opens the same publisher
		b, _ := json.MarshalIndent(wc, "", "  ")
		if err := private.WriteFile(path, b); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
	}
	rep = &Report{Seed: o.Seed, Duration: o.Duration, Schedule: sched, Skipped: skipped, Dir: o.Dir,
		Replay: ReplayCommand(replay)}
	writeJSON(filepath.Join(o.Dir, "schedule.json"), sched)
	say("schedule (%d faults):\n%s", len(sched.Steps), sched)

	// Whatever happens from here, every service and child ends up healed, then the children stop.
	defer func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		if herr := nem.HealAll(hctx); herr != nil && err == nil {
			err = herr
		}
		for _, c := range children {
			c.Kill()
		}
	}()
	for _, c := range children {
		if err := c.Start(ctx); err != nil {
			return rep, err
		}
	}
	say("workload and nemesis running for %s", o.Duration)
	nemErr := make(chan error, 1)
	go func() { nemErr <- nem.Run(ctx, sched) }()
	hctx, stopHints := context.WithCancel(ctx)
	hintsDone := make(chan struct{})
	go func() { sampleHints(hctx, o, rec); close(hintsDone) }()
	sleepUntil(ctx, time.Now().Add(o.Duration))
	stopHints()
	<-hintsDone
	if err := <-nemErr; err != nil {
		say("nemesis: %v", err) // recorded in the history too; the checker judges the outcome
	}
	say("healing")
	if err := nem.HealAll(ctx); err != nil {
		return rep, err
	}
	say("quiescing: writers stop and drain their replay logs (at most %s)", o.DrainTimeout)
	time.Sleep(2 * time.Second)
	if err := skews.StopWriters(); err != nil {
		return rep, err
	}
	for _, c := range children { // what exits from now on stays stopped
		c.Retire()
	}
	for _, w := range writers {
		if !w.Wait(o.DrainTimeout + publisherCloseTimeout + 30*time.Second) {
			say("%s did not exit: killed", w.Name)
			w.Kill()
		}
	}
	// What the writers' publishers spilled is sent by the next publisher opened on their spills,
	// as a restarted writer would (spilldrain.go); the agents are still running to apply it.
	say("draining the writers' cachesync spills (at most %s each)", SpillDrainTimeout)
	var f Final
	f.SpillDrained = drainWriterSpills(ctx, sortedWriterConfigs(writerCfgs), SpillDrainTimeout)
	for _, dir := range sortedKeys(f.SpillDrained) {
		d := f.SpillDrained[dir]
		say("spill %s: %d events pending, %d drained, %d left %s", dir, d.Before, d.Drained, d.Left, d.Err)
	}
	say("waiting for the cachesync queues to drain")
	for r, q := range queues {
		q.waitEmpty(ctx, sqsc[r], 60*time.Second)
	}
	for _, a := range agents {
		a.Terminate(10 * time.Second)
	}

	say("waiting for hints, then nodetool repair of %s", o.Keyspace)
	f.Repair = hintsAndRepair(ctx, o, rec)
	// This seed's faults may have left a node's schema apart (a DDL's push lost while a forklift was
	// killed mid-run): the next seed or test must not inherit it.
	if err := settle(ctx, o); err != nil {
		say("%v", err)
	}
	say("reading the final state of every side")
	if f.Rows, err = readRows(ctx, o); err != nil {
		return rep, err
	}
	f.Holds = SideHolds()
	f.Cache = map[string]map[string]CacheEntry{}
	for r, mc := range mcs {
		f.Cache[r] = readCache(mc, o.Keys)
	}
	if o.ForkliftBin != "" {
		vctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		out, verr := exec.CommandContext(vctx, o.ForkliftBin, "verify", "--config", fkCfg, "--log-level", "warn").CombinedOutput()
		cancel()
		f.ForkliftClean = verr == nil
		f.ForkliftVerify = lastLines(string(out), 1)
		if verr != nil {
			f.ForkliftVerify = fmt.Sprintf("%v: %s", verr, lastLines(string(out), 4))
		}
	}
	for _, c := range children {
		f.Logs = append(f.Logs, c.Log)
	}
	f.Logs = append(f.Logs, filepath.Join(o.Dir, "forklift.log"))
	f.DeadLetters, f.Pending = replayLeftovers(o.Dir)
	f.Spill = spillLeftovers(o.Dir)
	for _, r := range Regions {
		f.DLQMessages = append(f.DLQMessages, queues[r].deadLettered(ctx, sqsc[r])...)
	}
	writeJSON(filepath.Join(o.Dir, "final.json"), f)

	paths, _ := filepath.Glob(filepath.Join(o.Dir, "history-*.jsonl"))
	h, err := ReadHistory(paths...)
	if err != nil {
		return rep, err
	}
	rep.Result = Check(h, f, CheckOptions{CallerWait: o.CallerWait, TombstoneTTL: o.TombstoneTTL, SecondInvalidation: secondInv})
	writeJSON(filepath.Join(o.Dir, "report.json"), rep)
	return rep, nil
}

// ErrKindNotOffered: a run asked for a fault kind its world cannot inject.
var ErrKindNotOffered = errors.New("fault kind not offered by this world")

// missingKinds returns the kinds asked for that no offered target has.
func missingKinds(asked []string, offered []Target) []string {
	have := map[string]bool{}
	for _, t := range offered {
		have[t.Kind] = true
	}
	var out []string
	for _, k := range asked {
		if !have[k] {
			out = append(out, k)
		}
	}
	return out
}

// kindsOf returns the kinds of ts, sorted.
func kindsOf(ts []Target) []string {
	have := map[string]bool{}
	for _, t := range ts {
		have[t.Kind] = true
	}
	return sortedKeys(have)
}

func filterKinds(ts []Target, kinds, targets []string) []Target {
	var out []Target
	for _, t := range ts {
		if (len(kinds) == 0 || contains(kinds, t.Kind)) && (len(targets) == 0 || contains(targets, t.Name)) {
			out = append(out, t)
		}
	}
	return out
}

// adminSession is the campaign's own session on addr's node, as the administrator: schema,
// grants, the final reads. It retries for a minute while a node comes back, not on an access
// failure that waiting does not cure.
func adminSession(ctx context.Context, addr, ks string) (*gocql.Session, error) {
	var last error
	for i := 0; i < 60 && ctx.Err() == nil; i++ {
		c := gocql.NewCluster(addr)
		c.Keyspace = ks
		c.Timeout = 20 * time.Second
		c.ConnectTimeout = 10 * time.Second
		c.DisableInitialHostLookup = true
		c.HostFilter = gocql.WhiteListHostFilter(addr) // its node only, also after topology events
		c.Consistency = gocql.One
		c.Logger = log.New(io.Discard, "", 0)
		a, err := cqlconn.RoleAdmin.Apply(c)
		if err != nil {
			return nil, fmt.Errorf("chaos: connect to %s: %w", addr, err)
		}
		s, err := c.CreateSession()
		if err == nil {
			return s, nil
		}
		last = cqlconn.Explain(err, a, addr)
		if permanent(last) {
			break
		}
		time.Sleep(time.Second)
	}
	return nil, fmt.Errorf("chaos: connect to %s as the administrator: %w", addr, last)
}

// setupSchema creates the campaign's keyspace in the global cluster, replicated in every
// datacenter (NetworkTopologyStrategy, one replica each: LOCAL_QUORUM is then one local replica),
// and in the EU island; the control keyspace of the migration in every datacenter of the global
// cluster; and forklift's checkpoint keyspace in its destination (the global cluster, eu-west-1).
// It returns the datacenter of each address (the global nodes' and the island's).
func setupSchema(ctx context.Context, o Options) (map[string]string, error) {
	dcs := map[string]string{}
	var globalDCs []string
	for _, r := range Regions {
		globalDCs = append(globalDCs, fmt.Sprintf("'%s': 1", r))
	}
	for _, c := range []struct {
		addr, cluster string
	}{{o.Env.GlobalCQL[Regions[0]], "global"}, {o.Env.IslandCQL, "island"}} {
		s, err := adminSession(ctx, c.addr, "")
		if err != nil {
			return nil, err
		}
		var dc string
		if err := s.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&dc); err != nil {
			s.Close()
			return nil, fmt.Errorf("chaos: the datacenter of %s: %w", c.addr, err)
		}
		dcs[c.addr] = dc
		repl := "'" + dc + "': 1"
		if c.cluster == "global" {
			repl = strings.Join(globalDCs, ", ")
			for _, r := range Regions {
				dcs[o.Env.GlobalCQL[r]] = r // each region's node is in the datacenter named after it
			}
		}
		stmts := []string{
			"DROP KEYSPACE IF EXISTS " + o.Keyspace,
			"CREATE KEYSPACE " + o.Keyspace + " WITH replication = {'class': 'NetworkTopologyStrategy', " + repl + "}",
			"CREATE TABLE " + o.Keyspace + ".kv (k int PRIMARY KEY, v text, tags set<text>)",
		}
		if c.cluster == "global" {
			stmts = append(stmts, "CREATE KEYSPACE IF NOT EXISTS "+controlKS+" WITH replication = {'class': 'NetworkTopologyStrategy', "+repl+"}")
			if o.ForkliftBin != "" {
				// Forklift's checkpoints, created by the administrator: the forklift role may not
				// create keyspaces. Kept from run to run (each run has its own run id).
				stmts = append(stmts, "CREATE KEYSPACE IF NOT EXISTS "+forkliftKS+" WITH replication = {'class': 'NetworkTopologyStrategy', '"+EURegion+"': 1}")
			}
		}
		for _, stmt := range stmts {
			if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
				s.Close()
				return nil, fmt.Errorf("chaos: %s at %s: %w", stmt, c.addr, err)
			}
		}
		if c.cluster == "global" {
			if err := migration.NewStore(s, controlKS).EnsureSchema(ctx, nil); err != nil {
				s.Close()
				return nil, fmt.Errorf("chaos: the control keyspace: %w", err)
			}
		}
		// Cassandra forgets a keyspace's permissions when it is dropped: grant them again.
		err = grantRoles(ctx, s, o, c.cluster)
		s.Close()
		if err != nil {
			return nil, err
		}
	}
	return dcs, nil
}

// controlKS is the campaign's control keyspace (its migrations are named chaos-<seed>-<time>).
const controlKS = "chaos_control"

// readRows reads kv from every side: each datacenter of the global keyspace through its own node
// at LOCAL_ONE (that datacenter's replica alone), and the island; it retries while a node comes
// back.
func readRows(ctx context.Context, o Options) (map[string]map[int]RowState, error) {
	out := map[string]map[int]RowState{}
	addr := map[string]string{IslandSide: o.Env.IslandCQL}
	for _, r := range Regions {
		addr[globalSide(r)] = o.Env.GlobalCQL[r]
	}
	for _, side := range Sides() {
		s, err := adminSession(ctx, addr[side], o.Keyspace)
		if err != nil {
			return out, err
		}
		var last error
		for attempt := 0; attempt < 20; attempt++ {
			rows := map[int]RowState{}
			it := s.Query("SELECT k, v, writetime(v), tags FROM kv").WithContext(ctx).Consistency(gocql.LocalOne).PageSize(1000).Iter()
			var k int
			var v *string
			var wt *int64
			var tags []string
			for it.Scan(&k, &v, &wt, &tags) {
				rs := RowState{V: v}
				if wt != nil {
					rs.VWT = *wt
				}
				sort.Strings(tags)
				rs.Tags = tags
				if rs.V != nil || len(rs.Tags) > 0 {
					rows[k] = rs
				}
				v, wt, tags = nil, nil, nil
			}
			if last = it.Close(); last == nil {
				out[side] = rows
				break
			}
			time.Sleep(time.Second)
		}
		s.Close()
		if last != nil {
			return out, fmt.Errorf("chaos: read kv of %s at %s: %w", side, addr[side], last)
		}
	}
	return out, nil
}

// pendingHints returns the hint files the global node at addr holds for other nodes.
func pendingHints(ctx context.Context, s *gocql.Session) (int, error) {
	it := s.Query("SELECT files FROM system_views.pending_hints").WithContext(ctx).Iter()
	var files, n int
	for it.Scan(&files) {
		n += files
	}
	return n, it.Close()
}

// sampleHints records every 2 s, per global node, the hint files it holds for other nodes
// (Stats "hints", Target the node's service): hints piling up are traffic a partition affected.
func sampleHints(ctx context.Context, o Options, rec *Recorder) {
	sessions := map[string]*gocql.Session{}
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, r := range Regions {
			s := sessions[r]
			if s == nil {
				c := gocql.NewCluster(o.Env.GlobalCQL[r])
				c.Timeout, c.ConnectTimeout = 2*time.Second, 2*time.Second
				c.DisableInitialHostLookup = true
				c.HostFilter = gocql.WhiteListHostFilter(o.Env.GlobalCQL[r])
				c.Logger = log.New(io.Discard, "", 0)
				if _, err := cqlconn.RoleAdmin.Apply(c); err != nil {
					return
				}
				var err error
				if s, err = c.CreateSession(); err != nil {
					continue // paused or restarting: the next tick
				}
				sessions[r] = s
			}
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			n, err := pendingHints(qctx, s)
			cancel()
			if err == nil {
				rec.Record(Op{Type: Stats, Process: "campaign", F: "hints", Target: globalService(r), Backlog: int64(n)})
			}
		}
	}
}

// settle runs `scripts/regions settle`: every Cassandra node lets the admin in and the global nodes
// agree on the schema (a node still apart after 30 s is restarted); at most 4 minutes.
func settle(ctx context.Context, o Options) error {
	sctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(sctx, o.Env.Regions, "settle").CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: scripts/regions settle: %w\n%s", err, out)
	}
	return nil
}

// hintsAndRepair brings the global keyspace's datacenters together after healing, as an operator
// does after an outage: it waits (at most a minute) until no node holds hints, then runs
// `nodetool repair -full` of the keyspace on us-east-1's node (every node replicates every
// range, so one repair covers them all). It returns what went wrong ("" when nothing did): the
// checker reports it beside any write a datacenter then lacks.
func hintsAndRepair(ctx context.Context, o Options, rec *Recorder) string {
	var problems []string
	deadline := time.Now().Add(time.Minute)
	for _, r := range Regions {
		s, err := adminSession(ctx, o.Env.GlobalCQL[r], "")
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for {
			n, err := pendingHints(ctx, s)
			if err == nil && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				problems = append(problems, fmt.Sprintf("%s still holds %d hint files (%v) after a minute", globalService(r), n, err))
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		s.Close()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(rctx, o.Env.Regions, "nodetool", globalService(Regions[0]), "repair", "-full", o.Keyspace).CombinedOutput()
	op := Op{Type: NemesisEvent, Process: "campaign", F: "repair", Value: fmt.Sprintf("nodetool repair -full %s: %.1fs", o.Keyspace, time.Since(start).Seconds())}
	if err != nil {
		op.Err = fmt.Sprintf("%v: %s", err, lastLines(string(out), 3))
		problems = append(problems, "nodetool repair: "+op.Err)
	}
	rec.Record(op)
	return strings.Join(problems, "; ")
}

func readCache(mc *memcache.Client, keys int) map[string]CacheEntry {
	out := map[string]CacheEntry{}
	for k := 0; k < keys; k++ {
		for _, key := range []string{RowKey(k), CacheOnlyKey(k)} {
			it, err := mc.Get(key)
			if err != nil {
				continue
			}
			s, err := cachesync.DecodeItem(it)
			if err != nil {
				out[key] = CacheEntry{Value: "undecodable: " + err.Error()}
				continue
			}
			if !s.Tombstone() {
				out[key] = CacheEntry{Value: string(s.Value), Version: s.Version}
			}
		}
	}
	return out
}

// replayLeftovers counts, per writer replay directory, what the run left in it: entries still
// pending (a write one side has and the other may not: the last writer's drain should have
// emptied it), and the entries dualwrite set aside: dead letters (entries that can never land as
// they are) and uncertain entries (never replayed).
func replayLeftovers(dir string) (aside, pending map[string]int64) {
	out := map[string]int64{}
	pending = map[string]int64{}
	dirs, _ := filepath.Glob(filepath.Join(dir, "replay-*"))
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() || strings.HasSuffix(d, "-spill") {
			continue
		}
		l, err := dualwrite.OpenFileLog(d, 0)
		if err != nil {
			out[d+" (unreadable: "+err.Error()+")"] = 1
			continue
		}
		if dl, err := l.DeadLetters(); err == nil && len(dl) > 0 {
			out[filepath.Join(d, "deadletter")] = int64(len(dl))
		}
		if un, err := l.UncertainEntries(); err == nil && len(un) > 0 {
			out[filepath.Join(d, "uncertain")] = int64(len(un))
		}
		n, _ := l.Backlog() // (count, oldest): no error to lose
		pending[d] = n
		l.Close()
	}
	return out, pending
}

// spillLeftovers counts, per cachesync publisher spill (a writer's replay-*-spill, and in it one
// log per destination queue, q-*), the events still in it once every writer exited: events its
// destination's agent never got.
func spillLeftovers(dir string) map[string]int64 {
	out := map[string]int64{}
	tops, _ := filepath.Glob(filepath.Join(dir, "replay-*-spill"))
	var dirs []string
	for _, d := range tops {
		dirs = append(dirs, d)
		subs, _ := filepath.Glob(filepath.Join(d, "q-*"))
		dirs = append(dirs, subs...)
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		l, err := recordlog.Open(d, recordlog.Options{})
		if err != nil {
			out[d+" (unreadable: "+err.Error()+")"] = 1
			continue
		}
		out[d] = l.Stats().Records
		l.Close()
	}
	return out
}

// writeForkliftConfig writes the config of the campaign's forklift runs, the migration's copy of
// the EU island into the global keyspace (lww, through eu-west-1's node), which connect as the
// forklift role: the file names where its password is, never the password.
func writeForkliftConfig(path string, o Options, suffix string, dcs map[string]string) error {
	a, err := cqlconn.FromEnv(cqlconn.RoleForklift)
	if err != nil {
		return fmt.Errorf("chaos: the forklift role: %w", err)
	}
	side := map[string]string{}
	for _, addr := range []string{o.Env.IslandCQL, o.Env.GlobalCQL[EURegion]} {
		c := forklift.ClusterConfig{Hosts: []string{addr}, LocalDC: dcs[addr], DisableHostLookup: true, Access: a}
		if side[addr], err = c.YAML(); err != nil {
			return fmt.Errorf("chaos: forklift's config: %w", err)
		}
	}
	y := fmt.Sprintf(`# forklift during the chaos campaign: the EU island copied into the global keyspace (lww)
source: %s
destination: %s
tables:
  - {keyspace: %s, table: kv, destination_keyspace: %s, resolver: lww}
checkpoint_keyspace: %s
run_id: chaos%s
workers: 2
ranges: 32
page_size: 50
`, side[o.Env.IslandCQL], side[o.Env.GlobalCQL[EURegion]], o.Keyspace, o.Keyspace, forkliftKS, suffix)
	return private.WriteFile(path, []byte(y))
}

// waitHealthy waits up to 30 s for the agent listening on listen to serve /healthz.
func waitHealthy(ctx context.Context, listen string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := health.Wait(ctx, "http://"+listen+"/healthz"); err != nil {
		return fmt.Errorf("chaos: agent at %s: %w", listen, err)
	}
	return nil
}

func writeJSON(path string, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	private.WriteFile(path, b)
}

// queuePair is one region's cachesync queue and its dead-letter queue. ElasticMQ forgets its
// queues when it is killed, so create runs again after a restart while agents and writers are
// being started with the URLs: they are read and written under mu.
type queuePair struct {
	name string

	mu       sync.Mutex
	url, dlq string
}

// URL is the queue's URL.
func (q *queuePair) URL() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.url
}

// DLQ is the dead-letter queue's URL.
func (q *queuePair) DLQ() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dlq
}

func (q *queuePair) create(ctx context.Context, c *sqs.Client) error {
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.name + "-dlq")})
	if err != nil {
		return fmt.Errorf("chaos: create queue %s-dlq: %w", q.name, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("chaos: queue arn: %w", err)
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.name), Attributes: map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"10"}`, attrs.Attributes["QueueArn"])}})
	if err != nil {
		return fmt.Errorf("chaos: create queue %s: %w", q.name, err)
	}
	q.mu.Lock()
	q.url, q.dlq = *out.QueueUrl, *dlq.QueueUrl
	q.mu.Unlock()
	return nil
}

func (q *queuePair) delete(ctx context.Context, c *sqs.Client) {
	c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL())})
	c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q.DLQ())})
}

func (q *queuePair) empty(ctx context.Context, c *sqs.Client) bool {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL()),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return false
	}
	for _, v := range out.Attributes {
		if n, _ := strconv.Atoi(v); n > 0 {
			return false
		}
	}
	return true
}

func (q *queuePair) waitEmpty(ctx context.Context, c *sqs.Client, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for streak := 0; streak < 2 && time.Now().Before(deadline) && ctx.Err() == nil; {
		if q.empty(ctx, c) {
			streak++
		} else {
			streak = 0
		}
		time.Sleep(time.Second)
	}
}

func (q *queuePair) deadLettered(ctx context.Context, c *sqs.Client) []string {
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.DLQ()), MaxNumberOfMessages: 10})
	if err != nil {
		return nil
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	return bodies
}

// Recheck runs the checker again over a finished run's directory (its histories, final.json and
// report.json), without any service: for reading a run again after the checker changed.
func Recheck(dir string, opt CheckOptions) (*Report, error) {
	var rep Report
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, fmt.Errorf("chaos: recheck: %w", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("chaos: recheck %s: %w", dir, err)
	}
	var f Final
	if b, err = os.ReadFile(filepath.Join(dir, "final.json")); err != nil {
		return nil, fmt.Errorf("chaos: recheck: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("chaos: recheck %s: %w", dir, err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "history-*.jsonl"))
	h, err := ReadHistory(paths...)
	if err != nil {
		return nil, err
	}
	if opt.SecondInvalidation == 0 { // the run's cachesync configuration, from a writer's config
		if b, err := os.ReadFile(filepath.Join(dir, "writer-us.json")); err == nil {
			var wc WriterConfig
			if json.Unmarshal(b, &wc) == nil {
				opt.TombstoneTTL, opt.SecondInvalidation = wc.TombstoneTTL, wc.SecondInvalidation
			}
		}
	}
	rep.Result = Check(h, f, opt)
	return &rep, nil
}
