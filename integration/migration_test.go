package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/migration"
)

// The fleet tests run a migration's instances as separate processes (the test binary re-run as
// children, child_test.go): each opens a dualwrite session WithMigration — primary the EU island's
// keyspace fleetmig, secondary the global cluster's — and writes without pause, recording for
// every acknowledged write the epoch its session had applied when the write began (the epoch
// rule's evidence) in a file of its directory. The operator is this process, through the same
// code as `islands migration set` (migration.Command).

const (
	fleetKS     = "fleetmig"
	fleetTTL    = 10 * time.Second // heartbeat TTL of the children
	fleetPoll   = 200 * time.Millisecond
	fleetRecord = "writes"
)

// fleetInstance is one child's identity, written to its directory before it starts.
type fleetInstance struct {
	name   string
	region string // "us" or "eu": which global node is its secondary and its control
	dir    string
	c      *child
}

// globalAddr is the global cluster's node of region r ("us" or "eu").
func globalAddr(e Env, r string) string {
	if r == "eu" {
		return os.Getenv("ISLANDS_GLOBAL_EU_CQL")
	}
	return e.USCQL
}

// fleetCluster is a child's config for one node: short timeouts so a fault shows quickly.
func fleetCluster(addr, ks string) *gocql.ClusterConfig {
	c := cluster(addr)
	c.Keyspace = ks
	c.Timeout = 2 * time.Second
	c.ConnectTimeout = 5 * time.Second
	c.NumConns = 1
	return c
}

