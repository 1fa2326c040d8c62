package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/examples/viewinghistory"
	"github.com/globalcloud/islands/internal/lab/world"
	"github.com/globalcloud/islands/migration"
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
// Americas island demo_global, replicated in us-east-1 and us-west-2 only as the Americas
// keyspaces were before the migration, demo_scratch (every datacenter: the distance figures'
// probes and copies of the viewing histories) and, when missing, forklift's checkpoint keyspace
// (eu-west-1, where forklift runs) and the migration's control keyspace (every datacenter, as
// `islands migration set` creates it); on the EU island demo_island, in its own datacenter.
// The two clusters' schemas are made at the same time.
func createSchema(ctx context.Context, global, island *gocql.Session) error {
	islandDC, err := localDC(ctx, island)
	if err != nil {
		return err
	}
	var every []string
	for _, r := range world.Regions {
		every = append(every, r.DC())
	}
	var g errgroup.Group
	g.Go(func() error {
		if err := createKeyspaces(ctx, global, []keyspaceDef{{globalKS, []string{world.USEast1.DC(), world.USWest2.DC()}, true}}); err != nil {
			return err
		}
		// demo_scratch, forklift's checkpoints and the control keyspace stay from run to run (each
		// run has its own probe keys, run ids and migration name): schema changes fewer on every
		// run, each of which waits for every datacenter to agree.
		for _, stmt := range []string{
			"CREATE KEYSPACE IF NOT EXISTS " + scratchKS + " WITH replication = " + nts(every...),
			"CREATE KEYSPACE IF NOT EXISTS " + fliftKS + " WITH replication = " + nts(world.EUWest1.DC()),
		} {
			if err := global.Query(stmt).WithContext(ctx).Exec(); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		if err := replicate(ctx, global, scratchKS, every); err != nil {
			return err
		}
		for _, stmt := range []string{
			"CREATE TABLE IF NOT EXISTS " + scratchKS + ".probes (run bigint, k int, v text, PRIMARY KEY ((run, k)))",
			strings.Replace(fmt.Sprintf(datasets[2].DDL, scratchKS), "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1),
		} {
			if err := global.Query(stmt).WithContext(ctx).Exec(); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		rep := map[string]int{}
		for _, dc := range every {
			rep[dc] = 1
		}
		if err := migration.NewStore(global, controlKS).EnsureSchema(ctx, rep); err != nil {
			return fmt.Errorf("the control keyspace %s: %w", controlKS, err)
		}
		return nil
	})
	g.Go(func() error { return createKeyspaces(ctx, island, []keyspaceDef{{islandKS, []string{islandDC}, true}}) })
	return g.Wait()
}

// replicate makes ks, kept from an earlier run, replicated once in each of dcs (an earlier run may
// have made it for fewer regions): ALTER KEYSPACE only when its replication differs.
func replicate(ctx context.Context, s *gocql.Session, ks string, dcs []string) error {
	var rep map[string]string
	if err := s.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", ks).WithContext(ctx).Scan(&rep); err != nil {
		return fmt.Errorf("the replication of %s: %w", ks, err)
	}
	same := len(rep) == len(dcs)+1 // and "class"
	for _, dc := range dcs {
		same = same && rep[dc] == "1"
	}
	if same {
		return nil
	}
	stmt := "ALTER KEYSPACE " + ks + " WITH replication = " + nts(dcs...)
	if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
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
// Then eu-west-1 — and us-west-2, which has replicated the keyspace since it was created — must
// hold every seeded row.
func (d *run) extend(ctx context.Context) error {
	t0 := time.Now()
	stmt := "ALTER KEYSPACE " + globalKS + " WITH replication = " + nts(world.USEast1.DC(), world.EUWest1.DC(), world.USWest2.DC())
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
	counts := map[int]int{}
	for _, r := range []int{eu, usw} {
		s, err := d.localOnly(r, cqlconn.RoleAdmin)
		if err != nil {
			return fmt.Errorf("connect to %s alone: %w", regionNames[r], err)
		}
		for _, ds := range datasets {
			var c int
			if err := s.Query("SELECT count(*) FROM " + globalKS + "." + ds.Table).Consistency(gocql.LocalOne).WithContext(ctx).Scan(&c); err != nil {
				s.Close()
				return fmt.Errorf("count %s.%s in %s: %w", globalKS, ds.Table, regionNames[r], err)
			}
			counts[r] += c
		}
		s.Close()
	}
	d.rep.Extension.RowsInEU, d.rep.Extension.RowsInUSW, d.rep.Extension.Seconds = counts[eu], counts[usw], time.Since(t0).Seconds()
	d.say("nodetool rebuild -ks %s -- us-east-1 on eu-west-1's node: %.1fs; eu-west-1 now holds %d rows of %s, us-west-2 %d (seeded: %d)",
		globalKS, d.rep.Extension.RebuildSeconds, counts[eu], globalKS, counts[usw], d.rep.Seeded[us])
	d.rep.check("keyspace extension: eu-west-1 (rebuilt) and us-west-2 hold every row of the Americas keyspace", counts[eu] == d.rep.Seeded[us] && counts[usw] == d.rep.Seeded[us],
		fmt.Sprintf("%d and %d of %d rows", counts[eu], counts[usw], d.rep.Seeded[us]))
	return nil
}
