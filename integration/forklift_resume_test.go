package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
)

// buildForklift builds cmd/forklift into a temporary directory.
func buildForklift(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "forklift")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/forklift").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/forklift: %v\n%s", err, out)
	}
	return bin
}

// writeForkliftYAML writes a config file for the forklift program.
func writeForkliftYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "forklift.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// clusterYAML is c as the value of a source: or destination: key of forklift's config.
func clusterYAML(t *testing.T, c forklift.ClusterConfig) string {
	t.Helper()
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// forkliftYAML is a config that copies ks.table between the two regions as the administrator.
func forkliftYAML(t *testing.T, e Env, ks, table, ckpt string) string {
	side := func(host string) string {
		return clusterYAML(t, forklift.ClusterConfig{Hosts: []string{host}, Consistency: "ONE", DisableHostLookup: true,
			Access: cqlconn.MustFromEnv(cqlconn.RoleAdmin)})
	}
	return fmt.Sprintf(`source: %s
destination: %s
tables:
  - {keyspace: %s, table: %s, resolver: lww}
checkpoint_keyspace: %s
run_id: kill9
workers: 2
ranges: 64
page_size: 500
`, side(e.USCQL), side(e.EUCQL), ks, table, ckpt)
}

// TestForkliftKill9Resume: the forklift program is killed with -9 in mid-run; run --resume
// finishes it, redoing at most one page per range, and verify finds no difference.
func TestForkliftKill9Resume(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks, ckpt = "forklift_kill9", "forklift_kill9_ckpt"
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".members "+mixedSchema)
	ddl(t, dst, "DROP KEYSPACE IF EXISTS "+ckpt)
	rows := envInt("FORKLIFT_KILL_ROWS", 100_000)
	fillMixed(t, src, ks, "members", rows)
	bin := buildForklift(t)
	cfgPath := writeForkliftYAML(t, forkliftYAML(t, e, ks, "members", ckpt))

	cmd := exec.Command(bin, "run", "--config", cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a few ranges are done and before all are.
	deadline := time.Now().Add(3 * time.Minute)
	var done int
	for {
		time.Sleep(200 * time.Millisecond)
		done = 0
		it := dst.Query("SELECT done FROM " + ckpt + ".forklift_progress WHERE run = 'kill9'").Iter()
		var d bool
		for it.Scan(&d) {
			if d {
				done++
			}
		}
		it.Close()
		if done >= 8 || time.Now().After(deadline) {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	var before int
	dst.Query("SELECT count(*) FROM " + ks + ".members").Scan(&before)
	t.Logf("forklift killed with -9 with %d of 64 ranges done, %d of %d rows in the destination", done, before, rows)
	if done >= 64 || before >= rows {
		t.Fatal("the run finished before the kill: raise FORKLIFT_KILL_ROWS")
	}

	res := exec.Command(bin, "run", "--config", cfgPath, "--resume", "--json")
	resOut, err := res.Output()
	if err != nil {
		t.Fatalf("forklift run --resume: %v\n%s", err, resOut)
	}
	var rep forklift.RunReport
	if err := json.Unmarshal(resOut[bytes.IndexByte(resOut, '{'):], &rep); err != nil {
		t.Fatalf("resume report: %v\n%s", err, resOut)
	}
	// At most one page per unfinished range is read again.
	remaining := rows - before
	limit := remaining + (64-done)*500
	t.Logf("resume copied %d rows (remaining %d, bound %d)", rep.Rows, remaining, limit)
	if !rep.Resumed || rep.Rows > int64(limit) {
		t.Fatalf("resume: resumed=%v, %d rows > bound %d", rep.Resumed, rep.Rows, limit)
	}
	ver := exec.Command(bin, "verify", "--config", cfgPath)
	verOut, err := ver.CombinedOutput()
	if err != nil {
		t.Fatalf("forklift verify after resume: %v (exit 0 means no difference)\n%s", err, verOut)
	}
	t.Logf("FIGURES rows=%d killed_at_ranges_done=%d rows_before_kill=%d resume_rows=%d verify=%s", rows, done, before, rep.Rows,
		strings.TrimSpace(lastLine(string(verOut))))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestForkliftBadInput: an unknown table, an incompatible schema, an unreachable cluster and a
// malformed YAML file are each a clear error naming the problem, and nothing is written.
func TestForkliftBadInput(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks, ckpt = "forklift_bad", "forklift_bad_ckpt"
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".members (pk int PRIMARY KEY, name text, score bigint)")
	ddl(t, src, "CREATE TABLE "+ks+".shape (pk int PRIMARY KEY, v text)")
	ddl(t, dst, "CREATE TABLE "+ks+".shape (pk int, v text, PRIMARY KEY (pk, v))")
	ddl(t, src, "CREATE TABLE "+ks+".typed (pk int PRIMARY KEY, v bigint)")
	ddl(t, dst, "CREATE TABLE "+ks+".typed (pk int PRIMARY KEY, v text)")
	ddl(t, src, "INSERT INTO "+ks+".members (pk, name, score) VALUES (1, 'a', 1)")
	ddl(t, dst, "DROP KEYSPACE IF EXISTS "+ckpt)
	bin := buildForklift(t)
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown table", forkliftYAML(t, e, ks, "no_such_table", ckpt), "no_such_table"},
		{"different primary key", forkliftYAML(t, e, ks, "shape", ckpt), "shape"},
		{"incompatible type", forkliftYAML(t, e, ks, "typed", ckpt), "v"},
		{"unreachable cluster", strings.Replace(forkliftYAML(t, e, ks, "members", ckpt), e.EUCQL, "127.0.9.9:9042", 1), "127.0.9.9"},
		{"malformed YAML", "source: [hosts\n", "yaml"},
		{"unknown key", forkliftYAML(t, e, ks, "members", ckpt) + "wokers: 3\n", "wokers"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "run", "--config", writeForkliftYAML(t, c.yaml)).CombinedOutput()
			if err == nil {
				t.Fatalf("forklift run succeeded on bad input:\n%s", out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("error does not name %q:\n%s", c.want, out)
			}
			t.Logf("%s: %s", c.name, lastLine(string(out)))
		})
	}
	var n int
	if err := dst.Query("SELECT count(*) FROM " + ks + ".members").Scan(&n); err != nil || n != 0 {
		t.Fatalf("bad input wrote %d rows to the destination (%v)", n, err)
	}
}
