package world

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Region is an AWS region of the world.
type Region string

// The three regions of the world; each is also the name of its datacenter in the global cluster.
const (
	USEast1 Region = "us-east-1"
	EUWest1 Region = "eu-west-1"
	USWest2 Region = "us-west-2"
)

// Regions lists the world's regions: the first two are the earlier two-region world's.
var Regions = []Region{USEast1, EUWest1, USWest2}

// regionCount is len(Regions), as a constant (the WAN's per-region arrays).
const regionCount = 3

// Known reports whether r is a region of the world.
func Known(r Region) bool { return slices.Contains(Regions, r) }

// index returns r's position in Regions, or -1.
func (r Region) index() int { return slices.Index(Regions, r) }

// Others returns every region of the world but r, in Regions' order.
func (r Region) Others() []Region {
	out := make([]Region, 0, len(Regions)-1)
	for _, o := range Regions {
		if o != r {
			out = append(out, o)
		}
	}
	return out
}

// DC returns the region's datacenter name in the global cluster.
func (r Region) DC() string { return string(r) }

// ErrNotConfigured is returned by FromEnv when ISLANDS_* variables are missing.
var ErrNotConfigured = errors.New("world: local world not configured")

// Env is where the world's services listen: the ISLANDS_* variables `scripts/regions env` prints.
// A *WAN field is the address of a service as reached from another region (through the WAN): the
// earlier names (no _FROM_ part) from the other of the first two regions, us-east-1 and eu-west-1;
// a *WANFrom<R> field from region R. Each directed pair of regions has its own WAN address, so each
// pair gets its own distance.
type Env struct {
	// USCQL and EUCQL are the two independent clusters of the earlier two-region world, kept with
	// that meaning: USCQL is the global cluster's us-east-1 node, EUCQL the EU island.
	USCQL, EUCQL string
	// GlobalUSCQL and GlobalEUCQL are the global cluster's nodes, reached from their own region.
	GlobalUSCQL, GlobalEUCQL string
	// GlobalUSCQLWAN and GlobalEUCQLWAN are the same nodes reached from the other region.
	GlobalUSCQLWAN, GlobalEUCQLWAN string
	// EUIslandCQL is the EU island: its own single-node cluster in eu-west-1.
	EUIslandCQL string
	// USMemcached and EUMemcached are each region's memcached.
	USMemcached, EUMemcached string
	// SQSEndpoint is the legacy single endpoint: the us-east-1 server (it holds every queue).
	SQSEndpoint string
	// USSQSEndpoint and EUSQSEndpoint are each region's ElasticMQ, reached from its own region.
	USSQSEndpoint, EUSQSEndpoint string
	// USSQSEndpointWAN and EUSQSEndpointWAN are the same servers reached from the other region.
	USSQSEndpointWAN, EUSQSEndpointWAN string
	// USQueue and EUQueue are each region's queue name (cross-region cache events).
	USQueue, EUQueue string
	// WANAPI is the Toxiproxy HTTP API that controls the WAN.
	WANAPI string
	// Regions is the path of scripts/regions (faults: pause, kill, restart).
	Regions string

	// GlobalUSWCQL is the global cluster's us-west-2 node, reached from its own region.
	GlobalUSWCQL string
	// GlobalUSWCQLWANFromUS and GlobalUSWCQLWANFromEU are us-west-2's node reached from us-east-1
	// and from eu-west-1.
	GlobalUSWCQLWANFromUS, GlobalUSWCQLWANFromEU string
	// GlobalUSCQLWANFromUSW and GlobalEUCQLWANFromUSW are us-east-1's and eu-west-1's nodes
	// reached from us-west-2.
	GlobalUSCQLWANFromUSW, GlobalEUCQLWANFromUSW string
	// USWMemcached is us-west-2's memcached.
	USWMemcached string
	// USWSQSEndpoint is us-west-2's ElasticMQ, reached from its own region.
	USWSQSEndpoint string
	// USWSQSEndpointWANFromUS and USWSQSEndpointWANFromEU are us-west-2's ElasticMQ reached from
	// us-east-1 and from eu-west-1.
	USWSQSEndpointWANFromUS, USWSQSEndpointWANFromEU string
	// USSQSEndpointWANFromUSW and EUSQSEndpointWANFromUSW are us-east-1's and eu-west-1's
	// ElasticMQ reached from us-west-2.
	USSQSEndpointWANFromUSW, EUSQSEndpointWANFromUSW string
	// USWQueue is us-west-2's queue name.
	USWQueue string
}

