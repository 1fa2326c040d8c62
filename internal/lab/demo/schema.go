package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/examples/viewinghistory"
	"github.com/globalcloud/islands/internal/lab/world"
)

const (
	islandKS  = "demo_island"
	globalKS  = "demo_global"
	fliftKS   = "demo_forklift"
	scratchKS = "demo_scratch" // the distance step's copies and visibility probes
)

// dataset is one table of the demo and the resolver forklift merges it with.
type dataset struct {
	Table    string
	DDL      string
	Resolver string
	Options  map[string]any
	Why      string
}

var datasets = []dataset{
	{Table: "profiles", Resolver: "lww", Why: "per cell, the newest write wins, as Cassandra itself decides",
		DDL: "CREATE TABLE %s.profiles (member_id bigint PRIMARY KEY, name text, email text, country text, plan text, updated_at timestamp)"},
	{Table: "bookmarks", Resolver: "newest-by", Options: map[string]any{"column": "updated_at"},
		Why: "per title, the bookmark the member touched last",
		DDL: "CREATE TABLE %s.bookmarks (member_id bigint, title_id bigint, position_s bigint, updated_at timestamp, PRIMARY KEY (member_id, title_id))"},
	{Table: "viewing_history", Resolver: viewinghistory.Name,
		Options: map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 50},
		Why:     "per title the furthest position, newest 50 titles",
		DDL:     "CREATE TABLE %s.viewing_history (member_id bigint, title_id bigint, position bigint, watched_at timestamp, PRIMARY KEY (member_id, title_id))"},
	{Table: "preferences", Resolver: "quarantine",
		Options: map[string]any{"resolver": "lww", "columns": []any{"maturity_level"}},
		Why:     "lww, but a member whose maturity level differs between islands goes to a person",
		DDL:     "CREATE TABLE %s.preferences (member_id bigint PRIMARY KEY, language text, maturity_level int)"},
}

// createSchema (re)creates the demo's keyspaces: on the global cluster (through us-east-1) the
// Americas island demo_global, replicated in us-east-1 only as the Americas keyspaces were before
// the migration, demo_scratch (both datacenters: the distance figures' probes and copies of the
// viewing histories) and, when missing, forklift's checkpoint keyspace (eu-west-1, where forklift
// runs); on the EU island demo_island, in its own datacenter.
// The two clusters' schemas are made at the same time.
func createSchema(ctx context.Context, global, island *gocql.Session) error {
	islandDC, err := localDC(ctx, island)
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.Go(func() error {
		if err := createKeyspaces(ctx, global, []keyspaceDef{
			{globalKS, []string{world.USEast1.DC()}, true},
			{scratchKS, []string{world.USEast1.DC(), world.EUWest1.DC()}, false},
		}); err != nil {
			return err
		}
		// Forklift's checkpoints stay from run to run (each run has its own run ids): one schema
		// change fewer on every run.
		for _, stmt := range []string{
			"CREATE KEYSPACE IF NOT EXISTS " + fliftKS + " WITH replication = " + nts(world.EUWest1.DC()),
			"CREATE TABLE " + scratchKS + ".vis (k int PRIMARY KEY, v text)",
			fmt.Sprintf(datasets[2].DDL, scratchKS),
		} {
			if err := global.Query(stmt).WithContext(ctx).Exec(); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	g.Go(func() error { return createKeyspaces(ctx, island, []keyspaceDef{{islandKS, []string{islandDC}, true}}) })
	return g.Wait()
}

// keyspaceDef is one of the demo's keyspaces: its replication (one replica in each of dcs) and
// whether it holds the datasets' tables.
type keyspaceDef struct {
	ks     string
	dcs    []string
	tables bool
}

// createKeyspaces drops and creates keyspaces of one cluster, one statement at a time.
func createKeyspaces(ctx context.Context, s *gocql.Session, kss []keyspaceDef) error {
	for _, k := range kss {
		if err := s.Query("DROP KEYSPACE IF EXISTS " + k.ks).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("drop %s: %w", k.ks, err)
		}
	}
	for _, k := range kss {
		if err := s.Query("CREATE KEYSPACE " + k.ks + " WITH replication = " + nts(k.dcs...)).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("create %s: %w", k.ks, err)
		}
		if !k.tables {
			continue
		}
		for _, d := range datasets {
			if err := s.Query(fmt.Sprintf(d.DDL, k.ks)).WithContext(ctx).Exec(); err != nil {
				return fmt.Errorf("create %s.%s: %w", k.ks, d.Table, err)
			}
		}
	}
	return nil
}

// nts is the replication of a keyspace with one replica in each of dcs.
func nts(dcs ...string) string {
	s := "{'class': 'NetworkTopologyStrategy'"
	for _, dc := range dcs {
		s += fmt.Sprintf(", '%s': 1", dc)
	}
	return s + "}"
}

// localDC is the datacenter of the node s is connected to.
func localDC(ctx context.Context, s *gocql.Session) (string, error) {
	var dc string
	if err := s.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&dc); err != nil {
		return "", fmt.Errorf("the node's datacenter: %w", err)
	}
	return dc, nil
}

// extend replicates the Americas keyspace demo_global to eu-west-1, as the seeds extended the
// Americas clusters: ALTER KEYSPACE adds the datacenter (new writes reach it from then on), and
// nodetool rebuild on the eu-west-1 node streams what us-east-1 already holds, through the WAN.
// Then eu-west-1 must hold every seeded row.
func (d *run) extend(ctx context.Context) error {
	t0 := time.Now()
	stmt := "ALTER KEYSPACE " + globalKS + " WITH replication = " + nts(world.USEast1.DC(), world.EUWest1.DC())
	usAdmin, err := d.admin(us)
	if err != nil {
		return err
	}
	if err := usAdmin.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	d.say("%s", stmt)
	t1 := time.Now()
	end := d.rec.phase("activity", "nodetool rebuild (eu-west-1 from us-east-1)")
	if _, err := d.regions("nodetool", "cassandra-eu-global", "rebuild", "-ks", globalKS, "--", world.USEast1.DC()); err != nil {
		return err
	}
	end()
	d.rep.Extension.RebuildSeconds = time.Since(t1).Seconds()
	s, err := d.localOnly(eu, cqlconn.RoleAdmin)
	if err != nil {
		return fmt.Errorf("connect to eu-west-1 alone: %w", err)
	}
	defer s.Close()
	var n int
	for _, ds := range datasets {
		var c int
		if err := s.Query("SELECT count(*) FROM " + globalKS + "." + ds.Table).Consistency(gocql.LocalOne).WithContext(ctx).Scan(&c); err != nil {
			return fmt.Errorf("count %s.%s in eu-west-1: %w", globalKS, ds.Table, err)
		}
		n += c
	}
	d.rep.Extension.RowsInEU, d.rep.Extension.Seconds = n, time.Since(t0).Seconds()
	d.say("nodetool rebuild -ks %s -- us-east-1 on eu-west-1's node: %.1fs; eu-west-1 now holds %d rows of %s (seeded: %d)",
		globalKS, d.rep.Extension.RebuildSeconds, n, globalKS, d.rep.Seeded[us])
	d.rep.check("keyspace extension: eu-west-1 holds every row of the Americas keyspace after the rebuild", n == d.rep.Seeded[us],
		fmt.Sprintf("%d of %d rows", n, d.rep.Seeded[us]))
	return nil
}
