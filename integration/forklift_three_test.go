package integration

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/world"
)

// TestWorldForkliftIntoThreeDCs: the EU island merged into a keyspace of the global cluster
// replicated in us-east-1, eu-west-1 and us-west-2 (the seeds' layout): forklift writes at
// EACH_QUORUM through us-east-1's node, and every datacenter then holds every cell with the
// island's writetime and TTL, read at LOCAL_ONE in that datacenter.
func TestWorldForkliftIntoThreeDCs(t *testing.T) {
	e := needServices(t)
	w := needWorld(t)
	setWANLink(t, w, world.Link{Delays: world.SeedDelays(), Jitter: 2 * time.Millisecond})
	const ks, rows = "forklift_three", 2000
	island := session(t, w.EUIslandCQL)
	freshKeyspace(t, island, ks)
	ddl(t, island, "CREATE TABLE "+ks+".members "+mixedSchema)
	global := map[world.Region]*gocql.Session{}
	for _, r := range world.Regions {
		global[r] = globalSession(t, w, r, gocql.LocalOne)
	}
	ddl(t, global[world.USEast1], "DROP KEYSPACE IF EXISTS "+ks)
	repl := "'class': 'NetworkTopologyStrategy'"
	for _, r := range world.Regions {
		repl += ", '" + r.DC() + "': 1"
	}
	ddl(t, global[world.USEast1], "CREATE KEYSPACE "+ks+" WITH replication = {"+repl+"}")
	ddl(t, global[world.USEast1], "CREATE TABLE "+ks+".members "+mixedSchema)
	fillMixed(t, island, ks, "members", rows)

	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "members", Resolver: "lww"})
	cfg.Source = forklift.ClusterConfig{Hosts: []string{w.EUIslandCQL}, Consistency: "ONE", DisableHostLookup: true, Access: cqlconn.MustFromEnv(cqlconn.RoleAdmin)}
	cfg.Destination = forklift.ClusterConfig{Hosts: []string{w.GlobalCQL(world.USEast1, world.USEast1)}, LocalDC: world.USEast1.DC(),
		Consistency: "EACH_QUORUM", DisableHostLookup: true, Access: cqlconn.MustFromEnv(cqlconn.RoleAdmin)}
	cfg.RunID = "three-dcs"
	ctx := context.Background()
	job, err := forklift.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer job.Close()
	rep, err := job.Run(ctx, forklift.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Rows != rows {
		t.Errorf("report rows = %d, want %d", rep.Rows, rows)
	}
	for _, r := range world.Regions {
		t.Logf("datacenter %s", r)
		checkCellsPreserved(t, island, global[r], ks+".members", rows)
	}
}
