// Package integration holds the tests that run against the real local world started by
// scripts/regions: the global Cassandra cluster (datacenters us-east-1 and eu-west-1) and the EU
// island, two memcached servers, two ElasticMQ servers and the WAN (Toxiproxy) between the regions.
// No fake stands in for any of them. Tests that predate the world (Env) see two independent
// clusters: ISLANDS_US_CQL, the global cluster's us-east-1 node, and ISLANDS_EU_CQL, the EU island. The tests run in one package, one at a time, because fault tests pause and kill
// shared services.
//
// Run them with `make test`, or by hand:
//
//	eval "$(scripts/regions up)" && go test ./integration/
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab/world"
)

// Env is where the local regions' services listen (the ISLANDS_* variables of scripts/regions env).
type Env struct {
	USCQL, EUCQL             string
	USMemcached, EUMemcached string
	SQSEndpoint              string
	USQueue, EUQueue         string
	Regions                  string // path of scripts/regions, for faults
}

// needServices returns the environment of the local regions. Without it the test is skipped with a
// message saying how to run it, or fails when ISLANDS_REQUIRE_SERVICES=1 (as make test sets).
func needServices(t testing.TB) Env {
	t.Helper()
	e := Env{
		USCQL:       os.Getenv("ISLANDS_US_CQL"),
		EUCQL:       os.Getenv("ISLANDS_EU_CQL"),
		USMemcached: os.Getenv("ISLANDS_US_MEMCACHED"),
		EUMemcached: os.Getenv("ISLANDS_EU_MEMCACHED"),
		SQSEndpoint: os.Getenv("ISLANDS_SQS_ENDPOINT"),
		USQueue:     envOr("ISLANDS_US_QUEUE", "islands-us-east-1"),
		EUQueue:     envOr("ISLANDS_EU_QUEUE", "islands-eu-west-1"),
		Regions:     os.Getenv("ISLANDS_REGIONS"),
	}
	if e.USCQL == "" || e.EUCQL == "" || e.USMemcached == "" || e.EUMemcached == "" || e.SQSEndpoint == "" {
		msg := "local regions not configured (ISLANDS_US_CQL etc. unset): run `make test`, or " +
			"`eval \"$(scripts/regions up)\"` and then go test ./integration/"
		if os.Getenv("ISLANDS_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if e.Regions == "" {
		abs, err := filepath.Abs("../scripts/regions")
		if err != nil {
			t.Fatal(err)
		}
		e.Regions = abs
	}
	return e
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// fault runs scripts/regions ACTION SERVICE (pause, resume, kill, restart) and fails the test if
// the script does.
func fault(t testing.TB, e Env, action, service string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.Regions, action, service).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/regions %s %s: %v\n%s", action, service, err, out)
	}
	t.Logf("scripts/regions %s %s: %s", action, service, strings.TrimSpace(string(out)))
}

// pauseFor pauses a service and resumes it when the test ends, even if it fails.
func pauseFor(t testing.TB, e Env, service string) {
	t.Helper()
	fault(t, e, "pause", service)
	t.Cleanup(func() { fault(t, e, "resume", service) })
}

// withAccess applies role r's access to c (cqlconn.Role.Apply).
func withAccess(c *gocql.ClusterConfig, r cqlconn.Role) *gocql.ClusterConfig {
	if _, err := r.Apply(c); err != nil {
		panic(err)
	}
	return c
}

// cluster returns a gocql cluster config for one local region's Cassandra, as the admin role: a
// superuser, since tests make their own schema (the security tests use the programs' roles).
func cluster(addr string) *gocql.ClusterConfig {
	return clusterAs(addr, cqlconn.MustFromEnv(cqlconn.RoleAdmin))
}

// clusterAs is cluster with the given access (credentials and TLS) instead of the admin's.
func clusterAs(addr string, a cqlconn.Access) *gocql.ClusterConfig {
	c := gocql.NewCluster(addr)
	if err := a.Apply(c); err != nil {
		panic(err)
	}
	c.Timeout = 10 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.One
	c.DisableInitialHostLookup = true
	// Only this node, also after a topology event: a node of the two-datacenter global cluster
	// announces its peer (the other region's node) when it sees it again after a pause, and gocql
	// would then coordinate some requests in the other region, through the WAN. A test's session,
	// like an application's local one, talks to its own region.
	c.HostFilter = gocql.WhiteListHostFilter(addr)
	return c
}

// session opens a session to addr and closes it when the test ends.
func session(t testing.TB, addr string) *gocql.Session {
	t.Helper()
	s, err := cluster(addr).CreateSession()
	if err != nil {
		t.Fatalf("connect to Cassandra at %s: %v", addr, err)
	}
	t.Cleanup(s.Close)
	return s
}

// freshKeyspace drops and creates keyspace name on s with one replica, in the datacenter of the node
// s talks to only (NetworkTopologyStrategy): on the global cluster's us-east-1 node, a keyspace of
// the Americas island, as the one-node clusters of the earlier regions gave; SimpleStrategy there
// would put half the rows behind the WAN in eu-west-1.
func freshKeyspace(t testing.TB, s *gocql.Session, name string) {
	t.Helper()
	var dc string
	if err := s.Query("SELECT data_center FROM system.local").Scan(&dc); err != nil {
		t.Fatalf("the node's datacenter: %v", err)
	}
	ddl(t, s, "DROP KEYSPACE IF EXISTS "+name)
	ddl(t, s, fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': 1}", name, dc))
}

// ddl runs a schema statement and fails the test if it does not apply.
func ddl(t testing.TB, s *gocql.Session, stmt string) {
	t.Helper()
	if err := s.Query(stmt).Exec(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// memcached returns a client of one local region's memcached.
func memcached(addr string) *memcache.Client {
	c := memcache.New(addr)
	c.Timeout = 2 * time.Second
	return c
}

// sqsClient returns an SQS client of the local ElasticMQ, unsigned (aws.AnonymousCredentials):
// ElasticMQ does not check credentials; production uses the SDK's default chain.
func sqsClient(e Env) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.SQSEndpoint),
		Credentials:  aws.AnonymousCredentials{},
	})
}

// needWorld returns the whole world's environment (internal/world): skipped without it, or failed
// when ISLANDS_REQUIRE_SERVICES=1.
func needWorld(t testing.TB) world.Env {
	t.Helper()
	w, err := world.FromEnv()
	if err != nil {
		if os.Getenv("ISLANDS_REQUIRE_SERVICES") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return w
}

// setWAN sets the WAN's delay for the test and gives it back, healed, when the test ends.
func setWAN(t testing.TB, w world.Env, oneWay, jitter time.Duration) {
	t.Helper()
	setWANLink(t, w, world.Link{OneWay: oneWay, Jitter: jitter})
}

// setWANLink gives the WAN the delays of l (healed) for the test and gives it back, healed, when the
// test ends.
func setWANLink(t testing.TB, w world.Env, l world.Link) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := w.WAN().Link(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		before.Partitioned, before.Isolated = false, world.Link{}.Isolated
		if err := w.WAN().Apply(ctx, before); err != nil {
			t.Errorf("restoring the WAN: %v", err)
		}
	})
	l.Partitioned, l.Isolated = false, world.Link{}.Isolated
	if err := w.WAN().Apply(ctx, l); err != nil {
		t.Fatal(err)
	}
}
