package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/forklift"
)

// TestDeploy runs the programs as deploy/ deploys them, against the real local regions:
//   - forklift as deploy/kubernetes/forklift-job.yaml's Indexed Job starts it: completions
//     processes, each with JOB_COMPLETION_INDEX and the Job's own arguments, one killed with -9
//     mid-run and started again as the Job controller would (same index, same arguments); every
//     process ends with exit 0 and verify finds no difference;
//   - the cachesync agent program beside a region's memcached, fed by a publishing client;
//   - a dualwrite session;
//
// and checks that every metric deploy/metrics.txt lists (what the alerts and the dashboard use) is
// served by the program that owns it: scraped from forklift's and the agent's /metrics, gathered
// from the application's registries (dualwrite session, cachesync publisher).
func TestDeploy(t *testing.T) {
	e := needServices(t)
	want := readMetricsList(t)
	served := map[string]map[string]bool{} // owner → names
	t.Run("forklift Indexed Job", func(t *testing.T) { served["forklift"] = deployForkliftJob(t, e) })
	t.Run("cachesync agent and publisher", func(t *testing.T) {
		served["cachesync-agent"], served["cachesync-publisher"] = deployCachesync(t, e)
	})
	t.Run("dualwrite session", func(t *testing.T) { served["dualwrite"] = deployDualwrite(t, e) })
	if t.Failed() {
		return
	}
	for _, name := range want {
		owner := metricOwner(name)
		if owner == "" {
			t.Errorf("%s: no program is known to serve it (add it to metricOwner)", name)
			continue
		}
		if !served[owner][name] {
			t.Errorf("%s: not served by %s after a real run (served: %s)", name, owner, strings.Join(sortedKeys(served[owner]), " "))
		}
	}
	t.Logf("FIGURES metrics_checked=%d", len(want))
}

// metricOwner names the program that serves a metric: the cachesync agent serves what it
// measures receiving, the application's publisher what it measures sending.
func metricOwner(name string) string {
	switch {
	case strings.HasPrefix(name, "islands_forklift_"), name == "process_start_time_seconds":
		return "forklift"
	case strings.HasPrefix(name, "islands_dualwrite_"):
		return "dualwrite"
	}
	switch strings.TrimPrefix(name, "islands_cachesync_") {
	case "events_total", "lag_seconds_bucket", "poison_messages_total", "apply_errors_total", "late_events_total":
		return "cachesync-agent"
	case "published_total", "dropped_total", "send_errors_total", "spilled_total", "unspilled_total",
		"degraded_to_invalidation_total", "batch_entries_bucket", "publish_wait_seconds_bucket":
		return "cachesync-publisher"
	}
	return ""
}

func readMetricsList(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../deploy/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatal("deploy/metrics.txt lists no metric")
	}
	return out
}

// seriesNames are the sample names the families expose: a histogram's _bucket, _count and _sum.
func seriesNames(fams []*dto.MetricFamily, into map[string]bool) {
	for _, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		n := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			into[n+"_bucket"], into[n+"_count"], into[n+"_sum"] = true, true, true
		case dto.MetricType_SUMMARY:
			into[n], into[n+"_count"], into[n+"_sum"] = true, true, true
		default:
			into[n] = true
		}
	}
}

// scrape reads url's Prometheus text exposition into names.
func scrape(url string, into map[string]bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return err
	}
	list := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		list = append(list, f)
	}
	seriesNames(list, into)
	return nil
}

