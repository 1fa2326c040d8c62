package world

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gocql/gocql"
)

// Translator returns the gocql AddressTranslator of an application in region from, as EC2
// multi-region deployments use: every other region's global node, which Cassandra advertises at its
// own address, is reached at its WAN address; every other address is left as it is.
func (e Env) Translator(from Region) gocql.AddressTranslator {
	type hostPort struct {
		ip   string
		port int
	}
	wan := map[hostPort]hostPort{}
	for _, other := range Regions {
		if other == from {
			continue
		}
		dh, dp, err1 := splitHostPort(e.GlobalCQL(other, other))
		wh, wp, err2 := splitHostPort(e.GlobalCQL(from, other))
		if err1 != nil || err2 != nil {
			return gocql.IdentityTranslator()
		}
		wan[hostPort{dh.String(), dp}] = hostPort{wh.String(), wp}
	}
	return gocql.AddressTranslatorFunc(func(addr net.IP, port int) (net.IP, int) {
		if to, ok := wan[hostPort{addr.String(), port}]; ok {
			return net.ParseIP(to.ip), to.port
		}
		return addr, port
	})
}

func splitHostPort(hostport string) (net.IP, int, error) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, 0, fmt.Errorf("world: address %q: %w", hostport, err)
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return nil, 0, fmt.Errorf("world: address %q: not an IP", hostport)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, 0, fmt.Errorf("world: address %q: %w", hostport, err)
	}
	return ip, port, nil
}

// GlobalCluster returns the gocql configuration of an application in region from on the global
// cluster: contact point its own region's node, token- and DC-aware routing that prefers its own
// datacenter, the other region's node through the WAN (Translator), LOCAL_QUORUM.
func (e Env) GlobalCluster(from Region) *gocql.ClusterConfig {
	c := gocql.NewCluster(e.GlobalCQL(from, from))
	c.Timeout = 10 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.LocalQuorum
	c.AddressTranslator = e.Translator(from)
	c.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(from.DC()))
	return c
}
