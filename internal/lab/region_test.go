package lab

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab/world"
)

// testEnv is a world's addresses; nothing listens there (Open dials nothing).
var testEnv = world.Env{
	GlobalUSCQL: "127.0.5.1:9042", GlobalEUCQL: "127.0.6.1:9042",
	GlobalUSCQLWAN: "127.0.15.1:9042", GlobalEUCQLWAN: "127.0.16.1:9042",
	USMemcached: "127.0.5.1:11211", EUMemcached: "127.0.6.1:11211",
	USSQSEndpoint: "http://127.0.5.1:9324", EUSQSEndpoint: "http://127.0.6.1:9324",
	USSQSEndpointWAN: "http://127.0.15.1:9324", EUSQSEndpointWAN: "http://127.0.16.1:9324",
	USQueue: "islands-us-east-1", EUQueue: "islands-eu-west-1",
	GlobalUSWCQL: "127.0.8.1:9042", GlobalUSWCQLWANFromUS: "127.0.18.5:9042", GlobalUSWCQLWANFromEU: "127.0.18.6:9042",
	GlobalUSCQLWANFromUSW: "127.0.15.8:9042", GlobalEUCQLWANFromUSW: "127.0.16.8:9042",
	USWMemcached: "127.0.8.1:11211", USWSQSEndpoint: "http://127.0.8.1:9324",
	USWSQSEndpointWANFromUS: "http://127.0.18.5:9324", USWSQSEndpointWANFromEU: "http://127.0.18.6:9324",
	USSQSEndpointWANFromUSW: "http://127.0.15.8:9324", EUSQSEndpointWANFromUSW: "http://127.0.16.8:9324",
	USWQueue: "islands-us-west-2",
}

// Each handle reaches its own region's services directly and every other region's through the
// WAN, for every pair of regions.
func TestRegionPathsFollowTheWorld(t *testing.T) {
	ctx := context.Background()
	configured := 0
	rs, err := OpenAll(ctx, testEnv, Options{Configure: func(c *gocql.ClusterConfig) { configured++; c.Timeout = 42 * time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(rs)
	if len(rs) != len(world.Regions) {
		t.Fatalf("%d handles for %d regions", len(rs), len(world.Regions))
	}
	for i, r := range rs {
		if r.Name != world.Regions[i] {
			t.Errorf("handle %d is %s, want %s", i, r.Name, world.Regions[i])
		}
		if len(r.Others()) != len(world.Regions)-1 {
			t.Errorf("%s: others %v", r.Name, r.Others())
		}
		for _, to := range world.Regions {
			got := aws.ToString(r.SQSTo(to).Options().BaseEndpoint)
			if want := testEnv.SQS(r.Name, to); got != want {
				t.Errorf("%s -> SQS of %s: %s, want %s", r.Name, to, got, want)
			}
		}
		c := r.Cluster()
		if len(c.Hosts) != 1 || c.Hosts[0] != testEnv.GlobalCQL(r.Name, r.Name) || c.Timeout != 42*time.Second {
			t.Errorf("%s: cluster hosts %v timeout %v, want its own node %s and the configured timeout", r.Name, c.Hosts, c.Timeout, testEnv.GlobalCQL(r.Name, r.Name))
		}
		for _, o := range r.Others() {
			host, port, _ := net.SplitHostPort(testEnv.GlobalCQL(o, o))
			ip, p := c.AddressTranslator.Translate(net.ParseIP(host), atoi(t, port))
			if got, want := net.JoinHostPort(ip.String(), itoa(p)), testEnv.GlobalCQL(r.Name, o); got != want {
				t.Errorf("%s reaches %s's node at %s, want %s (the WAN)", r.Name, o, got, want)
			}
		}
		if r.LocalOnly().HostFilter == nil {
			t.Errorf("%s: LocalOnly has no host filter", r.Name)
		}
	}
	if configured == 0 {
		t.Error("Options.Configure never called")
	}
}

func TestOpenRefusesAnUnknownRegion(t *testing.T) {
	if _, err := Open(context.Background(), testEnv, "mars-north-1", Options{}); err == nil {
		t.Fatal("Open(mars-north-1): no error")
	}
}

// After Close a handle opens nothing; Close is idempotent.
func TestRegionCloseIsFinal(t *testing.T) {
	r, err := Open(context.Background(), testEnv, world.USEast1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Session(cqlconn.RoleApp); !errors.Is(err, ErrClosed) {
		t.Errorf("Session after Close: %v, want ErrClosed", err)
	}
	if err := r.StartCache(context.Background(), CacheOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("StartCache after Close: %v, want ErrClosed", err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
