package demo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// browser returns the Chromium for the browser tests. Without one the tests skip, except under
// ISLANDS_REQUIRE_SERVICES=1 (scripts/test), where scripts/browser install was to provide it.
func browser(t *testing.T) string {
	t.Helper()
	b, err := FindBrowser()
	if errors.Is(err, ErrNoBrowser) {
		if os.Getenv("ISLANDS_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%v (ISLANDS_REQUIRE_SERVICES=1: scripts/test runs scripts/browser install, which should have provided it)", err)
		}
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportInBrowser loads the page of the recorded run in headless Chromium at 1000 px, at a
// phone's width and as printed: no console error, no request for anything (self-contained), nothing wider
// than the viewport, every chart drawn with non-empty paths, tables and no <pre>. It leaves the
// screenshots in the test's temporary directory (and in ISLANDS_REPORT_SHOTS, if set).
func TestReportInBrowser(t *testing.T) {
	b := browser(t)
	r := goldenReport(t)
	dir := t.TempDir()
	if d := os.Getenv("ISLANDS_REPORT_SHOTS"); d != "" {
		dir = d
	}
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(r.html()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	png := filepath.Join(dir, "report.png")
	checks, err := CheckPage(ctx, b, file, View{Width: 1000, Screenshot: png}, View{Width: 390, Screenshot: filepath.Join(dir, "report-phone.png")},
		View{Width: 718, Print: true, Screenshot: filepath.Join(dir, "report-print.png")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		for _, p := range c.Problems() {
			t.Errorf("at %d px (print %v): %s", c.Width, c.Print, p)
		}
		if want := len(r.Timeline.Charts) + 1; len(c.Charts) != want {
			t.Errorf("at %d px: %d charts visible, want %d (the timeline and %d series charts)", c.Width, len(c.Charts), want, want-1)
		}
		if c.Tables < 8 {
			t.Errorf("at %d px: %d tables", c.Width, c.Tables)
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", png, err)
	}
}

// TestPageCheckSeesBrokenPages: the browser check must catch what the issue saw (terminal output
// in a <pre> running off the page) and the other ways a page breaks: a script error, a fetched
// resource, a chart whose line has nothing to draw.
func TestPageCheckSeesBrokenPages(t *testing.T) {
	b := browser(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "broken.html")
	broken := `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<link rel="stylesheet" href="http://127.0.0.1:1/style.css"></head><body>
<pre>` + strings.Repeat("us-east-1 island -> eu-west-1 global viewing_history  ", 8) + `</pre>
<figure class="chart" id="chart-empty"><svg viewBox="0 0 100 50"><path class="series" d="M10 10"/></svg></figure>
<script>console.error("boom"); undefinedFunction();</script></body></html>`
	if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checks, err := CheckPage(ctx, b, file, View{Width: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checks[0].Problems(), "\n")
	for _, want := range []string{"console: error: boom", "exception: ", "network request", "http://127.0.0.1:1/style.css",
		"px wide in a 1000 px viewport", "wider than the viewport: pre", "chart chart-empty: 0 of 1 series paths drawn", "1 <pre> blocks"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
