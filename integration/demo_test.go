package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/demo"
)

// TestDemoShort is `make demo` in its short size, the project's end-to-end test: two islands
// merged into one global cloud, one region evacuated and brought back, every check green.
func TestDemoShort(t *testing.T) {
	e := needServices(t)
	ensureRunning(t, e, "cassandra-us")
	ensureRunning(t, e, "memcached-us")
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := demo.Run(ctx, demo.Options{Short: true, Out: t.TempDir(), Progress: &out,
		USCQL: e.USCQL, EUCQL: e.EUCQL, USMemcached: e.USMemcached, EUMemcached: e.EUMemcached,
		SQSEndpoint: e.SQSEndpoint, USQueue: e.USQueue, EUQueue: e.EUQueue, Regions: e.Regions})
	if rep != nil {
		rep.Print(&out)
	}
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatal("demo checks failed")
	}
}
