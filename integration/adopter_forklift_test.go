package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	_ "github.com/globalcloud/islands/examples/viewinghistory" // registers the viewing-history resolver the example names
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/world"
)

// TestForkliftExampleConfigPlans (issue 31): examples/forklift.yaml, as a user copies it, plans
// against the local world: its addresses, TLS, role and resolvers are today's. Keyspaces the
// demo has not made yet are created empty with the demo's schema (IF NOT EXISTS: a demo's data is
// left alone) and the forklift role is granted SELECT on them, as the demo does.
func TestForkliftExampleConfigPlans(t *testing.T) {
	w := needWorld(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	cfg, err := forklift.LoadConfig("../examples/forklift.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Source.Hosts[0]; got != w.EUIslandCQL {
		t.Fatalf("examples/forklift.yaml source %s, the world's EU island is %s", got, w.EUIslandCQL)
	}
	if got := cfg.Destination.Hosts[0]; got != os.Getenv("ISLANDS_GLOBAL_EU_CQL") {
		t.Fatalf("examples/forklift.yaml destination %s, the world's global eu-west-1 node is %s", got, os.Getenv("ISLANDS_GLOBAL_EU_CQL"))
	}
	ddl := []string{
		"CREATE TABLE IF NOT EXISTS %s.profiles (member_id bigint PRIMARY KEY, name text, email text, country text, plan text, updated_at timestamp)",
		"CREATE TABLE IF NOT EXISTS %s.bookmarks (member_id bigint, title_id bigint, position_s bigint, updated_at timestamp, PRIMARY KEY (member_id, title_id))",
		"CREATE TABLE IF NOT EXISTS %s.viewing_history (member_id bigint, title_id bigint, position bigint, watched_at timestamp, PRIMARY KEY (member_id, title_id))",
		"CREATE TABLE IF NOT EXISTS %s.preferences (member_id bigint PRIMARY KEY, language text, maturity_level int)",
	}
	for _, side := range []struct{ addr, ks, repl string }{
		{w.EUIslandCQL, "demo_island", "{'class': 'NetworkTopologyStrategy', 'eu-west-1': 1}"},
		{cfg.Destination.Hosts[0], "demo_global", "{'class': 'NetworkTopologyStrategy', 'us-east-1': 1, 'eu-west-1': 1}"},
	} {
		s := session(t, side.addr)
		stmts := []string{fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", side.ks, side.repl)}
		for _, d := range ddl {
			stmts = append(stmts, fmt.Sprintf(d, side.ks))
		}
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT ON KEYSPACE %s TO %s", side.ks, cfg.Source.Username))
		for _, st := range stmts {
			if err := s.Query(st).Exec(); err != nil {
				t.Fatalf("%s: %s: %v", side.addr, st, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j, err := forklift.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("examples/forklift.yaml: %v", err)
	}
	defer j.Close()
	r, err := j.Plan(ctx, forklift.PlanOptions{Sample: 20})
	if err != nil {
		t.Fatalf("plan of examples/forklift.yaml: %v", err)
	}
	if len(r.Tables) != 4 {
		t.Fatalf("plan: %d tables, want 4", len(r.Tables))
	}
	for _, tb := range r.Tables {
		t.Logf("plan: %s %s", tb.Table, tb.Resolver)
	}
}

// TestForkliftDCsChecked (issue 31): on the two-DC global cluster, an unknown local_dc is refused
// (ErrConfig, naming the cluster's datacenters) instead of passing silently, and the checkpoint
// keyspace forklift creates is NetworkTopologyStrategy in the local DC — not SimpleStrategy,
// which on several DCs puts replicas wherever the ring says, across the WAN.
func TestForkliftDCsChecked(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	w := needWorld(t)
	ks := "adopter_dcs"
	s := session(t, e.USCQL) // the global cluster: the keyspace in both DCs, copied onto itself
	ddl(t, s, "DROP KEYSPACE IF EXISTS "+ks)
	ddl(t, s, "CREATE KEYSPACE "+ks+" WITH replication = {'class': 'NetworkTopologyStrategy', 'us-east-1': 1, 'eu-west-1': 1}")
	ddl(t, s, "CREATE TABLE "+ks+".t (k int PRIMARY KEY, v text)")
	if err := s.Query("INSERT INTO " + ks + ".t (k, v) VALUES (1, 'a')").Exec(); err != nil {
		t.Fatal(err)
	}
	ckpt := fmt.Sprintf("adopter_ckpt_%d", time.Now().UnixNano())
	admin := session(t, w.GlobalCQL(world.EUWest1, world.EUWest1))
	t.Cleanup(func() { admin.Query("DROP KEYSPACE IF EXISTS " + ckpt).Exec() })
	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "t"})
	cfg.Source.Hosts = []string{e.USCQL}
	cfg.Source.LocalDC = "us-east-1"
	cfg.Destination.Hosts = []string{w.GlobalCQL(world.EUWest1, world.EUWest1)}
	cfg.Destination.LocalDC = "eu-west-9"
	cfg.Tables[0].DestinationKeyspace = ks
	cfg.CheckpointKeyspace = ckpt
	cfg.Ranges = 4
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := forklift.Open(ctx, cfg)
	t.Logf("local_dc eu-west-9: %v", err)
	if !errors.Is(err, forklift.ErrConfig) || !strings.Contains(err.Error(), "eu-west-9") || !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("unknown local_dc: got %v, want ErrConfig naming eu-west-9 and the cluster's DCs", err)
	}
	cfg.Destination.LocalDC = "eu-west-1"
	j, err := forklift.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Run(ctx, forklift.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	var repl map[string]string
	if err := admin.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", ckpt).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	t.Logf("checkpoint keyspace %s: %v", ckpt, repl)
	if !strings.HasSuffix(repl["class"], "NetworkTopologyStrategy") || repl["eu-west-1"] != "1" || repl["us-east-1"] != "" {
		t.Fatalf("checkpoint keyspace replication %v: want NetworkTopologyStrategy {eu-west-1: 1}", repl)
	}
}

// TestForkliftVerifyProgressAndRepairSummary (issue 31): verify's progress reaches 100 % (it
// printed percent=0.0 eta=? throughout: its ranges were never marked covered), and repair's
// summary of the re-copy names its shard and a rows/s figure (it printed an empty shard and
// 0 rows/s).
func TestForkliftVerifyProgressAndRepairSummary(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	ks := "adopter_progress"
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	for _, s := range []*gocql.Session{src, dst} {
		freshKeyspace(t, s, ks)
		ddl(t, s, "CREATE TABLE "+ks+".t (k int PRIMARY KEY, v text)")
	}
	for k := 0; k < 300; k++ {
		if err := src.Query("INSERT INTO "+ks+".t (k, v) VALUES (?, ?)", k, fmt.Sprint("v", k)).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "t"})
	cfg.CheckpointKeyspace = "forklift_ckpt_test"
	cfg.RunID = fmt.Sprintf("adopter-progress-%d", time.Now().UnixNano())
	cfg.Ranges = 8
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j, err := forklift.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var last forklift.Progress
	calls := 0
	_, err = j.Verify(ctx, forklift.VerifyOptions{ProgressInterval: 5 * time.Millisecond, Progress: func(p forklift.Progress) { last = p; calls++ }})
	if !errors.Is(err, forklift.ErrDifferences) {
		t.Fatalf("verify before any copy: %v, want ErrDifferences", err)
	}
	t.Logf("verify progress: %d calls, last %.1f%% ranges %d/%d", calls, 100*last.Fraction, last.RangesDone, last.RangesTotal)
	if last.Fraction < 0.999 || last.RangesDone != last.RangesTotal {
		t.Errorf("verify's final progress: %.1f%% ranges %d/%d, want 100%% and every range", 100*last.Fraction, last.RangesDone, last.RangesTotal)
	}
	rep, err := j.Repair(ctx, forklift.RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Copied
	t.Logf("repair re-copy: shard %q, %d rows in %.2fs, %.0f rows/s", c.Shard, c.Rows, c.Seconds, c.RowsPerSec)
	if c.Shard != "0/1" || c.Rows != 300 || c.RowsPerSec <= 0 {
		t.Errorf("repair summary: shard %q rows %d rows/s %.0f: want shard 0/1, 300 rows, a rate", c.Shard, c.Rows, c.RowsPerSec)
	}
}

// TestForkliftCreateTable (issue 31, --create-table): with create_tables, a destination table that
// is missing is created from the source's schema (composite key, clustering order, static and
// collection columns) and the copy lands in it, cell for cell.
func TestForkliftCreateTable(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	ks := "adopter_create"
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	for _, s := range []*gocql.Session{src, dst} {
		freshKeyspace(t, s, ks)
	}
	ddl(t, src, "CREATE TABLE "+ks+".h (m bigint, r text, title int, at timestamp, owner text static, tags set<text>, PRIMARY KEY ((m, r), title, at)) WITH CLUSTERING ORDER BY (title ASC, at DESC)")
	for i := 0; i < 50; i++ {
		if err := src.Query("INSERT INTO "+ks+".h (m, r, title, at, owner, tags) VALUES (?, 'eu', ?, ?, 'o', {'a', 'b'}) USING TIMESTAMP ?",
			i%7, i, time.UnixMilli(int64(1_700_000_000_000+i)), int64(1_700_000_000_000_000+i)).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "h"})
	cfg.RunID = fmt.Sprintf("adopter-create-%d", time.Now().UnixNano())
	cfg.Ranges = 8
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := forklift.Open(ctx, cfg); !errors.Is(err, forklift.ErrTableNotFound) || !strings.Contains(err.Error(), "--create-table") {
		t.Fatalf("without create_tables: %v, want ErrTableNotFound pointing at --create-table", err)
	}
	cfg.CreateTables = true
	j, err := forklift.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Run(ctx, forklift.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Verify(ctx, forklift.VerifyOptions{}); err != nil {
		t.Fatalf("verify after a copy into the created table: %v", err)
	}
	var order string
	if err := dst.Query("SELECT clustering_order FROM system_schema.columns WHERE keyspace_name = ? AND table_name = 'h' AND column_name = 'at'", ks).Scan(&order); err != nil || order != "desc" {
		t.Fatalf("created table's clustering order of at: %q %v, want desc", order, err)
	}
}
