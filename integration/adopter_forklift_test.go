package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/globalcloud/islands/forklift"
	_ "github.com/globalcloud/islands/internal/demo" // registers the viewing-history resolver the example names
)

// TestForkliftExampleConfigPlans (issue 31): examples/forklift.yaml, as a user copies it, plans
// against the local world: its addresses, TLS, role and resolvers are today's. Keyspaces the
// demo has not made yet are created empty with the demo's schema (IF NOT EXISTS: a demo's data is
// left alone) and the forklift role is granted SELECT on them, as the demo does.
func TestForkliftExampleConfigPlans(t *testing.T) {
	w := needWorld(t)
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
