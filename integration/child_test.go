package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A test that kills a process with -9 runs as two processes: the parent (the test as go test runs
// it) starts a copy of the test binary that runs only the same test, marked as the child by an
// environment variable; the child sets up, says READY, waits for the parent's go, then works and
// reports on stdout (ACK k for each write acknowledged) until the parent kills it with SIGKILL at
// the moment the test is about. They share a directory (the replay log's), which the child learns
// from the environment too.
//
//	func TestX(t *testing.T) {
//		if c := asChild(t); c != nil {
//			xChild(t, c) // c.ready(), then c.ack(k) for each acknowledged write
//			return
//		}
//		c := startChild(t, dir) // returns once the child is READY
//		… // the fault the child must meet
//		c.proceed()
//		c.read(func(line string) bool { … }) // until the moment to kill
//		c.kill9()
//	}

const (
	// childTestEnv marks the child's role: it holds the name of the test the process is the child of.
	childTestEnv = "ISLANDS_TEST_CHILD_OF"
	// childDirEnv is the directory parent and child share.
	childDirEnv = "ISLANDS_TEST_CHILD_DIR"
	// goFile is the file in the shared directory by which the parent says go.
	goFile = "go"
)

// childSide is the child process's end: the shared directory, and lines to the parent.
type childSide struct {
	dir string
	mu  sync.Mutex // one line at a time on stdout, from any goroutine
}

// asChild returns the child's end when this process is the child of t (started by startChild),
// nil in the parent.
func asChild(t *testing.T) *childSide {
	if os.Getenv(childTestEnv) != t.Name() {
		return nil
	}
	return &childSide{dir: os.Getenv(childDirEnv)}
}

// ready tells the parent that the child is set up and waits for the parent's go (proceed).
func (c *childSide) ready() {
	c.say("READY")
	for {
		if _, err := os.Stat(filepath.Join(c.dir, goFile)); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// say prints one line to the parent.
func (c *childSide) say(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Printf(format+"\n", a...)
}

// ack tells the parent that write k was acknowledged.
func (c *childSide) ack(k int) { c.say("ACK %d", k) }

// ackOf is k when line is the child's ACK k.
func ackOf(line string) (int, bool) {
	s, ok := strings.CutPrefix(line, "ACK ")
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(s)
	return k, err == nil
}

// child is the parent's end of a child process.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines *bufio.Scanner
	dir   string
}

// startChild starts the child of t (a top-level test) sharing dir, and returns once it has said
// READY. The child's stderr is the test's; it is killed when t ends if kill9 has not been called.
func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.v")
	cmd.Env = append(os.Environ(), childTestEnv+"="+t.Name(), childDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &child{t: t, cmd: cmd, lines: bufio.NewScanner(out), dir: dir}
	ready := false
	c.read(func(line string) bool { ready = line == "READY"; return !ready })
	if !ready {
		t.Fatal("the child process ended before it was ready (see its output above)")
	}
	return c
}

// proceed tells the child to go on from ready.
func (c *child) proceed() {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, goFile), nil, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// read hands f each line the child prints, until f returns false or the child's output ends.
func (c *child) read(f func(line string) bool) {
	for c.lines.Scan() {
		if !f(c.lines.Text()) {
			return
		}
	}
}

// kill9 kills the child with SIGKILL and waits for it to be gone.
func (c *child) kill9() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd.Wait()
}

// TestChildHarness needs no service: the child waits for go, then acks without end; the parent
// reads 50 acks, kills it with -9, and the child is gone (Wait returned, so ProcessState is set,
// and it did not exit by itself).
func TestChildHarness(t *testing.T) {
	if c := asChild(t); c != nil {
		c.ready()
		for k := 0; ; k++ {
			c.ack(k)
		}
	}
	c := startChild(t, t.TempDir())
	c.proceed()
	acked := map[int]bool{}
	c.read(func(line string) bool {
		if k, ok := ackOf(line); ok {
			acked[k] = true
		}
		return len(acked) < 50
	})
	c.kill9()
	if len(acked) != 50 {
		t.Fatalf("read %d acks, want 50", len(acked))
	}
	if st := c.cmd.ProcessState; st == nil || st.Exited() {
		t.Fatalf("the child was not killed: %v", st)
	}
}
