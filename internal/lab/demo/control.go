package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/migration"
)

// The EU application runs as several instances, each with its own sessions and replay log, and
// the operator drives the whole migration through the control plane (package migration, what
// `islands migration set NAME PHASE --wait` runs): primary-only when the instances start, dual
// before forklift (whose runs are gated on it), dual-flipped, then secondary-only before the
// island is retired. Each instance applies each epoch through its dualwrite barrier; the report
// shows when (ControlPlane.Flips, and one lane per instance on the timeline).

const (
	controlKS    = "demo_control" // the control keyspace, in every datacenter of the global cluster; kept between runs
	euInstances  = 3
	operatorName = "islands-lab demo (operator)"
)

// ControlPlane is the EU application's migration through the control plane.
type ControlPlane struct {
	Migration string         `json:"migration"`
	Keyspace  string         `json:"keyspace"`
	Instances []string       `json:"instances"`
	Sets      []PhaseSet     `json:"sets"`               // the operator's `set --wait`, in order
	Flips     []InstanceFlip `json:"flips"`              // each instance's epochs, as it applied them
	Forklift  string         `json:"forklift,omitempty"` // forklift's record on the migration's row (state, by whom)
}

// PhaseSet is one `islands migration set NAME PHASE --wait`.
type PhaseSet struct {
	From  string  `json:"from"`
	Phase string  `json:"phase"`
	Epoch int64   `json:"epoch"`
	At    float64 `json:"at_s"` // when the operator began, seconds since the run's start
	// LWTSeconds is the SERIAL read and the epoch's LWT; AckSeconds runs from the start to the
	// last instance's acknowledgement (set --wait returned).
	LWTSeconds float64 `json:"lwt_seconds"`
	AckSeconds float64 `json:"ack_seconds"`
	Instances  int     `json:"instances"` // live instances that acknowledged
}

// InstanceFlip is one instance applying one epoch (at Open, then each change), as its session
// reported it (dualwrite.Session.Migration), seconds since the run's start.
type InstanceFlip struct {
	Instance string  `json:"instance"`
	Epoch    int64   `json:"epoch"`
	Phase    string  `json:"phase"`
	At       float64 `json:"at_s"`
}

// control is the operator's handle on the migration and the EU instances it moves.
type control struct {
	d    *run
	st   *migration.Store
	name string
	inst []*instance

	mu  sync.Mutex
	rep *ControlPlane
}

// instance is one EU instance: its application (dualwrite session) and the watcher that puts its
// flips on the timeline.
type instance struct {
	name string
	a    *app
	dw   *dualwrite.Session
	stop func() // stops the watcher and closes its timeline span
}

// openControl makes the migration's store (the control keyspace exists: createSchema) on the
// administrator's session in eu-west-1, where the operator works. The migration's name is new in
// every run.
func (d *run) openControl(ctx context.Context) (*control, error) {
	s, err := d.admin(eu)
	if err != nil {
		return nil, err
	}
	c := &control{d: d, st: migration.NewStore(s, controlKS), name: fmt.Sprintf("demo-eu-%d", d.start.Unix())}
	c.rep = &d.rep.Control
	c.rep.Migration, c.rep.Keyspace = c.name, controlKS
	return c, nil
}

// apps returns the running instances' applications (none once the island is retired).
func (c *control) apps() []*app {
	if c == nil {
		return nil
	}
	var out []*app
	for _, in := range c.inst {
		out = append(out, in.a)
	}
	return out
}

// phase is the phase every instance stands in (the first's).
func (c *control) phase() string {
	if len(c.inst) == 0 {
		return "-"
	}
	return c.inst[0].dw.Phase().String()
}

