package chaos

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Fault kinds a nemesis can inject.
const (
	KindPause = "pause" // SIGSTOP, later SIGCONT
	KindKill  = "kill"  // kill -9, later restart
	// KindKillDisk kills a migrating writer with -9 and deletes its replay directory (the pod and
	// its disk are gone); Dur later it starts again on a fresh, empty directory. What it owed the
	// other side is then only in the hand-off's shared store (dualwrite.WithHandoff).
	KindKillDisk  = "kill-disk"
	KindSkew      = "skew"      // one region's writers' clock off by Arg
	KindPhase     = "phase"     // the migration's phase flipped (dual <-> dual-flipped) through its control plane
	KindForklift  = "forklift"  // a forklift run, kill -9 after Arg, then --resume to the end
	KindPartition = "partition" // regions cut from each other (a world with a WAN proxy)
	KindLatency   = "latency"   // extra delay between regions, Arg one way (a world with a WAN proxy)
	// KindSQSCut cuts one region from the other region's SQS server only (asymmetric): Target
	// names the path, "<region>-sqs" is region's server as the other region reaches it.
	KindSQSCut = "sqs-cut"
)

// Target is one thing a fault kind can hit.
type Target struct {
	Kind   string
	Name   string
	Weight int  // relative frequency in schedules (0 = 1)
	Slow   bool // healing takes long (a Cassandra restart): schedules hold it short and space it out
	// MidFlip: an instance of the migration, which schedules also pause or kill right after a
	// phase flip began (while `set --wait` waits for it).
	MidFlip bool
}

func (t Target) weight() int {
	if t.Weight <= 0 {
		return 1
	}
	return t.Weight
}

// Fault injects one family of faults. Start begins a step's fault and Stop heals it (for an
// instantaneous step Stop does nothing); HealAll heals whatever this family may have left
// broken, and is called at the end of every campaign, also after a failure.
type Fault interface {
	Targets() []Target
	Start(ctx context.Context, st Step) error
	Stop(ctx context.Context, st Step) error
	HealAll(ctx context.Context) error
}

// Partitioner is what a world with a WAN between its regions offers (Toxiproxy): cut, slow down
// and heal the links between the regions (the local world's WAN does it to every link at once). Wrap it with PartitionFault to
// plug it into a nemesis; a world without one simply offers no partition or latency faults.
type Partitioner interface {
	Partition(ctx context.Context, a, b string) error
	Latency(ctx context.Context, a, b string, d time.Duration) error
	Heal(ctx context.Context) error
}

// SQSCutter is a WAN that can cut the path to one region's SQS server from one other region alone
// (the other directions, and every other path, stay up); Heal restores it.
type SQSCutter interface {
	CutSQS(ctx context.Context, to, from string) error
	CutsSQS() bool // whether CutSQS can work (else no such fault is offered)
}

// Isolator is a WAN that can cut one region off from every other (every path reaching or leaving
// it); Heal restores it.
type Isolator interface {
	Isolate(ctx context.Context, region string) error
}

// PartitionFault turns a Partitioner into faults of the WAN between Regions: a partition of every
// path ("wan"), the isolation of one region ("isolate-<region>", when it is an Isolator), latency
// spikes ("wan"), and, when it is an SQSCutter, one-way cuts of one region from another's SQS
// server ("<to>-sqs-from-<from>").
type PartitionFault struct {
	P       Partitioner
	Regions []string
}

// Targets implements Fault.
func (f PartitionFault) Targets() []Target {
	out := []Target{{Kind: KindPartition, Name: "wan", Weight: 2}, {Kind: KindLatency, Name: "wan"}}
	if _, ok := f.P.(Isolator); ok {
		for _, r := range f.Regions {
			out = append(out, Target{Kind: KindPartition, Name: "isolate-" + r})
		}
	}
	if c, ok := f.P.(SQSCutter); ok && c.CutsSQS() {
		for _, to := range f.Regions {
			for _, from := range f.Regions {
				if to != from {
					out = append(out, Target{Kind: KindSQSCut, Name: to + "-sqs-from-" + from})
				}
			}
		}
	}
	return out
}

// Start implements Fault.
func (f PartitionFault) Start(ctx context.Context, st Step) error {
	switch st.Kind {
	case KindLatency:
		d := 200 * time.Millisecond
		if st.Arg != "" {
			var err error
			if d, err = time.ParseDuration(st.Arg); err != nil {
				return fmt.Errorf("chaos: latency %q: %w", st.Arg, err)
			}
		}
		return f.P.Latency(ctx, f.Regions[0], f.Regions[1], d)
	case KindSQSCut:
		c, ok := f.P.(SQSCutter)
		if !ok {
			return fmt.Errorf("chaos: %s: this WAN cannot cut one path", st.Target)
		}
		to, from, ok := strings.Cut(st.Target, "-sqs-from-")
		if !ok {
			return fmt.Errorf("chaos: sqs-cut target %q: want <to>-sqs-from-<from>", st.Target)
		}
		return c.CutSQS(ctx, to, from)
	}
	if r, ok := strings.CutPrefix(st.Target, "isolate-"); ok {
		i, isolator := f.P.(Isolator)
		if !isolator {
			return fmt.Errorf("chaos: %s: this WAN cannot isolate one region", st.Target)
		}
		return i.Isolate(ctx, r)
	}
	return f.P.Partition(ctx, f.Regions[0], f.Regions[1])
}