// fleetChild is the child's body: open the session, say READY, write until told to stop.
func fleetChild(t *testing.T, c *childSide, name string) {
	e := needServices(t)
	b, err := os.ReadFile(filepath.Join(c.dir, "instance"))
	if err != nil {
		t.Fatal(err)
	}
	inst, region, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	ctx := context.Background()
	s, err := dualwrite.Open(ctx, fleetCluster(e.EUCQL, fleetKS), fleetCluster(globalAddr(e, region), fleetKS),
		dualwrite.WithReplayDir(filepath.Join(c.dir, "replay")), dualwrite.WithName(inst),
		dualwrite.WithMigration(fleetCluster(globalAddr(e, region), ""), name, inst,
			dualwrite.MigrationPoll(fleetPoll), dualwrite.MigrationHeartbeat(500*time.Millisecond, fleetTTL)))
	if err != nil {
		t.Fatalf("instance %s: %v", inst, err)
	}
	rec, err := os.OpenFile(filepath.Join(c.dir, fleetRecord), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.ready()
	// Keys of distinct instances never collide: us-N writes from N·10⁷, eu-N from (10+N)·10⁷.
	idx, _ := strconv.Atoi(inst[strings.LastIndex(inst, "-")+1:])
	if region == "eu" {
		idx += 10
	}
	base := idx * 10_000_000
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				k := base + g*5_000_000 + i
				began := time.Now()
				epoch := s.Migration().Epoch
				err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, inst).Consistency(gocql.One).Exec()
				if err != nil {
					continue // not acknowledged: no claim
				}
				mu.Lock()
				fmt.Fprintf(rec, "%d %d %d\n", k, epoch, began.UnixNano())
				mu.Unlock()
			}
		}()
	}
	for {
		if _, err := os.Stat(filepath.Join(c.dir, "stop")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := s.WaitReplayed(wctx); err != nil {
		t.Errorf("instance %s: %v", inst, err)
	}
	cancel()
	s.Close()
	rec.Close()
	c.say("DONE")
}

// startFleet starts n instances per region as child processes of t.
func startFleet(t *testing.T, perRegion int) []*fleetInstance {
	var out []*fleetInstance
	for _, r := range []string{"us", "eu"} {
		for i := 1; i <= perRegion; i++ {
			fi := &fleetInstance{name: fmt.Sprintf("%s-%d", r, i), region: r, dir: t.TempDir()}
			if err := os.WriteFile(filepath.Join(fi.dir, "instance"), []byte(fi.name+" "+r), 0o644); err != nil {
				t.Fatal(err)
			}
			fi.c = startChild(t, fi.dir)
			out = append(out, fi)
		}
	}
	for _, fi := range out {
		fi.c.proceed()
	}
	return out
}

// stop asks a child to finish (drain its replay log, close) and waits for it.
func (fi *fleetInstance) stop(t *testing.T) {
	if err := os.WriteFile(filepath.Join(fi.dir, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := false
	fi.c.read(func(line string) bool { done = line == "DONE"; return !done })
	fi.c.cmd.Wait()
	if !done {
		t.Errorf("instance %s ended without DONE", fi.name)
	}
}

// fleetWrite is one acknowledged write of a child.
type fleetWrite struct {
	inst  string
	k     int
	epoch int64
	began time.Time
}

func (fi *fleetInstance) writes(t *testing.T) []fleetWrite {
	b, err := os.ReadFile(filepath.Join(fi.dir, fleetRecord))
	if err != nil {
		t.Fatal(err)
	}
	var out []fleetWrite
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue // a killed child's torn last line
		}
		k, _ := strconv.Atoi(f[0])
		e, _ := strconv.ParseInt(f[1], 10, 64)
		ns, _ := strconv.ParseInt(f[2], 10, 64)
		out = append(out, fleetWrite{fi.name, k, e, time.Unix(0, ns)})
	}
	return out
}

// operator runs `islands migration ARGS` (the command's code) as the admin against the global
// cluster's us-east-1 node, returning its output and error.
func operator(t *testing.T, e Env, args ...string) (string, error) {
	var out bytes.Buffer
	err := migration.Command(context.Background(), args, &out, func(ctx context.Context) (*gocql.Session, error) {
		return cluster(e.USCQL).CreateSession()
	})
	t.Logf("islands migration %s\n%s(err: %v)", strings.Join(args, " "), out.String(), err)
	return out.String(), err
}

func controlStore(t *testing.T, e Env) *migration.Store {
	s := session(t, e.USCQL)
	return migration.NewStore(s, migration.DefaultKeyspace)
}

// fleetSchema makes fleetmig.kv in the EU island (primary) and the global cluster (secondary), and
// a fresh migration name.
func fleetSchema(t *testing.T, e Env) string {
	island := session(t, e.EUCQL)
	freshKeyspace(t, island, fleetKS)
	ddl(t, island, "CREATE TABLE "+fleetKS+".kv (k int PRIMARY KEY, v text)")
	global := session(t, e.USCQL)
	ddl(t, global, "DROP KEYSPACE IF EXISTS "+fleetKS)
	ddl(t, global, "CREATE KEYSPACE "+fleetKS+" WITH replication = {'class': 'NetworkTopologyStrategy', 'us-east-1': 1, 'eu-west-1': 1}")
	ddl(t, global, "CREATE TABLE "+fleetKS+".kv (k int PRIMARY KEY, v text)")
	// forklift's checkpoints, in both datacenters (forklift would make it SimpleStrategy, whose one
	// replica may land in eu-west-1, out of reach of its LOCAL_QUORUM from us-east-1).
	ddl(t, global, "DROP KEYSPACE IF EXISTS "+fleetKS+"_ckpt")
	ddl(t, global, "CREATE KEYSPACE "+fleetKS+"_ckpt WITH replication = {'class': 'NetworkTopologyStrategy', 'us-east-1': 1, 'eu-west-1': 1}")
	return fmt.Sprintf("fleet-%d", time.Now().UnixNano())
}

// TestMigrationFleet drives one migration across six instance processes (three per region):
//   - set dual --wait returns only after every instance applied it, and every write that began
//     after it returned ran under the new epoch (checked for every write at the end);
//   - a SIGSTOPed instance makes set --wait time out naming it, and forklift refuse to start
//     naming it; resumed, it catches up and forklift runs (its start and end recorded);
//   - a killed instance makes --wait time out naming it until its heartbeat TTL, then no longer
//     blocks and leaves status;
//   - two operators racing set from the same epoch: exactly one wins;
//   - every write acknowledged under a dual epoch is in both keyspaces.
func TestMigrationFleet(t *testing.T) {
	e := needServices(t)
	if c := asChild(t); c != nil {
		fleetChild(t, c, os.Getenv("ISLANDS_TEST_MIGRATION"))
		return
	}
	name := fleetSchema(t, e)
	t.Setenv("ISLANDS_TEST_MIGRATION", name)
	if _, err := operator(t, e, "set", name, "primary-only"); err != nil {
		t.Fatal(err)
	}
	st := controlStore(t, e)
	fleet := startFleet(t, 3)
	byName := map[string]*fleetInstance{}
	for _, fi := range fleet {
		byName[fi.name] = fi
	}
	type waited struct {
		epoch int64
		phase string
		at    time.Time
	}
	var waits []waited
	phaseOf := map[int64]string{1: "primary-only"}
	set := func(phase string, wait time.Duration, extra ...string) (migration.SetResult, error) {
		args := append([]string{"set", name, phase, "-o", "json", "--wait", wait.String()}, extra...)
		var out bytes.Buffer
		err := migration.Command(context.Background(), args, &out, func(ctx context.Context) (*gocql.Session, error) {
			return cluster(e.USCQL).CreateSession()
		})
		var res migration.SetResult
		if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
			t.Fatalf("set %s: output %q: %v", phase, out.String(), jerr)
		}
		if res.State.Epoch > 0 {
			phaseOf[res.State.Epoch] = res.State.Phase
		}
		if err == nil {
			waits = append(waits, waited{res.State.Epoch, phase, time.Now()})
		}
		t.Logf("set %s --wait %s: epoch %d in %.2fs, err %v", phase, wait, res.State.Epoch, res.Seconds, err)
		return res, err
	}
	time.Sleep(time.Second)

	// 1. A clean flip: every instance acknowledges.
	res, err := set("dual", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Instances != 6 || len(res.Behind) != 0 {
		t.Fatalf("set dual --wait returned with %d instances, %d behind", res.Instances, len(res.Behind))
	}
	time.Sleep(time.Second)
	if _, err := set("primary-only", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	// 2. A paused instance blocks the flip and forklift, by name; resumed, it catches up.
	paused := byName["us-2"]
	if err := paused.c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	res, err = set("dual", 3*time.Second)
	behind := map[string]bool{}
	for _, h := range res.Behind {
		behind[h.Instance] = true
	}
	if !errors.Is(err, migration.ErrNotApplied) || !strings.Contains(err.Error(), "us-2") || !behind["us-2"] {
		paused.c.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatalf("set dual --wait with us-2 stopped: %v (behind %v), want ErrNotApplied naming us-2", err, behind)
	}
	dualEpoch := res.State.Epoch
	fcfg := forkliftConfig(e, forklift.TableConfig{Keyspace: fleetKS, Table: "kv", Resolver: "lww"})
	fcfg.Source, fcfg.Destination = fcfg.Destination, fcfg.Source // the EU island into the global cluster
	fcfg.CheckpointKeyspace, fcfg.RunID, fcfg.Ranges = fleetKS+"_ckpt", name, 16
	fcfg.Migration = forklift.MigrationConfig{Name: name}
	job, err := forklift.Open(context.Background(), fcfg)
	if err != nil {
		paused.c.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatal(err)
	}
	defer job.Close()
	_, err = job.Run(context.Background(), forklift.RunOptions{})
	if !errors.Is(err, forklift.ErrFleetNotDualWriting) || !strings.Contains(err.Error(), "us-2") {
		paused.c.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatalf("forklift run with us-2 primary-only: %v, want ErrFleetNotDualWriting naming us-2", err)
	}
	t.Logf("forklift refused: %v", err)
	if err := paused.c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, err = migration.Wait(wctx, st, name, dualEpoch, 0)
	cancel()
	if err != nil {
		t.Fatalf("us-2 resumed did not catch up: %v", err)
	}
	waits = append(waits, waited{dualEpoch, "dual", time.Now()})
	rep, err := job.Run(context.Background(), forklift.RunOptions{})
	if err != nil {
		t.Fatalf("forklift run once every instance dual-writes: %v", err)
	}
	t.Logf("forklift copied %d rows", rep.Rows)
	if s, err := st.Get(context.Background(), name, gocql.LocalQuorum); err != nil || s.Forklift != "finished" || s.ForkliftStarted.IsZero() || s.ForkliftEnded.Before(s.ForkliftStarted) {
		t.Fatalf("forklift's record in the control keyspace: %+v, %v", s, err)
	}

	// 3. A killed instance blocks until its heartbeat expires, then drops out.
	killed := byName["eu-3"]
	killed.c.kill9()
	res, err = set("dual-flipped", 2*time.Second)
	if !errors.Is(err, migration.ErrNotApplied) || !strings.Contains(err.Error(), "eu-3") {
		t.Fatalf("set dual-flipped --wait with eu-3 killed: %v, want ErrNotApplied naming eu-3", err)
	}
	flipEpoch := res.State.Epoch
	wctx, cancel = context.WithTimeout(context.Background(), fleetTTL+10*time.Second)
	f, err := migration.Wait(wctx, st, name, flipEpoch, 0)
	cancel()
	if err != nil {
		t.Fatalf("after eu-3's TTL: %v", err)
	}
	waits = append(waits, waited{flipEpoch, "dual-flipped", time.Now()})
	if len(f.All()) != 5 {
		t.Fatalf("%d instances after eu-3 was killed, want 5", len(f.All()))
	}
	out, err := operator(t, e, "status", name)
	if err != nil || strings.Contains(out, "eu-3") || !strings.Contains(out, "5 live instances, 0 behind") {
		t.Fatalf("status after the TTL: %v\n%s", err, out)
	}

	// 4. Two operators race from the same epoch: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = migration.Change(context.Background(), st, name, "dual", fmt.Sprintf("operator-%d", i), false)
		}()
	}
	wg.Wait()
	// Exactly one wins: the epoch moved by exactly one. The other lost the LWT, or saw the
	// winner's phase, or (Paxos contention) timed out — never a second epoch.
	wins, uncertain := 0, 0
	for _, err := range errs {
		t.Logf("racing set: %v", err)
		switch {
		case err == nil:
			wins++
		case errors.Is(err, migration.ErrConflict), errors.Is(err, migration.ErrSamePhase):
		case errors.Is(err, migration.ErrUnavailable):
			uncertain++
		default:
			t.Fatalf("racing set: %v", err)
		}
	}
	if wins > 1 || wins+uncertain < 1 {
		t.Fatalf("racing set: %d winners (%v), want exactly 1", wins, errs)
	}
	if s, _ := st.Get(context.Background(), name, gocql.LocalQuorum); s.Epoch != flipEpoch+1 {
		t.Fatalf("epoch %d after the race, want %d: exactly one change", s.Epoch, flipEpoch+1)
	}
	phaseOf[flipEpoch+1] = "dual"
	wctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	_, err = migration.Wait(wctx, st, name, flipEpoch+1, 0)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	waits = append(waits, waited{flipEpoch + 1, "dual", time.Now()})
	time.Sleep(time.Second)

	// The epoch rule, for every write of every instance.
	var all []fleetWrite
	for _, fi := range fleet {
		if fi != killed {
			fi.stop(t)
		}
		all = append(all, fi.writes(t)...)
	}
	checked := 0
	for _, w := range waits {
		n := 0
		for _, wr := range all {
			if wr.began.After(w.at) {
				n++
				if wr.epoch < w.epoch {
					t.Errorf("write %d of %s began %v after set %s --wait (epoch %d) returned, but ran under epoch %d",
						wr.k, wr.inst, wr.began.Sub(w.at), w.phase, w.epoch, wr.epoch)
				}
			}
		}
		if n == 0 {
			t.Errorf("no write began after set %s (epoch %d) returned: the rule was not exercised", w.phase, w.epoch)
		}
		checked += n
	}
	t.Logf("epoch rule: %d writes of %d instances checked against %d acknowledged flips", checked, len(fleet), len(waits))

	// Every write acknowledged under a dual epoch is on both sides (the killed instance's unreplayed
	// tail excepted: its replay log is the next process's to drain).
	island, global := dwDumpKV(t, e.EUCQL), dwDumpKV(t, e.USCQL)
	missing := 0
	for _, wr := range all {
		if wr.inst == killed.name || !migration.DualWrites(phaseOf[wr.epoch]) {
			continue
		}
		if !island[wr.k] || !global[wr.k] {
			if missing < 5 {
				t.Errorf("write %d of %s under epoch %d (%s): island %v global %v", wr.k, wr.inst, wr.epoch, phaseOf[wr.epoch], island[wr.k], global[wr.k])
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d dual writes missing a side", missing)
	}
}

func dwDumpKV(t *testing.T, addr string) map[int]bool {
	s := session(t, addr)
	out := map[int]bool{}
	it := s.Query("SELECT k FROM " + fleetKS + ".kv").Consistency(gocql.One).PageSize(5000).Iter()
	var k int
	for it.Scan(&k) {
		out[k] = true
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrationPartitionedInstanceKeepsPhase: an instance whose control cluster is across the WAN
// (eu-west-1 reading us-east-1's node) keeps the phase it applied while the WAN is partitioned,
// and says so (LastError, the control-read-age metric); its writes go on in that phase. The
// operator's set meanwhile cannot pass its LWT (both datacenters take part), so no instance misses
// a change. After the heal the instance reads again and applies the next change.
func TestMigrationPartitionedInstanceKeepsPhase(t *testing.T) {
	e := needServices(t)
	w := needWorld(t)
	name := fleetSchema(t, e)
	for _, p := range []string{"primary-only", "dual"} {
		if _, err := operator(t, e, "set", name, p); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	before, err := w.WAN().Link(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Partitioned {
		t.Fatal("the WAN is partitioned before the test: heal it first (islands wan heal)")
	}
	reg := prometheus.NewRegistry()
	s, err := dualwrite.Open(ctx, fleetCluster(e.EUCQL, fleetKS), fleetCluster(w.GlobalEUCQL, fleetKS),
		dualwrite.WithReplayDir(t.TempDir()), dualwrite.WithRegisterer(reg),
		dualwrite.WithMigration(fleetCluster(w.GlobalUSCQLWAN, ""), name, "eu-cut",
			dualwrite.MigrationPoll(fleetPoll), dualwrite.MigrationHeartbeat(500*time.Millisecond, 30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := s.Migration(); s.Phase() != dualwrite.Dual || m.Epoch != 2 {
		t.Fatalf("after Open: %s epoch %d, want dual 2", s.Phase(), m.Epoch)
	}
	if err := w.WAN().Partition(ctx); err != nil {
		t.Fatal(err)
	}
	healed := false
	heal := func() {
		if !healed {
			healed = true
			if err := w.WAN().Heal(context.Background()); err != nil {
				t.Errorf("healing the WAN: %v", err)
			}
		}
	}
	t.Cleanup(heal)
	time.Sleep(4 * time.Second)
	m := s.Migration()
	age := metricValue(t, reg, "islands_dualwrite_migration_control_read_age_seconds")
	t.Logf("partitioned: phase %s epoch %d, control read age %.1fs, last error %q", s.Phase(), m.Epoch, age, m.LastError)
	if s.Phase() != dualwrite.Dual || m.Epoch != 2 || m.LastError == "" || age < 2 {
		t.Fatalf("partitioned: phase %s epoch %d age %.1fs last error %q; want dual, 2, ≥2s and the error", s.Phase(), m.Epoch, age, m.LastError)
	}
	for k := 1; k <= 20; k++ {
		if err := s.Query("INSERT INTO kv (k, v) VALUES (?, 'cut')", k).Consistency(gocql.One).Exec(); err != nil {
			t.Fatalf("write %d while cut off from the control keyspace: %v", k, err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = migration.Change(sctx, controlStore(t, e), name, "dual-flipped", "partitioned-operator", false)
	cancel()
	t.Logf("set during the partition: %v", err)
	if err == nil {
		t.Fatal("set dual-flipped passed its LWT with eu-west-1 cut off")
	}
	if s.Phase() != dualwrite.Dual {
		t.Fatalf("phase %s while cut off", s.Phase())
	}
	heal()
	deadline := time.Now().Add(60 * time.Second)
	for s.Migration().LastError != "" || time.Since(s.Migration().LastRead) > 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("60s after the heal the instance still cannot read the control keyspace: %q", s.Migration().LastError)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cur, err := controlStore(t, e).Get(ctx, name, gocql.LocalQuorum)
	if err != nil {
		t.Fatal(err)
	}
	next := "dual-flipped"
	if cur.Phase == "dual-flipped" { // the timed-out LWT landed after all (Paxos completes it later)
		next = "dual"
	}
	out, err := operator(t, e, "set", name, next, "--wait", "30s")
	if err != nil {
		t.Fatalf("set after the heal: %v\n%s", err, out)
	}
	if s.Phase().String() != next {
		t.Fatalf("after the heal and set %s: phase %s", next, s.Phase())
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