// set is `islands migration set NAME PHASE --wait`: one step by LWT on the epoch, then wait until
// every live instance applied it (for dual-flipped, that also means the new authority had no
// replay backlog on any of them). The step goes on the timeline where --wait returned.
func (c *control) set(ctx context.Context, phase string) error {
	d := c.d
	t0 := time.Now()
	st, err := migration.Change(ctx, c.st, c.name, phase, operatorName, false)
	if err != nil {
		return fmt.Errorf("islands migration set %s %s: %w", c.name, phase, err)
	}
	lwt := time.Since(t0)
	ps := PhaseSet{From: st.PreviousPhase, Phase: st.Phase, Epoch: st.Epoch, At: round3(t0.Sub(d.start).Seconds()), LWTSeconds: round3(lwt.Seconds())}
	if len(c.inst) > 0 {
		wctx, cancel := context.WithTimeout(ctx, d.k.setWait)
		f, err := migration.Wait(wctx, c.st, c.name, st.Epoch, 50*time.Millisecond)
		cancel()
		if err != nil {
			return fmt.Errorf("islands migration set %s %s --wait %s: %w", c.name, phase, d.k.setWait, err)
		}
		ps.Instances = len(f.All())
	}
	ps.AckSeconds = round3(time.Since(t0).Seconds())
	c.mu.Lock()
	c.rep.Sets = append(c.rep.Sets, ps)
	c.mu.Unlock()
	if len(c.inst) > 0 {
		d.rec.instant("flip", fmt.Sprintf("set %s --wait: epoch %d applied by %d instances", phase, st.Epoch, ps.Instances))
	}
	d.say("islands migration set %s %s --wait: epoch %d (from %s), LWT %.2fs, applied by %d live instances %.2fs after the set",
		c.name, phase, st.Epoch, orDash(st.PreviousPhase), lwt.Seconds(), ps.Instances, ps.AckSeconds)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// openInstances starts the EU application's instances at the same time, each with its own
// sessions (island, global, control) and replay log, WithMigration: Open returns once the
// instance read and applied the migration's phase (primary-only) and heartbeated it.
func (c *control) openInstances(ctx context.Context) error {
	d := c.d
	inst := make([]*instance, euInstances)
	var g errgroup.Group
	for i := range inst {
		g.Go(func() error {
			in, err := c.openInstance(ctx, fmt.Sprintf("eu-%d", i+1))
			inst[i] = in
			return err
		})
	}
	err := g.Wait()
	for _, in := range inst {
		if in != nil {
			c.inst = append(c.inst, in)
			c.rep.Instances = append(c.rep.Instances, in.name)
			d.dws = append(d.dws, in.dw)
		}
	}
	return err
}

func (c *control) openInstance(ctx context.Context, name string) (*instance, error) {
	d := c.d
	dir := filepath.Join(d.opts.Out, "replay-eu-west-1-"+name)
	os.RemoveAll(dir)
	logger := d.logger.With("region", regionNames[eu], "instance", name)
	island, global, ctl := d.islandCluster(), d.globalCluster(eu), d.globalCluster(eu)
	island.Keyspace, global.Keyspace = islandKS, globalKS
	for _, cc := range []*gocql.ClusterConfig{island, global, ctl} {
		if err := d.as(cqlconn.RoleApp, "EU instance "+name, cc); err != nil {
			return nil, err
		}
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	dw, err := dualwrite.Open(octx, island, global, dualwrite.WithKeyspaceMap(map[string]string{islandKS: globalKS}),
		dualwrite.WithReplayDir(dir), dualwrite.WithLogger(logger), dualwrite.WithName("demo-"+name),
		dualwrite.WithMigration(ctl, c.name, name, dualwrite.MigrationKeyspace(controlKS),
			dualwrite.MigrationRegion(regionNames[eu]), dualwrite.MigrationPoll(d.k.controlP)))
	if err != nil {
		return nil, fmt.Errorf("EU instance %s: dualwrite.Open (EU island, global cluster in eu-west-1, migration %s): %w", name, c.name, err)
	}
	d.watchReplay(dir, dw)
	a := &app{region: eu, w: dwWriter{dw}, dw: dw, cache: d.region[eu].Cache(), ks: islandKS, m: d.m, stats: &d.stats, log: logger,
		latency: func(t time.Duration) {
			if l := d.dwLabel.Load(); l != nil {
				d.dwLat.add(*l, float64(t.Microseconds())/1000)
			}
		}}
	in := &instance{name: name, a: a, dw: dw}
	in.stop = c.watch(in)
	return in, nil
}

// watch follows one instance's applied epoch (every 10 ms) and records each flip: in the report,
// and on the timeline as the instance's lane, one span per phase it stood in.
func (c *control) watch(in *instance) (stop func()) {
	d := c.d
	done, stopped := make(chan struct{}), make(chan struct{})
	var end func()
	seen := int64(-1)
	check := func() {
		ms := in.dw.Migration()
		if ms.Epoch == seen || ms.Epoch < 0 {
			return
		}
		seen = ms.Epoch
		p := in.dw.Phase().String()
		c.mu.Lock()
		c.rep.Flips = append(c.rep.Flips, InstanceFlip{Instance: in.name, Epoch: ms.Epoch, Phase: p, At: d.rec.now()})
		c.mu.Unlock()
		if end != nil {
			end()
		}
		end = d.rec.phase(instanceLane+in.name, fmt.Sprintf("%s (epoch %d)", p, ms.Epoch))
	}
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			check()
			select {
			case <-done:
				check()
				if end != nil {
					end()
				}
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// instanceLane prefixes the timeline lane of one EU instance's phases ("instance:eu-1").
const instanceLane = "instance:"

// retire closes the instances (each leaves the fleet: its heartbeat is deleted), once the
// application writes the global cluster only.
func (c *control) retire() {
	var wg sync.WaitGroup
	for _, in := range c.inst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.dw.Close()
			in.stop()
		}()
	}
	wg.Wait()
	c.inst = nil
}

// close stops what retire did not (a run that stopped early).
func (c *control) close() {
	if c == nil {
		return
	}
	for _, in := range c.inst {
		in.stop()
	}
}

// forkliftRecord reads what forklift's gated runs recorded on the migration's row.
func (c *control) forkliftRecord(ctx context.Context) {
	st, err := c.st.Get(ctx, c.name, gocql.LocalQuorum)
	if err != nil {
		c.d.logger.Warn("reading the migration's forklift record", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.Forklift != "" {
		c.rep.Forklift = st.Forklift + " (by " + st.ForkliftBy + ")"
	}
}

// verdict checks the control plane's promise as the run saw it: every instance applied every
// epoch the operator set while it ran, and no instance applied an epoch the operator had not set.
func (cp ControlPlane) verdict() (bool, string) {
	if len(cp.Sets) == 0 || len(cp.Instances) == 0 {
		return false, "no phase set through the control plane"
	}
	applied := map[string]map[int64]bool{}
	for _, f := range cp.Flips {
		if applied[f.Instance] == nil {
			applied[f.Instance] = map[int64]bool{}
		}
		applied[f.Instance][f.Epoch] = true
	}
	set := map[int64]bool{}
	var missing []error
	for _, s := range cp.Sets {
		set[s.Epoch] = true
		if s.Instances == 0 { // set before the instances started (primary-only): applied at Open
			continue
		}
		for _, in := range cp.Instances {
			if !applied[in][s.Epoch] {
				missing = append(missing, fmt.Errorf("%s never applied epoch %d (%s)", in, s.Epoch, s.Phase))
			}
		}
		if s.Instances != len(cp.Instances) {
			missing = append(missing, fmt.Errorf("epoch %d acknowledged by %d instances, want %d", s.Epoch, s.Instances, len(cp.Instances)))
		}
	}
	for in, es := range applied {
		for e := range es {
			if !set[e] {
				missing = append(missing, fmt.Errorf("%s applied epoch %d, never set", in, e))
			}
		}
	}
	if len(missing) > 0 {
		return false, errors.Join(missing...).Error()
	}
	var slowest float64
	for _, s := range cp.Sets {
		slowest = max(slowest, s.AckSeconds)
	}
	return true, fmt.Sprintf("%d instances, %d phases set, %d flips applied, slowest set → last ack %.2fs",
		len(cp.Instances), len(cp.Sets), len(cp.Flips), slowest)
}
