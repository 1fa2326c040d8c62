package integration

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/handoff"
	"github.com/globalcloud/islands/migration"
)

// The hand-off tests (issue 30): an instance of a migration (primary the global cluster's
// us-east-1 node, secondary the EU island, control keyspace islands_control on the global
// cluster) keeps 5 000 writes for its paused secondary; it then loses its disk (kill -9 and its
// replay directory deleted) or is stopped with SIGTERM; another instance of the same migration
// adopts the backlog from the control keyspace, and every acknowledged write is on the secondary.
// HANDOFF_BASELINE=off runs the writer without WithHandoff: what the fleet loses today.

const (
	handoffKS      = "dualwrite_handoff"
	handoffEntries = 5000
	handoffLease   = 3 * time.Second
)

// handoffChild writes handoffEntries writes (acking each), says WRITTEN, then waits: for the
// kill -9 (mode kill) or for SIGTERM, on which it closes the session and says CLOSED (mode term).
func handoffChild(t *testing.T, c *childSide) {
	e := needServices(t)
	name, mode := os.Getenv("ISLANDS_TEST_MIGRATION"), os.Getenv("ISLANDS_TEST_HANDOFF_MODE")
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	sec := dwCluster(e.EUCQL, handoffKS)
	sec.Timeout, sec.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	opts := []dualwrite.Option{dualwrite.WithReplayDir(filepath.Join(c.dir, "replay")), dualwrite.WithName("writer"),
		dualwrite.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		dualwrite.WithMigration(fleetCluster(e.USCQL, ""), name, "writer-1", dualwrite.MigrationPoll(fleetPoll))}
	if os.Getenv("HANDOFF_BASELINE") != "off" {
		opts = append(opts, dualwrite.WithHandoff(dualwrite.HandoffCopyAfter(time.Second), dualwrite.HandoffLease(handoffLease),
			dualwrite.HandoffDrain(2*time.Second, 30*time.Second)))
	}
	dw, err := dualwrite.Open(context.Background(), dwCluster(e.USCQL, handoffKS), sec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c.ready()
	// 1 000 writes/s (the rate for the loss window), by 32 writers.
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	go func() { // the hand-off's own figures, for the parent to log
		for range time.Tick(250 * time.Millisecond) {
			h := dw.Handoff()
			c.say("STATS %d %d %d %d", h.MaxUnsharedAge.Milliseconds(), h.Writes, h.Copied, h.HandedOff)
		}
	}()
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				<-pace.C
				k := int(next.Add(1))
				if k > handoffEntries {
					return
				}
				if dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "handed-off").Exec() == nil {
					c.ack(k)
				}
			}
		}()
	}
	wg.Wait()
	c.say("WRITTEN")
	if mode != "term" {
		select {} // until killed
	}
	<-term
	start := time.Now()
	fmt.Fprintln(os.Stderr, "writer: SIGTERM: closing")
	dw.Close()
	h := dw.Handoff()
	c.say("CLOSED %d %d %d", time.Since(start).Milliseconds(), h.HandedOff, h.Copied)
	os.Exit(0)
}

// handoffSetup makes the keyspaces and a fresh migration in dual, and returns its name.
func handoffSetup(t *testing.T, e Env) string {
	dwKeyspaces(t, e, handoffKS)
	ensureRunning(t, e, "cassandra-eu")
	name := fmt.Sprintf("handoff-%d", time.Now().UnixNano())
	for _, p := range []string{"primary-only", "dual"} {
		if _, err := operator(t, e, "set", name, p); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("ISLANDS_TEST_MIGRATION", name)
	return name
}

// startWriter starts the writing child, pauses the secondary, and returns once it acknowledged
// every write.
func startWriter(t *testing.T, e Env, dir, mode string) (*child, map[int]bool, *writerStats) {
	t.Setenv("ISLANDS_TEST_HANDOFF_MODE", mode)
	c := startChild(t, dir)
	pauseFor(t, e, "cassandra-eu")
	c.proceed()
	acked := map[int]bool{}
	ws := &writerStats{closedCh: make(chan struct{})}
	c.read(func(line string) bool {
		if k, ok := ackOf(line); ok {
			acked[k] = true
		}
		ws.note(line)
		return line != "WRITTEN"
	})
	if len(acked) < handoffEntries {
		t.Fatalf("the writer acknowledged %d of %d writes (see its output above)", len(acked), handoffEntries)
	}
	go c.read(func(line string) bool { ws.note(line); return !strings.HasPrefix(line, "CLOSED ") || ws.closed(line) })
	return c, acked, ws
}

// writerStats is the last STATS line of the writer (and its CLOSED line).
type writerStats struct {
	mu                                    sync.Mutex
	maxUnsharedMs, writes, copied, handed int64
	closedLine                            string
	closedCh                              chan struct{}
}

func (w *writerStats) note(line string) {
	if f := strings.Fields(line); len(f) == 5 && f[0] == "STATS" {
		w.mu.Lock()
		w.maxUnsharedMs, _ = strconv.ParseInt(f[1], 10, 64)
		w.writes, _ = strconv.ParseInt(f[2], 10, 64)
		w.copied, _ = strconv.ParseInt(f[3], 10, 64)
		w.handed, _ = strconv.ParseInt(f[4], 10, 64)
		w.mu.Unlock()
	}
}

func (w *writerStats) closed(line string) bool {
	w.mu.Lock()
	w.closedLine = line
	ch := w.closedCh
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return false
}

// figures renders the loss window and the extra writes per kept entry.
func (w *writerStats) figures() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	per := 0.0
	if n := w.copied + w.handed; n > 0 {
		per = float64(w.writes) / float64(n)
	}
	return fmt.Sprintf("loss_window_at_1000_writes_per_s=%.2fs shared_store_writes_per_kept_entry=%.3f", float64(w.maxUnsharedMs)/1000, per)
}

