package demo

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/dualwrite"
)

// Options size and place a demo run. Addresses come from the ISLANDS_* variables of
// scripts/regions env when empty.
type Options struct {
	Members  int     // members per region [2000; Short: 300]
	Scale    float64 // multiplies Members [1]
	Short    bool    // the make test version: fewer members, shorter traffic
	Out      string  // directory of report.json, report.html and the replay logs [demo-out]
	Progress io.Writer

	USCQL, EUCQL             string
	USMemcached, EUMemcached string
	SQSEndpoint              string
	USQueue, EUQueue         string
	Regions                  string // scripts/regions, for the evacuation
}

func (o *Options) defaults() error {
	env := func(dst *string, name string) {
		if *dst == "" {
			*dst = os.Getenv(name)
		}
	}
	env(&o.USCQL, "ISLANDS_US_CQL")
	env(&o.EUCQL, "ISLANDS_EU_CQL")
	env(&o.USMemcached, "ISLANDS_US_MEMCACHED")
	env(&o.EUMemcached, "ISLANDS_EU_MEMCACHED")
	env(&o.SQSEndpoint, "ISLANDS_SQS_ENDPOINT")
	env(&o.USQueue, "ISLANDS_US_QUEUE")
	env(&o.EUQueue, "ISLANDS_EU_QUEUE")
	env(&o.Regions, "ISLANDS_REGIONS")
	if o.USCQL == "" || o.EUCQL == "" || o.USMemcached == "" || o.EUMemcached == "" || o.SQSEndpoint == "" || o.Regions == "" {
		return fmt.Errorf("demo: the local regions are not configured: run `make demo`, or eval \"$(scripts/regions up)\" first")
	}
	if o.USQueue == "" || o.EUQueue == "" {
		o.USQueue, o.EUQueue = "islands-us-east-1", "islands-eu-west-1"
	}
	if o.Members == 0 {
		o.Members = 2000
		if o.Short {
			o.Members = 300
		}
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
	return nil
}

func (o *Options) sample() int { return min(500, o.Members/2) }

func (o *Options) trafficTime() time.Duration {
	if o.Short {
		return 4 * time.Second
	}
	return 10 * time.Second
}

// Run runs the demo and returns its report; every check's result is in Report.Checks, and
// Report.OK is true only when all are green.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	d := &run{opts: opts, rep: &Report{Started: time.Now(), MembersPerRegion: opts.Members}, m: newModel(),
		rng: rand.New(rand.NewPCG(42, uint64(opts.Members)))}
	d.start = time.Now()
	logf, err := os.Create(filepath.Join(opts.Out, "demo.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d.logger = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	defer d.close()
	stopRecording := d.record(ctx)
	err = d.all(ctx)
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

type run struct {
	opts         Options
	rep          *Report
	m            *model
	rng          *rand.Rand
	start        time.Time
	sessions     [2]*gocql.Session
	mc           [2]*memcache.Client
	sqs          *sqs.Client
	queues       [2]string
	pubs         [2]*cachesync.Publisher
	caches       [2]*cachesync.Client
	agents       [2]*cachesync.Agent
	stopAg       [2]context.CancelFunc
	agDone       [2]chan struct{}
	dws          []*dualwrite.Session
	lagMu        sync.Mutex
	lags         []float64
	stats        trafficStats
	logger       *slog.Logger
	rec          *recorder // the timeline of report.json
	outage       atomic.Bool
	outageEvents atomic.Int64
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
	for i := range d.stopAg {
		if d.stopAg[i] != nil {
			d.stopAg[i]()
			<-d.agDone[i]
		}
	}
	for _, dw := range d.dws {
		dw.Close()
	}
	for _, p := range d.pubs {
		if p != nil {
			p.Close(context.Background())
		}
	}
	for _, s := range d.sessions {
		if s != nil {
			s.Close()
		}
	}
}

func (d *run) connect(addr string) (*gocql.Session, error) {
	c := gocql.NewCluster(addr)
	c.Consistency = gocql.LocalQuorum
	c.Timeout = 3 * time.Second
	c.WriteTimeout = 3 * time.Second
	c.ConnectTimeout = 5 * time.Second
	c.ReconnectInterval = time.Second
	c.DisableInitialHostLookup = true
	c.Logger = log.New(io.Discard, "", 0) // the evacuation kills a node on purpose
	return c.CreateSession()
}

func (d *run) all(ctx context.Context) error {
	o := d.opts
	var err error
	for r, addr := range [2]string{o.USCQL, o.EUCQL} {
		if d.sessions[r], err = d.connect(addr); err != nil {
			return fmt.Errorf("connect to %s Cassandra at %s: %w", regionNames[r], addr, err)
		}
	}
	d.mc = [2]*memcache.Client{memcache.New(o.USMemcached), memcache.New(o.EUMemcached)}
	d.sqs = sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(o.SQSEndpoint), Credentials: aws.AnonymousCredentials{}})

	done := d.step("1. two islands: schema and seed")
	for r := range d.sessions {
		if err := createSchema(d.sessions[r]); err != nil {
			return fmt.Errorf("%s: %w", regionNames[r], err)
		}
	}
	rows, err := seed(ctx, d.sessions, d.m, o.Members, d.rng)
	if err != nil {
		return err
	}
	d.rep.Seeded = rows
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
	d.say("seeded %d rows in us-east-1's island, %d in eu-west-1's; %d members, %d travellers, %d planted inconsistencies",
		rows[us], rows[eu], len(d.m.members), travellers, planted)
	done()

	done = d.step("2. cache sync between the regions")
	if err := d.startCaches(ctx); err != nil {
		return err
	}
	done()

	done = d.step("3. migration: dual writes island+global, forklift plan, run, second pass, verify")
	mg := &migration{addrs: [2]string{o.USCQL, o.EUCQL}, opts: o, say: d.say, start: d.start}
	d.rec.rate("forklift", "forklift_rows", "forklift", mg.copied)
	end := d.rec.phase("activity", "forklift plan --sample")
	if d.rep.Migration.Plans, err = mg.plan(ctx); err != nil {
		return err
	}
	end()
	apps, err := d.apps(islandKS, [2]int{us, eu}, "migration")
	if err != nil {
		return err
	}
	tctx, stopTraffic := context.WithCancel(ctx)
	trafficStart := time.Now()
	endTraffic := d.rec.phase("traffic", "dual writes: island + global keyspace")
	var wg sync.WaitGroup
	for r, a := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.traffic(tctx, d.home(r), d.rate(), 8, uint64(r+1))
		}()
	}
	end = d.rec.phase("activity", "forklift pass 1")
	pass1, err := mg.pass(ctx, 1)
	end()
	time.Sleep(time.Until(trafficStart.Add(o.trafficTime())))
	stopTraffic()
	wg.Wait()
	endTraffic()
	if err != nil {
		return err
	}
	d.say("migration-phase traffic: %d writes acknowledged through dualwrite, %d failed", d.stats.Acked.Load(), d.stats.Failed.Load())
	end = d.rec.phase("activity", "forklift pass 2")
	pass2, err := mg.pass(ctx, 2)
	end()
	if err != nil {
		return err
	}
	d.rep.Migration.Passes = [][]FlowRun{pass1, pass2}
	var clean bool
	end = d.rec.phase("activity", "forklift verify")
	if d.rep.Migration.Verify, clean, err = mg.verify(ctx, 2); err != nil {
		return err
	}
	end()
	d.rep.check("forklift verify: both global keyspaces agree with both islands under each resolver", clean, "")
	d.rep.Migration.Progress, d.rep.Migration.Rows = mg.points, mg.rows
	quarantined := d.quarantined(pass2)
	d.rep.check("quarantine: exactly the planted members set aside", quarantined == int64(2*planted),
		fmt.Sprintf("%d partitions quarantined per pass over both regions, %d planted members x 2 regions", quarantined, planted))
	for _, a := range apps {
		if err := a.dw.WaitReplayed(ctx); err != nil {
			return err
		}
	}
	done()

	return d.globalAndEvacuate(ctx)
}

