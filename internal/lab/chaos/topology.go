package chaos

import (
	"fmt"

	"github.com/globalcloud/islands/internal/lab/world"
)

// The campaign's topology is the seeds' (docs/world.md): a global keyspace replicated in every
// datacenter of the global cluster (NetworkTopologyStrategy, one replica in each of the three
// regions), written by every region's writers at LOCAL_QUORUM through their own region's node, and
// the EU island, which the EU writers dual-write beside the global keyspace (dualwrite: the island
// the primary, the global keyspace the secondary) as instances of one migration whose phase the
// nemesis flips through the control plane. Cache events to another region go to that region's SQS
// server through the WAN; the global keyspace's replication crosses the WAN too, so a partition or
// a latency spike reaches what the workload uses.

// Regions of the world, in world.Regions' order.
var Regions = []string{string(world.USEast1), string(world.EUWest1), string(world.USWest2)}

// EURegion is the region of the EU island, whose writers dual-write it.
const EURegion = string(world.EUWest1)

// Side names a copy of the data the checker reads after healing: each datacenter of the global
// keyspace ("global/<region>") and the EU island ("island/eu-west-1").
func globalSide(region string) string { return "global/" + region }

// IslandSide is the EU island's side.
const IslandSide = "island/" + EURegion

// Sides returns every side of the topology, global datacenters first.
func Sides() []string {
	var out []string
	for _, r := range Regions {
		out = append(out, globalSide(r))
	}
	return append(out, IslandSide)
}

// SideHolds returns the regions whose writes a side must hold: every region's for the global
// keyspace, the EU writers' for the island (nil = every writer).
func SideHolds() map[string][]string { return map[string][]string{IslandSide: {EURegion}} }

// short is a region's short name, as scripts/regions names its services (cassandra-us, -eu, -usw).
func short(region string) string {
	switch region {
	case "us-east-1":
		return "us"
	case "eu-west-1":
		return "eu"
	case "us-west-2":
		return "usw"
	}
	if len(region) >= 2 {
		return region[:2]
	}
	return region
}

// globalService is scripts/regions' name of region's node of the global cluster.
func globalService(region string) string {
	if region == EURegion {
		return "cassandra-eu-global"
	}
	return "cassandra-" + short(region)
}

// islandService is the EU island's node.
const islandService = "cassandra-eu"

// Env is where the world's services listen (the ISLANDS_* variables of scripts/regions env), as
// the campaign uses them.
type Env struct {
	// GlobalCQL is, per region, its node of the global cluster reached from its own region.
	GlobalCQL map[string]string
	// IslandCQL is the EU island (its own cluster, in eu-west-1).
	IslandCQL string
	// Memcached is each region's memcached.
	Memcached map[string]string
	// SQSRoutes is each region's SQS server as each region reaches it, keyed "from>to": within a
	// region directly, across regions through the WAN.
	SQSRoutes map[string]string
	Regions   string // path of scripts/regions
}

// SQS returns region to's SQS server as a client in region from reaches it.
func (e Env) SQS(from, to string) string { return e.SQSRoutes[from+">"+to] }

// EnvFromOS reads the world through the lab's world package (world.FromEnv: the ISLANDS_*
// variables), as EnvFromWorld maps it.
func EnvFromOS() (Env, error) {
	w, err := world.FromEnv()
	if err != nil {
		return Env{}, fmt.Errorf("chaos: %w", err)
	}
	return EnvFromWorld(w)
}

// EnvFromWorld is the campaign's part of world w: each region's node of the global cluster, the
// EU island, each region's memcached, every SQS route, and scripts/regions (for the faults).
func EnvFromWorld(w world.Env) (Env, error) {
	e := Env{GlobalCQL: map[string]string{}, IslandCQL: w.EUIslandCQL, Memcached: map[string]string{},
		SQSRoutes: map[string]string{}, Regions: w.Regions}
	for _, r := range world.Regions {
		e.GlobalCQL[string(r)] = w.GlobalCQL(r, r)
		e.Memcached[string(r)] = w.Memcached(r)
		for _, to := range world.Regions {
			e.SQSRoutes[string(r)+">"+string(to)] = w.SQS(r, to)
		}
	}
	if e.Regions == "" {
		return e, fmt.Errorf("chaos: %w: ISLANDS_REGIONS unset (eval \"$(scripts/regions env)\" after scripts/regions up)", world.ErrNotConfigured)
	}
	return e, nil
}

// writerSpec is one writer process of the campaign: its name (the prefix of its operation ids),
// its region, and whether it is an instance of the migration (an EU writer: dualwrite of the
// island and the global keyspace).
type writerSpec struct {
	name, region string
	migrating    bool
}

// writerSpecs are the campaign's writers: one per region, and a second EU instance, so a flip of
// the migration has a fleet to wait for and an instance to lose mid-flip.
func writerSpecs() []writerSpec {
	return []writerSpec{{"us", "us-east-1", false}, {"eu", EURegion, true}, {"usw", "us-west-2", false}, {"eub", EURegion, true}}
}

// writerName returns the name of the writer that recorded process proc ("writer-eub#2" ->
// "writer-eub").
func writerName(proc string) string {
	for i := len(proc) - 1; i >= 0; i-- {
		if proc[i] == '#' {
			return proc[:i]
		}
	}
	return proc
}