// vars maps each ISLANDS_* variable to its field; the required ones have no default.
func (e *Env) vars() []struct {
	name, def string
	dst       *string
} {
	return []struct {
		name, def string
		dst       *string
	}{
		{"ISLANDS_US_CQL", "", &e.USCQL},
		{"ISLANDS_EU_CQL", "", &e.EUCQL},
		{"ISLANDS_GLOBAL_US_CQL", "", &e.GlobalUSCQL},
		{"ISLANDS_GLOBAL_EU_CQL", "", &e.GlobalEUCQL},
		{"ISLANDS_GLOBAL_US_CQL_WAN", "", &e.GlobalUSCQLWAN},
		{"ISLANDS_GLOBAL_EU_CQL_WAN", "", &e.GlobalEUCQLWAN},
		{"ISLANDS_EU_ISLAND_CQL", "", &e.EUIslandCQL},
		{"ISLANDS_US_MEMCACHED", "", &e.USMemcached},
		{"ISLANDS_EU_MEMCACHED", "", &e.EUMemcached},
		{"ISLANDS_SQS_ENDPOINT", "", &e.SQSEndpoint},
		{"ISLANDS_US_SQS_ENDPOINT", "", &e.USSQSEndpoint},
		{"ISLANDS_EU_SQS_ENDPOINT", "", &e.EUSQSEndpoint},
		{"ISLANDS_US_SQS_ENDPOINT_WAN", "", &e.USSQSEndpointWAN},
		{"ISLANDS_EU_SQS_ENDPOINT_WAN", "", &e.EUSQSEndpointWAN},
		{"ISLANDS_US_QUEUE", "islands-us-east-1", &e.USQueue},
		{"ISLANDS_EU_QUEUE", "islands-eu-west-1", &e.EUQueue},
		{"ISLANDS_WAN", "", &e.WANAPI},
		{"ISLANDS_REGIONS", "", &e.Regions},
		{"ISLANDS_GLOBAL_USW_CQL", "", &e.GlobalUSWCQL},
		{"ISLANDS_GLOBAL_USW_CQL_WAN_FROM_US", "", &e.GlobalUSWCQLWANFromUS},
		{"ISLANDS_GLOBAL_USW_CQL_WAN_FROM_EU", "", &e.GlobalUSWCQLWANFromEU},
		{"ISLANDS_GLOBAL_US_CQL_WAN_FROM_USW", "", &e.GlobalUSCQLWANFromUSW},
		{"ISLANDS_GLOBAL_EU_CQL_WAN_FROM_USW", "", &e.GlobalEUCQLWANFromUSW},
		{"ISLANDS_USW_MEMCACHED", "", &e.USWMemcached},
		{"ISLANDS_USW_SQS_ENDPOINT", "", &e.USWSQSEndpoint},
		{"ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_US", "", &e.USWSQSEndpointWANFromUS},
		{"ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_EU", "", &e.USWSQSEndpointWANFromEU},
		{"ISLANDS_US_SQS_ENDPOINT_WAN_FROM_USW", "", &e.USSQSEndpointWANFromUSW},
		{"ISLANDS_EU_SQS_ENDPOINT_WAN_FROM_USW", "", &e.EUSQSEndpointWANFromUSW},
		{"ISLANDS_USW_QUEUE", "islands-us-west-2", &e.USWQueue},
	}
}

// FromEnv reads the ISLANDS_* variables. It returns an error wrapping ErrNotConfigured that names
// every missing variable (ISLANDS_REGIONS may be missing: callers default it).
func FromEnv() (Env, error) { return fromLookup(os.LookupEnv) }

func fromLookup(lookup func(string) (string, bool)) (Env, error) {
	var e Env
	var missing []string
	for _, v := range e.vars() {
		val, _ := lookup(v.name)
		if val == "" {
			val = v.def
		}
		if val == "" && v.name != "ISLANDS_REGIONS" {
			missing = append(missing, v.name)
		}
		*v.dst = val
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("%w: %s unset (eval \"$(scripts/regions env)\" after scripts/regions up)",
			ErrNotConfigured, strings.Join(missing, ", "))
	}
	return e, nil
}

// route is a directed pair of regions: a client in from reaching a service of to.
type route struct{ from, to Region }

// globalCQL is the table of the global cluster's routes: each node from every region.
func (e Env) globalCQL() map[route]string {
	return map[route]string{
		{USEast1, USEast1}: e.GlobalUSCQL, {EUWest1, USEast1}: e.GlobalUSCQLWAN, {USWest2, USEast1}: e.GlobalUSCQLWANFromUSW,
		{EUWest1, EUWest1}: e.GlobalEUCQL, {USEast1, EUWest1}: e.GlobalEUCQLWAN, {USWest2, EUWest1}: e.GlobalEUCQLWANFromUSW,
		{USWest2, USWest2}: e.GlobalUSWCQL, {USEast1, USWest2}: e.GlobalUSWCQLWANFromUS, {EUWest1, USWest2}: e.GlobalUSWCQLWANFromEU,
	}
}

// sqs is the table of the SQS routes: each region's server from every region.
func (e Env) sqs() map[route]string {
	return map[route]string{
		{USEast1, USEast1}: e.USSQSEndpoint, {EUWest1, USEast1}: e.USSQSEndpointWAN, {USWest2, USEast1}: e.USSQSEndpointWANFromUSW,
		{EUWest1, EUWest1}: e.EUSQSEndpoint, {USEast1, EUWest1}: e.EUSQSEndpointWAN, {USWest2, EUWest1}: e.EUSQSEndpointWANFromUSW,
		{USWest2, USWest2}: e.USWSQSEndpoint, {USEast1, USWest2}: e.USWSQSEndpointWANFromUS, {EUWest1, USWest2}: e.USWSQSEndpointWANFromEU,
	}
}

// GlobalCQL returns the global cluster's node of region r, as an application in region from
// reaches it: directly within the region, through that pair's WAN address across ("" for a region
// not of the world).
func (e Env) GlobalCQL(from, r Region) string { return e.globalCQL()[route{from, r}] }

// SQS returns region to's SQS server as a client in region from reaches it ("" for a region not of
// the world).
func (e Env) SQS(from, to Region) string { return e.sqs()[route{from, to}] }

// Memcached returns region r's memcached.
func (e Env) Memcached(r Region) string {
	return map[Region]string{USEast1: e.USMemcached, EUWest1: e.EUMemcached, USWest2: e.USWMemcached}[r]
}

// Queue returns region r's queue name.
func (e Env) Queue(r Region) string {
	return map[Region]string{USEast1: e.USQueue, EUWest1: e.EUQueue, USWest2: e.USWQueue}[r]
}

// WAN returns the client of the world's WAN.
func (e Env) WAN() *WAN { return NewWAN(e.WANAPI) }