func gathered(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	seriesNames(fams, out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// jobSpec is what the test takes from the Job manifest: the shard count and the arguments.
type jobSpec struct {
	completions, backoffLimitPerIndex int
	args                              []string
}

func readForkliftJob(t *testing.T) jobSpec {
	t.Helper()
	f, err := os.Open("../deploy/kubernetes/forklift-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Kind string
			Spec struct {
				Completions          int    `yaml:"completions"`
				BackoffLimitPerIndex int    `yaml:"backoffLimitPerIndex"`
				CompletionMode       string `yaml:"completionMode"`
				Template             struct {
					Spec struct {
						Containers []struct {
							Name string
							Args []string
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "Job" {
			if doc.Spec.CompletionMode != "Indexed" || len(doc.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("the forklift Job is not an Indexed Job of one container: %+v", doc.Spec)
			}
			return jobSpec{completions: doc.Spec.Completions, backoffLimitPerIndex: doc.Spec.BackoffLimitPerIndex,
				args: doc.Spec.Template.Spec.Containers[0].Args}
		}
	}
	t.Fatal("no Job in deploy/kubernetes/forklift-job.yaml")
	return jobSpec{}
}

// podArgs are the Job's arguments with the config file and the metrics address of this machine.
func (j jobSpec) podArgs(t *testing.T, config, metrics string) []string {
	var out []string
	var sawConfig, sawMetrics bool
	for _, a := range j.args {
		switch {
		case strings.HasPrefix(a, "--config="):
			a, sawConfig = "--config="+config, true
		case strings.HasPrefix(a, "--metrics-addr="):
			a, sawMetrics = "--metrics-addr="+metrics, true
		}
		out = append(out, a)
	}
	if !sawConfig || !sawMetrics {
		t.Fatalf("Job args %q: want --config=FILE and --metrics-addr=ADDR", j.args)
	}
	return out
}

// pod is one process of the Job.
type pod struct {
	index   int
	metrics string
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startPod(t *testing.T, bin string, job jobSpec, config string, index int) *pod {
	t.Helper()
	p := &pod{index: index, metrics: freePort(t), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, job.podArgs(t, config, p.metrics)...)
	p.cmd.Env = append(os.Environ(), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", index))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// deployForkliftJob runs the Indexed Job and returns the metric names its pods served.
func deployForkliftJob(t *testing.T, e Env) map[string]bool {
	job := readForkliftJob(t)
	if job.completions < 2 {
		t.Fatalf("completions %d: the test needs at least two shards", job.completions)
	}
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks, ckpt = "deploy_job", "deploy_job_ckpt"
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".members "+mixedSchema)
	ddl(t, src, "CREATE TABLE "+ks+".choices (id int PRIMARY KEY, v text, n int)")
	ddl(t, dst, "CREATE TABLE "+ks+".choices (id int PRIMARY KEY, v text, n int)")
	ddl(t, dst, "DROP KEYSPACE IF EXISTS "+ckpt)
	rows := envInt("DEPLOY_JOB_ROWS", 20_000)
	fillMixed(t, src, ks, "members", rows)
	// choices: 200 rows in the source; the destination already holds 50 of them with another v,
	// which the quarantine resolver refuses to merge (the merge row's conflicts and quarantine).
	for i := 0; i < 200; i++ {
		if err := src.Query("INSERT INTO "+ks+".choices (id, v, n) VALUES (?, ?, ?) USING TIMESTAMP ?", i, fmt.Sprint("s", i), i, int64(1_700_000_000_000_000+i)).Exec(); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if err := dst.Query("INSERT INTO "+ks+".choices (id, v, n) VALUES (?, ?, ?) USING TIMESTAMP ?", i, fmt.Sprint("d", i), i, int64(1_700_000_000_000_001+i)).Exec(); err != nil {
				t.Fatal(err)
			}
		}
	}
	side := func(host string) string {
		return clusterYAML(t, forklift.ClusterConfig{Hosts: []string{host}, Consistency: "ONE", DisableHostLookup: true,
			Access: cqlconn.MustFromEnv(cqlconn.RoleAdmin)})
	}
	// rate_limit keeps each shard running for a few seconds: long enough to kill one mid-run and
	// to scrape every shard's /metrics.
	config := writeForkliftYAML(t, fmt.Sprintf(`source: %s
destination: %s
tables:
  - {keyspace: %s, table: members, resolver: lww}
  - {keyspace: %s, table: choices, resolver: quarantine, options: {resolver: lww, columns: [v]}}
checkpoint_keyspace: %s
run_id: deploy-job
workers: 2
ranges: 64
page_size: 200
rate_limit: %d
`, side(e.USCQL), side(e.EUCQL), ks, ks, ckpt, rows/job.completions/6))
	bin := buildForklift(t)

	names := map[string]bool{}
	pods := make([]*pod, job.completions)
	for i := range pods {
		pods[i] = startPod(t, bin, job, config, i)
	}
	// The Job controller's rules, as the manifest sets them: a pod that fails is replaced by one
	// with the same index and arguments, up to backoffLimitPerIndex times per index; exit 2 (bad
	// configuration) fails the index at once (podFailurePolicy FailIndex).
	const victim = 1
	killed := false
	failures := make([]int, len(pods))
	var otherFailures []string
	deadline := time.Now().Add(5 * time.Minute)
	for exited := map[int]bool{}; len(exited) < len(pods); {
		if time.Now().After(deadline) {
			t.Fatal("the Job did not finish within 5 minutes")
		}
		time.Sleep(250 * time.Millisecond)
		for i, p := range pods {
			if exited[i] {
				continue
			}
			shardNames := map[string]bool{}
			if err := scrape("http://"+p.metrics+"/metrics", shardNames); err == nil {
				for n := range shardNames {
					names[n] = true
				}
			}
			select {
			case err := <-p.done:
				if err == nil {
					if i == victim && !killed {
						t.Fatalf("shard %d finished before it could be killed (raise DEPLOY_JOB_ROWS)\n%s", i, p.out.String())
					}
					exited[i] = true
					continue
				}
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() == 2 {
					t.Fatalf("shard %d exited 2 (FailIndex: bad configuration)\n%s", i, p.out.String())
				}
				failures[i]++
				if !(i == victim && killed && failures[i] == 1) {
					otherFailures = append(otherFailures, fmt.Sprintf("shard %d: %v: %s", i, err, strings.TrimSpace(lastLine(p.out.String()))))
					t.Logf("shard %d failed (%v), the Job replaces it:\n%s", i, err, p.out.String())
				}
				if failures[i] > job.backoffLimitPerIndex {
					t.Fatalf("shard %d failed %d times, more than backoffLimitPerIndex %d: the Job fails", i, failures[i], job.backoffLimitPerIndex)
				}
				pods[i] = startPod(t, bin, job, config, i)
			default:
				if i == victim && !killed && shardNames["islands_forklift_rows_total"] {
					if err := p.cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
					killed = true
					t.Logf("shard %d killed with -9 mid-run", i)
				}
			}
		}
	}
	if !killed {
		t.Fatal("the kill did not happen mid-run")
	}
	ver := exec.Command(bin, "verify", "--config", config)
	out, err := ver.CombinedOutput()
	if err != nil {
		t.Fatalf("forklift verify after the Job: %v (exit 0 means no difference)\n%s", err, out)
	}
	var dstRows int
	if err := dst.Query("SELECT count(*) FROM " + ks + ".members").Scan(&dstRows); err != nil {
		t.Fatal(err)
	}
	if dstRows != rows {
		t.Fatalf("%d of %d rows in the destination after the Job", dstRows, rows)
	}
	t.Logf("FIGURES shards=%d rows=%d killed_and_restarted=1 other_pod_failures=%d %q verify=%s", job.completions, rows,
		len(otherFailures), otherFailures, strings.TrimSpace(lastLine(string(out))))
	return names
}

// deployCachesync runs the agent program for the eu region and publishes from us; it returns the
// names the agent's /metrics and the publisher's registry serve.
func deployCachesync(t *testing.T, e Env) (agent, publisher map[string]bool) {
	reg := prometheus.NewRegistry()
	us, eu := csRegions(t, e, "deploy", cachesync.PublisherOptions{Registerer: reg})
	bin := buildCachesync(t)
	listen := freePort(t)
	startAgentProcess(t, bin, e, eu.queue, listen)
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	for i := 0; i < 50; i++ {
		if _, err := us.client.Set(ctx, &cachesync.Item{Key: csKey(run, "profile", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := us.client.Delete(ctx, csKey(run, "session", i)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatal(err)
			}
		}
	}
	waitDrained(t, e, time.Minute, eu.queue)
	agent = map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for !agent["islands_cachesync_events_total"] {
		if time.Now().After(deadline) {
			t.Fatalf("the agent's /metrics never showed an applied event: %v", sortedKeys(agent))
		}
		if err := scrape("http://"+listen+"/metrics", agent); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return agent, gathered(t, reg)
}

// deployDualwrite runs a dualwrite session through writes, reads and a write the secondary refuses, and
// returns the names its registry serves.
func deployDualwrite(t *testing.T, e Env) map[string]bool {
	const ks = "deploy_dualwrite"
	dwKeyspaces(t, e, ks)
	reg := prometheus.NewRegistry()
	replay := t.TempDir()
	if err := os.Chmod(replay, 0o700); err != nil { // it holds member data: dualwrite wants it private
		t.Fatal(err)
	}
	dw, err := dualwrite.New(dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks), dualwrite.WithReplayDir(replay),
		dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithName("deploy"), dualwrite.WithRegisterer(reg), dualwrite.WithShadowReads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	for i := 0; i < 20; i++ {
		if err := dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", i, fmt.Sprint("v", i)).Exec(); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := dw.Query("SELECT v FROM kv WHERE k = ?", i).Scan(&v); err != nil {
			t.Fatal(err)
		}
	}
	// A write the secondary cannot take (its table is missing there): the follower's error is
	// counted, and the write is kept for replay (then dead-lettered: it can never land as it is).
	ddl(t, session(t, e.USCQL), "CREATE TABLE "+ks+".primary_only (k int PRIMARY KEY, v text)")
	err = dw.Query("INSERT INTO primary_only (k, v) VALUES (1, 'x')").Exec()
	t.Logf("a write whose table the secondary lacks: %v", err)
	return gathered(t, reg)
}