// adopter opens an instance of migration name with the hand-off, on its own directory.
func adopter(t *testing.T, e Env, name, inst string, opts ...dualwrite.HandoffOption) *dualwrite.Session {
	t.Helper()
	opts = append([]dualwrite.HandoffOption{dualwrite.HandoffLease(handoffLease)}, opts...)
	dw, err := dualwrite.Open(context.Background(), dwCluster(e.USCQL, handoffKS), dwCluster(e.EUCQL, handoffKS),
		dualwrite.WithReplayDir(filepath.Join(t.TempDir(), inst)), dualwrite.WithName(inst),
		dualwrite.WithMigration(fleetCluster(e.USCQL, ""), name, inst, dualwrite.MigrationPoll(fleetPoll)),
		dualwrite.WithHandoff(opts...))
	if err != nil {
		t.Fatal(err)
	}
	return dw
}

func sharedBacklog(t *testing.T, e Env, name string) map[string]int64 {
	t.Helper()
	bl, err := handoff.Backlog(context.Background(), handoff.NewCQLStore(session(t, e.USCQL), migration.DefaultKeyspace), name)
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

// waitAdopted waits until the shared store owes nothing and every adopter's log is empty.
func waitAdopted(t *testing.T, e Env, name string, d time.Duration, dws ...*dualwrite.Session) {
	t.Helper()
	ctl := handoff.NewCQLStore(session(t, e.USCQL), migration.DefaultKeyspace)
	deadline := time.Now().Add(d)
	for {
		bl, err := handoff.Backlog(context.Background(), ctl, name)
		empty := err == nil && bl["primary"]+bl["secondary"] == 0
		for _, dw := range dws {
			if n, _ := dw.Backlog(); n > 0 {
				empty = false
			}
		}
		if empty {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: shared backlog %v (err %v), not adopted and drained", d, bl, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func missingOnSecondary(t *testing.T, e Env, acked map[int]bool) int {
	eu := dwDump(t, e.EUCQL, handoffKS)
	missing := 0
	for k := range acked {
		if eu[k].V != "handed-off" {
			missing++
		}
	}
	return missing
}

// TestDualwriteHandoffSurvivesLostDisk (issue 30, test 1): an instance with 5 000 entries kept
// for its paused secondary is killed with -9 and its replay directory deleted; after the
// secondary returns, another instance adopts the backlog from the control keyspace and every
// acknowledged write is on the secondary.
func TestDualwriteHandoffSurvivesLostDisk(t *testing.T) {
	if c := asChild(t); c != nil {
		handoffChild(t, c)
		return
	}
	e := needServices(t)
	name := handoffSetup(t, e)
	dir := t.TempDir()
	c, acked, ws := startWriter(t, e, dir, "kill")
	written := time.Now()
	// The entries become older than HandoffCopyAfter (1 s) and are copied: wait until the shared
	// store holds them all (the loss window passing), then the pod and its disk are gone.
	deadline := time.Now().Add(20 * time.Second)
	for os.Getenv("HANDOFF_BASELINE") != "off" && sharedBacklog(t, e, name)["secondary"] < handoffEntries && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	copiedIn := time.Since(written)
	c.kill9()
	if err := os.RemoveAll(filepath.Join(dir, "replay")); err != nil {
		t.Fatal(err)
	}
	fault(t, e, "resume", "cassandra-eu")
	start := time.Now()
	dw := adopter(t, e, name, "adopter-1")
	defer dw.Close()
	waitAdopted(t, e, name, 40*time.Second, dw)
	missing := missingOnSecondary(t, e, acked)
	t.Logf("FIGURES acknowledged=%d all_shared_after_last_write=%s %s adopted=%d adopt_and_drain=%s missing=%d",
		len(acked), copiedIn.Round(10*time.Millisecond), ws.figures(), dw.Handoff().Adopted,
		time.Since(start).Round(10*time.Millisecond), missing)
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes missing on the secondary after the instance and its disk were lost", missing, len(acked))
	}
}

// TestDualwriteHandoffSIGTERMAndRacingAdopters (issue 30, tests 2 and 3): SIGTERM with the
// secondary paused: the instance exits within its deadline after handing off, its local log
// empty; then two instances race to adopt, one of them paused while it holds a batch's lease:
// the lease moves to the other once it expires, each entry is applied, none is lost.
func TestDualwriteHandoffSIGTERMAndRacingAdopters(t *testing.T) {
	if c := asChild(t); c != nil {
		handoffChild(t, c)
		return
	}
	e := needServices(t)
	name := handoffSetup(t, e)
	dir := t.TempDir()
	c, acked, ws := startWriter(t, e, dir, "term")
	sent := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ws.closedCh:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines to stderr
		time.Sleep(2 * time.Second)
		t.Fatal("the writer did not close within 60 s of SIGTERM")
	}
	c.cmd.Wait()
	exit := time.Since(sent)
	ws.mu.Lock()
	closed := ws.closedLine
	ws.mu.Unlock()
	f := strings.Fields(closed)
	if len(f) != 4 {
		t.Fatalf("the writer did not report its Close (got %q)", closed)
	}
	handed, _ := strconv.Atoi(f[2])
	copied, _ := strconv.Atoi(f[3])
	// Its deadline: HandoffDrain (2 s) + HandoffTimeout (30 s).
	if exit > 32*time.Second+5*time.Second {
		t.Fatalf("the writer exited %s after SIGTERM, past its deadline", exit)
	}
	l, err := dualwrite.OpenFileLog(filepath.Join(dir, "replay"), 0, dualwrite.FileLogReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Backlog(); n != 0 {
		t.Fatalf("the writer's local log holds %d entries after its hand-off", n)
	}
	l.Close()
	if bl := sharedBacklog(t, e, name); bl["secondary"] < int64(handoffEntries) {
		t.Fatalf("shared backlog %v after the hand-off, want secondary >= %d", bl, handoffEntries)
	}
	fault(t, e, "resume", "cassandra-eu")

	// Two adopters; a holds the first batch it claims (paused) until its lease expired and b took it.
	var mu sync.Mutex
	claims := map[string][]string{}
	paused := make(chan string, 1)
	resume := make(chan struct{})
	hook := func(inst string) dualwrite.HandoffOption {
		return dualwrite.HandoffOnClaim(func(ctx context.Context, batch string) {
			mu.Lock()
			claims[batch] = append(claims[batch], inst)
			mu.Unlock()
			if inst != "a" {
				return
			}
			select {
			case paused <- batch:
			default:
				return // only the first claim pauses
			}
			select {
			case <-resume:
			case <-ctx.Done():
			}
		})
	}
	start := time.Now()
	a := adopter(t, e, name, "a", hook("a"))
	defer a.Close()
	var held string
	select {
	case held = <-paused:
	case <-time.After(20 * time.Second):
		t.Fatal("adopter a claimed no batch")
	}
	b := adopter(t, e, name, "b", hook("b"))
	defer b.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		moved := len(claims[held]) >= 2
		mu.Unlock()
		if moved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s held by the paused adopter a never moved to b (claims %v)", held, claims[held])
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(resume) // a wakes after its lease expired: it adopts the batch again, which is harmless
	waitAdopted(t, e, name, 40*time.Second, a, b)
	took := time.Since(start)
	missing := missingOnSecondary(t, e, acked)
	mu.Lock()
	var batches []string
	for id := range claims {
		batches = append(batches, id)
	}
	sort.Strings(batches)
	mu.Unlock()
	t.Logf("FIGURES %s acknowledged=%d handed_off_at_close=%d copied_before=%d sigterm_to_exit=%s adopted_a=%d adopted_b=%d batches=%d held_batch_claims=%v adopt_and_drain=%s missing=%d",
		ws.figures(), len(acked), handed, copied, exit.Round(10*time.Millisecond), a.Handoff().Adopted, b.Handoff().Adopted, len(batches),
		claims[held], took.Round(10*time.Millisecond), missing)
	if claims[held][0] != "a" || claims[held][1] != "b" {
		t.Fatalf("claims of the held batch %v, want a then b", claims[held])
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes missing on the secondary", missing, len(acked))
	}
}
