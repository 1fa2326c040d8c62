package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/demo"
)

// TestDemoShort is `make demo` in its short size, the project's end-to-end test: the EU island
// merged into the global cluster's Americas keyspaces, which then replicate to eu-west-1; us-east-1
// cut off, killed and brought back; every check green.
func TestDemoShort(t *testing.T) {
	e := needServices(t)
	w := needWorld(t)
	w.Regions = e.Regions
	ensureRunning(t, e, "cassandra-us")
	ensureRunning(t, e, "memcached-us")
	setWAN(t, w, 35*time.Millisecond, 5*time.Millisecond) // and healed and given back when the test ends
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := demo.Run(ctx, demo.Options{Short: true, Out: t.TempDir(), Progress: &out, World: w})
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
