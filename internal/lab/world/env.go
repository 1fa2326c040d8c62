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

// The two regions of the world; each is also the name of its datacenter in the global cluster.
const (
	USEast1 Region = "us-east-1"
	EUWest1 Region = "eu-west-1"
)

// Regions lists the world's regions.
var Regions = []Region{USEast1, EUWest1}

// Known reports whether r is a region of the world.
func Known(r Region) bool { return slices.Contains(Regions, r) }

// Other returns the other region.
func (r Region) Other() Region {
	if r == USEast1 {
		return EUWest1
	}
	return USEast1
}

// DC returns the region's datacenter name in the global cluster.
func (r Region) DC() string { return string(r) }

// ErrNotConfigured is returned by FromEnv when ISLANDS_* variables are missing.
var ErrNotConfigured = errors.New("world: local world not configured")

// Env is where the world's services listen: the ISLANDS_* variables `scripts/regions env` prints.
// A *WAN field is the address of a service as reached from the other region (through the WAN).
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

// GlobalCQL returns the global cluster's node of region r, as an application in region from
// reaches it: directly within the region, through the WAN across.
func (e Env) GlobalCQL(from, r Region) string {
	switch {
	case r == USEast1 && from == r:
		return e.GlobalUSCQL
	case r == USEast1:
		return e.GlobalUSCQLWAN
	case from == r:
		return e.GlobalEUCQL
	default:
		return e.GlobalEUCQLWAN
	}
}

// SQS returns region to's SQS server as a client in region from reaches it.
func (e Env) SQS(from, to Region) string {
	switch {
	case to == USEast1 && from == to:
		return e.USSQSEndpoint
	case to == USEast1:
		return e.USSQSEndpointWAN
	case from == to:
		return e.EUSQSEndpoint
	default:
		return e.EUSQSEndpointWAN
	}
}

// Memcached returns region r's memcached.
func (e Env) Memcached(r Region) string {
	if r == USEast1 {
		return e.USMemcached
	}
	return e.EUMemcached
}

// Queue returns region r's queue name.
func (e Env) Queue(r Region) string {
	if r == USEast1 {
		return e.USQueue
	}
	return e.EUQueue
}

// WAN returns the client of the world's WAN.
func (e Env) WAN() *WAN { return NewWAN(e.WANAPI) }