// home returns the members whose home is region r.
func (d *run) home(r int) []member {
	var out []member
	for _, m := range d.m.members {
		if m.Home == r {
			out = append(out, m)
		}
	}
	return out
}

func (d *run) rate() float64 {
	if d.opts.Short {
		return 100
	}
	return 300
}

// apps builds each region's application over dualwrite: in the migration phase primary = the
// island keyspace, secondary = the global keyspace of the same region (one cluster); in the global
// phase primary = the local global keyspace, secondary = the other region's (two clusters).
func (d *run) apps(ks string, _ [2]int, phase string) ([2]*app, error) {
	var apps [2]*app
	for r := 0; r < 2; r++ {
		var dw *dualwrite.Session
		var err error
		dir := filepath.Join(d.opts.Out, "replay-"+phase+"-"+regionNames[r])
		os.RemoveAll(dir)
		logger := d.logger.With("phase", phase, "region", regionNames[r])
		if phase == "migration" {
			dw, err = dualwrite.New(d.sessions[r], d.sessions[r], dualwrite.WithKeyspaceMap(map[string]string{islandKS: globalKS}),
				dualwrite.WithReplayDir(dir), dualwrite.WithLogger(logger))
		} else {
			dw, err = dualwrite.New(d.sessions[r], d.sessions[1-r], dualwrite.WithReplayDir(dir), dualwrite.WithLogger(logger))
		}
		if err != nil {
			return apps, err
		}
		d.dws = append(d.dws, dw)
		d.watchReplay(dir, dw)
		apps[r] = &app{region: r, dw: dw, cache: d.caches[r], ks: ks, m: d.m, stats: &d.stats, log: logger}
	}
	return apps, nil
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

// regions runs scripts/regions ACTION SERVICE.
func (d *run) regions(action, service string) error {
	keepLockFromDaemons.Do(closeInheritedFDs)
	out, err := exec.Command(d.opts.Regions, action, service).CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/regions %s %s: %v: %s", action, service, err, out)
	}
	d.rec.action(action, service)
	return nil
}
