// Package integration holds the tests that run against the real local regions started by
// scripts/regions: two Apache Cassandra clusters, two memcached servers and ElasticMQ. No fake stands
// in for any of them. The tests run in one package, one at a time, because fault tests pause and kill
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

// cluster returns a gocql cluster config for one local region's Cassandra.
func cluster(addr string) *gocql.ClusterConfig {
	c := gocql.NewCluster(addr)
	c.Timeout = 10 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.One
	c.DisableInitialHostLookup = true
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

// freshKeyspace drops and creates keyspace name (SimpleStrategy, RF 1) on s.
func freshKeyspace(t testing.TB, s *gocql.Session, name string) {
	t.Helper()
	ddl(t, s, "DROP KEYSPACE IF EXISTS "+name)
	ddl(t, s, fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}", name))
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

// sqsClient returns an SQS client of the local ElasticMQ (static dummy credentials: ElasticMQ does
// not check them, the SDK insists on some).
func sqsClient(e Env) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.SQSEndpoint),
		Credentials:  aws.AnonymousCredentials{},
	})
}
