package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/private"
)

// Child is a process the campaign runs and the nemesis may pause or kill: a writer, a cachesync
// agent. Args is called at every start with the incarnation (0, 1, …), so a restarted writer
// records under a new process name and reopens the same replay directory.
type Child struct {
	Name  string
	Args  func(incarnation int) []string  // argv, program first
	Log   string                          // stdout and stderr, appended across incarnations
	Ready func(ctx context.Context) error // optional: wait until the started child serves

	mu          sync.Mutex
	cmd         *exec.Cmd
	done        chan struct{}
	incarnation int
	paused      bool
	starts      int
	retired     bool // stopped for good at the end of the run: HealAll does not start it again
}

// Retire marks the child as stopped for good (the writers once quiesced, the agents once the
// queues drained): HealAll no longer starts a new incarnation of it.
func (c *Child) Retire() {
	c.mu.Lock()
	c.retired = true
	c.mu.Unlock()
}

func (c *Child) isRetired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retired
}

// Start starts the child's next incarnation.
func (c *Child) Start(ctx context.Context) error {
	c.mu.Lock()
	args := c.Args(c.starts)
	c.incarnation = c.starts
	c.starts++
	f, err := private.OpenAppend(c.Log)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("chaos: %s log: %w", c.Name, err)
	}
	fmt.Fprintf(f, "=== %s incarnation %d: %s\n", c.Name, c.incarnation, strings.Join(args, " "))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group (a Ctrl-C of the campaign is the campaign's to handle), and killed
	// with the campaign if that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		c.mu.Unlock()
		return fmt.Errorf("chaos: start %s: %w", c.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	c.cmd, c.done, c.paused = cmd, done, false
	c.mu.Unlock()
	if c.Ready != nil {
		return c.Ready(ctx)
	}
	return nil
}

// Running reports whether the current incarnation is alive.
func (c *Child) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the child (SIGSTOP, SIGCONT, SIGKILL …).
func (c *Child) Signal(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return fmt.Errorf("chaos: %s is not running", c.Name)
	}
	c.paused = sig == syscall.SIGSTOP
	return c.cmd.Process.Signal(sig)
}

// Kill kills the child with -9 (resuming it first if paused) and waits for it to exit.
func (c *Child) Kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Kill()
	<-done
}

// Wait waits for the child to exit by itself, at most d; it reports whether it did.
func (c *Child) Wait(d time.Duration) bool {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Terminate asks the child to stop (SIGTERM), then kills it after d.
func (c *Child) Terminate(d time.Duration) {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGTERM)
	if !c.Wait(d) {
		c.Kill()
	}
}

// Incarnation returns the number of the current (or last) incarnation.
func (c *Child) Incarnation() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.incarnation
}

// ChildFault pauses (SIGSTOP/SIGCONT) and kills (kill -9, then a new incarnation) children, and
// kills a child with a disk and deletes it (KindKillDisk).
type ChildFault struct {
	Children []*Child
	// Instances names the children that are instances of the migration: schedules also pause
	// and kill them in the middle of phase flips (Target.MidFlip).
	Instances []string
	// Disks maps a child to its replay directory: those children are offered to KindKillDisk
	// (the migrating writers, whose dualwrite sessions hand their backlog off).
	Disks map[string]string
	// Rec, when set, records how many replay entries a lost disk held (a NemesisEvent "disk lost",
	// Backlog the count) before it is deleted.
	Rec *Recorder
}

// Targets implements Fault.
func (f ChildFault) Targets() []Target {
	var out []Target
	for _, c := range f.Children {
		mid := contains(f.Instances, c.Name)
		out = append(out, Target{Kind: KindPause, Name: c.Name, MidFlip: mid}, Target{Kind: KindKill, Name: c.Name, Weight: 2, MidFlip: mid})
		if _, ok := f.Disks[c.Name]; ok {
			out = append(out, Target{Kind: KindKillDisk, Name: c.Name})
		}
	}
	return out
}