// Stop implements Fault.
func (f PartitionFault) Stop(ctx context.Context, _ Step) error { return f.P.Heal(ctx) }

// HealAll implements Fault.
func (f PartitionFault) HealAll(ctx context.Context) error { return f.P.Heal(ctx) }

// ServiceFault pauses and kills the shared services through scripts/regions (pause, resume, kill,
// restart SERVICE).
type ServiceFault struct {
	Script   string   // path of scripts/regions
	Services []string // cassandra-us, cassandra-eu-global, cassandra-usw, cassandra-eu, memcached-*, elasticmq-*
	// KillCassandra allows kill -9 of a Cassandra node (its restart takes tens of seconds).
	KillCassandra bool
	// AfterRestart runs after a service was restarted (e.g. to create queues ElasticMQ lost).
	AfterRestart func(ctx context.Context, service string) error
}

// Targets implements Fault.
func (f ServiceFault) Targets() []Target {
	var out []Target
	for _, s := range f.Services {
		out = append(out, Target{Kind: KindPause, Name: s, Weight: 2})
		cass := strings.HasPrefix(s, "cassandra")
		if !cass || f.KillCassandra {
			out = append(out, Target{Kind: KindKill, Name: s, Slow: cass})
		}
	}
	return out
}

func (f ServiceFault) run(ctx context.Context, action, svc string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, f.Script, action, svc).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chaos: regions %s %s: %w: %s", action, svc, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Start implements Fault.
func (f ServiceFault) Start(ctx context.Context, st Step) error {
	if st.Kind == KindPause {
		return f.run(ctx, "pause", st.Target)
	}
	return f.run(ctx, "kill", st.Target)
}

// Stop implements Fault.
func (f ServiceFault) Stop(ctx context.Context, st Step) error {
	if st.Kind == KindPause {
		return f.run(ctx, "resume", st.Target)
	}
	if err := f.run(ctx, "restart", st.Target); err != nil {
		return err
	}
	if f.AfterRestart != nil {
		return f.AfterRestart(ctx, st.Target)
	}
	return nil
}

// HealAll resumes every paused service and restarts every stopped one.
func (f ServiceFault) HealAll(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, f.Script, "status").Output()
	if err != nil {
		return fmt.Errorf("chaos: regions status: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 2 || !contains(f.Services, fs[0]) {
			continue
		}
		switch fs[1] {
		case "paused":
			errs = append(errs, f.run(ctx, "resume", fs[0]))
		case "stopped":
			errs = append(errs, f.Stop(ctx, Step{Kind: KindKill, Target: fs[0]}))
		}
	}
	return errors.Join(errs...)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Nemesis runs a schedule's steps over the faults offered, recording each start and heal in the
// history.
type Nemesis struct {
	faults map[string]Fault // by Kind + "/" + Target
	all    []Fault
	rec    *Recorder
}

// NewNemesis returns a nemesis over faults, recording into rec.
func NewNemesis(rec *Recorder, faults ...Fault) *Nemesis {
	n := &Nemesis{faults: map[string]Fault{}, rec: rec, all: faults}
	for _, f := range faults {
		for _, t := range f.Targets() {
			n.faults[t.Kind+"/"+t.Name] = f
		}
	}
	return n
}

// Offered returns every target the nemesis can hit.
func (n *Nemesis) Offered() []Target {
	var out []Target
	for _, f := range n.all {
		out = append(out, f.Targets()...)
	}
	return out
}

// Run plays the schedule from now; it returns when every step has been healed (or ctx ended),
// with the errors of steps that could not be injected or healed.
func (n *Nemesis) Run(ctx context.Context, s Schedule) error {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, st := range s.Steps {
		f := n.faults[st.Kind+"/"+st.Target]
		if f == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleepUntil(ctx, start.Add(st.At)) {
				return
			}
			err := n.step(ctx, f, st)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (n *Nemesis) step(ctx context.Context, f Fault, st Step) error {
	n.record(st, "start", nil)
	if err := f.Start(ctx, st); err != nil {
		n.record(st, "start", err)
		return err
	}
	if st.Dur <= 0 {
		return nil
	}
	sleepUntil(ctx, time.Now().Add(st.Dur))
	err := f.Stop(context.WithoutCancel(ctx), st)
	n.record(st, "end", err)
	return err
}

func (n *Nemesis) record(st Step, what string, err error) {
	op := Op{Type: NemesisEvent, Process: "nemesis", F: st.Kind, Target: st.Target, Value: what}
	if st.Arg != "" {
		op.Value += " " + st.Arg
	}
	if err != nil {
		op.Err = err.Error()
	}
	n.rec.Record(op)
}

// HealAll heals every fault family, whatever state the run left them in.
func (n *Nemesis) HealAll(ctx context.Context) error {
	var errs []error
	for _, f := range n.all {
		errs = append(errs, f.HealAll(ctx))
	}
	return errors.Join(errs...)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
