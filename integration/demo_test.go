package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/lab/demo"
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
	ensureRunning(t, e, "cassandra-eu-global")
	setWAN(t, w, 35*time.Millisecond, 5*time.Millisecond) // and healed and given back when the test ends
	var out strings.Builder
	dir := keptDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := demo.Run(ctx, demo.Options{Short: true, Out: dir, Progress: &out, World: w})
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
	// The real run feeds the report page: its timeline, and the page in a browser.
	for _, p := range rep.TimelineProblems() {
		t.Errorf("report timeline: %s", p)
	}
	checkReportPage(t, dir)
}

// checkReportPage loads dir/report.html in headless Chromium (scripts/browser): no problem at
// 1000 px or at a phone's width. Without Chromium it skips that part, except under
// ISLANDS_REQUIRE_SERVICES=1.
func checkReportPage(t *testing.T, dir string) {
	t.Helper()
	b, err := demo.FindBrowser()
	if err != nil {
		if os.Getenv("ISLANDS_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%v (scripts/test runs scripts/browser install)", err)
		}
		t.Logf("report page not checked in a browser: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checks, err := demo.CheckPage(ctx, b, filepath.Join(dir, "report.html"), demo.View{Width: 1000}, demo.View{Width: 390}, demo.View{Width: 718, Print: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		for _, p := range c.Problems() {
			t.Errorf("report page at %d px: %s", c.Width, p)
		}
	}
}