func (f ChildFault) child(name string) *Child {
	for _, c := range f.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Start implements Fault. Steps on one child may overlap (a mid-flip step and the process
// track): a child another step has killed and not restarted yet cannot be paused or killed (a
// failed injection), so one child never runs two incarnations at once.
func (f ChildFault) Start(_ context.Context, st Step) error {
	c := f.child(st.Target)
	if !c.Running() {
		return fmt.Errorf("chaos: %s is not running (another fault holds it)", c.Name)
	}
	if st.Kind == KindPause {
		return c.Signal(syscall.SIGSTOP)
	}
	c.Kill()
	if st.Kind == KindKillDisk {
		return f.loseDisk(c)
	}
	return nil
}

// loseDisk deletes the replay directory of the killed child c, recording first how many entries
// it still held: what only the hand-off's shared store carries from now on. The next incarnation
// (Stop) starts on a fresh, empty directory at the same path, as a rescheduled pod does.
func (f ChildFault) loseDisk(c *Child) error {
	dir := f.Disks[c.Name]
	op := Op{Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: c.Name, Value: "disk lost"}
	// A directory not there yet held nothing: the incarnation died before its session made it.
	if _, err := os.Stat(dir); err == nil {
		if l, err := dualwrite.OpenFileLog(dir, 0, dualwrite.FileLogReadOnly()); err != nil {
			op.Err = "counting its entries: " + err.Error()
		} else {
			op.Backlog, _ = l.Backlog()
			l.Close()
		}
	}
	if f.Rec != nil {
		f.Rec.Record(op)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("chaos: deleting the replay directory of %s: %w", c.Name, err)
	}
	return nil
}

// Stop implements Fault: a kill (with its disk or not) is healed by the next incarnation, unless
// one is running already.
func (f ChildFault) Stop(ctx context.Context, st Step) error {
	c := f.child(st.Target)
	if st.Kind == KindPause {
		if !c.Running() {
			return nil // killed meanwhile: its restart resumes it
		}
		return c.Signal(syscall.SIGCONT)
	}
	if c.Running() {
		return nil
	}
	return c.Start(ctx)
}

// HealAll resumes every child and starts any that is not running and not retired.
func (f ChildFault) HealAll(ctx context.Context) error {
	var errs []error
	for _, c := range f.Children {
		switch {
		case c.Running():
			errs = append(errs, c.Signal(syscall.SIGCONT))
		case !c.isRetired():
			errs = append(errs, c.Start(ctx))
		}
	}
	return errors.Join(errs...)
}

// ControlFault skews one region's clock — its writers' and its cachesync agent's —, through the
// control file they poll. Skews of one region compose: its offset is the sum of the skew steps
// active on it, so healing one leaves the others.
type ControlFault struct {
	Path    string
	Regions []string

	mu     sync.Mutex
	cur    Control
	active map[Step]int64 // skew steps started and not healed -> their offset in ms
}

// NewControlFault writes the initial control file (no skew).
func NewControlFault(path string, regions []string) (*ControlFault, error) {
	f := &ControlFault{Path: path, Regions: regions, cur: Control{Skew: map[string]int64{}}}
	return f, WriteControl(path, f.cur)
}

// Targets implements Fault.
func (f *ControlFault) Targets() []Target {
	var out []Target
	for _, r := range f.Regions {
		out = append(out, Target{Kind: KindSkew, Name: r})
	}
	return out
}

func (f *ControlFault) update(fn func(c *Control)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.cur)
	return WriteControl(f.Path, f.cur)
}

// Start implements Fault.
func (f *ControlFault) Start(_ context.Context, st Step) error {
	d, err := time.ParseDuration(st.Arg)
	if err != nil {
		return fmt.Errorf("chaos: skew %q: %w", st.Arg, err)
	}
	return f.update(func(c *Control) {
		if f.active == nil {
			f.active = map[Step]int64{}
		}
		f.active[st] = d.Milliseconds()
		c.Skew[st.Target] = f.skewOf(st.Target)
	})
}

// skewOf returns the composed offset of region: the sum of its active skews (f.mu held).
func (f *ControlFault) skewOf(region string) int64 {
	var sum int64
	for st, ms := range f.active {
		if st.Target == region {
			sum += ms
		}
	}
	return sum
}

// Stop implements Fault: the step's skew is removed, the others of its region stay.
func (f *ControlFault) Stop(_ context.Context, st Step) error {
	return f.update(func(c *Control) {
		delete(f.active, st)
		c.Skew[st.Target] = f.skewOf(st.Target)
	})
}

// HealAll removes every skew.
func (f *ControlFault) HealAll(context.Context) error {
	return f.update(func(c *Control) { c.Skew, f.active = map[string]int64{}, nil })
}

// StopWriters tells the writers to stop, drain and exit.
func (f *ControlFault) StopWriters() error { return f.update(func(c *Control) { c.Stop = true }) }

// ForkliftFault runs forklift (cmd/forklift) during the faults: `run`, kill -9 after the step's
// kill-after, then `run --resume` to the end.
type ForkliftFault struct {
	Bin, Config, Log string
	Rec              *Recorder

	wg sync.WaitGroup
}

// Targets implements Fault.
func (f *ForkliftFault) Targets() []Target {
	return []Target{{Kind: KindForklift, Name: "island-to-global"}}
}

// Start implements Fault: the run goes on in the background; HealAll waits for it.
func (f *ForkliftFault) Start(ctx context.Context, st Step) error {
	kill, err := time.ParseDuration(strings.TrimPrefix(st.Arg, "kill-after="))
	if err != nil {
		return fmt.Errorf("chaos: forklift step %q: %w", st.Arg, err)
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		first := &Child{Name: "forklift", Log: f.Log, Args: func(int) []string {
			return []string{f.Bin, "run", "--config", f.Config, "--log-level", "warn"}
		}}
		if err := first.Start(ctx); err != nil {
			f.Rec.Record(Op{Type: NemesisEvent, Process: "nemesis", F: KindForklift, Value: "run", Err: err.Error()})
			return
		}
		if !first.Wait(kill) {
			first.Kill()
			f.Rec.Record(Op{Type: NemesisEvent, Process: "nemesis", F: KindForklift, Value: "killed -9 after " + kill.String()})
		} else {
			f.Rec.Record(Op{Type: NemesisEvent, Process: "nemesis", F: KindForklift, Value: "finished before the kill"})
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(rctx, f.Bin, "run", "--config", f.Config, "--resume", "--log-level", "warn").CombinedOutput()
		op := Op{Type: NemesisEvent, Process: "nemesis", F: KindForklift, Value: "resume finished"}
		if err != nil {
			op.Err = fmt.Sprintf("%v: %s", err, lastLines(string(out), 3))
		}
		f.Rec.Record(op)
	}()
	return nil
}

// Stop implements Fault.
func (f *ForkliftFault) Stop(context.Context, Step) error { return nil }

// HealAll waits for a forklift run under way to finish.
func (f *ForkliftFault) HealAll(context.Context) error { f.wg.Wait(); return nil }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
