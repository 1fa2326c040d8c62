package demo

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.html from testdata/report.json")

// goldenReport is the report.json of a recorded `islands-lab demo --short` run.
func goldenReport(t *testing.T) *Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReportHTMLGolden renders the recorded run and compares it with the reviewed page
// (go test -run TestReportHTMLGolden ./internal/demo -update rewrites it; look at the diff).
func TestReportHTMLGolden(t *testing.T) {
	got := goldenReport(t).html()
	golden := filepath.Join("testdata", "report.golden.html")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				c := 0
				for c < min(len(gl[i]), len(wl[i])) && gl[i][c] == wl[i][c] {
					c++
				}
				from := max(c-60, 0)
				t.Fatalf("report.html differs from %s at line %d, column %d (-update rewrites it):\n got: …%.160s\nwant: …%.160s",
					golden, i+1, c+1, gl[i][from:], wl[i][from:])
			}
		}
		t.Fatalf("report.html differs from %s in length: %d lines, want %d", golden, len(gl), len(wl))
	}
}

// TestReportHTMLStructure checks what the page promises, whatever the golden file says.
func TestReportHTMLStructure(t *testing.T) {
	r := goldenReport(t)
	page := r.html()
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllStringIndex(page, -1)) }

	if n := count(`<pre`); n != 0 {
		t.Errorf("%d <pre> blocks: every figure goes in a table", n)
	}
	// Self-contained: nothing to fetch when the page is viewed.
	for _, re := range []string{`<script`, `<link`, `<img`, `src=`, `href=`, `url\(`, `@import`, `<iframe`} {
		if n := count(re); n != 0 {
			t.Errorf("%d of %s: the page must be self-contained", n, re)
		}
	}
	// The timeline and one figure per chart, each drawn for both sizes.
	if n := count(`<figure class="chart" id="timeline"`); n != 1 {
		t.Errorf("%d timelines", n)
	}
	for _, c := range r.Timeline.Charts {
		fig := regexp.MustCompile(`(?s)<figure class="chart" id="chart-` + c.ID + `">.*?</figure>`).FindString(page)
		if fig == "" {
			t.Errorf("chart %s missing", c.ID)
			continue
		}
		for _, size := range []string{"wide", "narrow"} {
			svg := regexp.MustCompile(`(?s)<svg class="chart-svg ` + size + `".*?</svg>`).FindString(fig)
			paths := regexp.MustCompile(`<path class="series" d="M[^"]+L[^"]+"`).FindAllString(svg, -1)
			if len(paths) != len(c.Series) || len(paths) == 0 {
				t.Errorf("chart %s (%s): %d drawn series paths, %d series", c.ID, size, len(paths), len(c.Series))
			}
			if !strings.Contains(svg, `class="tick-label"`) {
				t.Errorf("chart %s (%s) has no tick labels", c.ID, size)
			}
		}
		if !strings.Contains(fig, `<span class="unit">`+c.Unit+`</span>`) {
			t.Errorf("chart %s: unit %q not shown", c.ID, c.Unit)
		}
		for _, s := range c.Series {
			if !strings.Contains(fig, "</span>"+s.Label+"</li>") {
				t.Errorf("chart %s: legend lacks %q", c.ID, s.Label)
			}
		}
	}
	// Every phase and fault is on the timeline.
	for _, p := range append(r.Timeline.Phases, r.Timeline.Faults...) {
		if p.Lane != "flip" && !strings.Contains(page, "<title>"+escText(p.Name)) && !strings.Contains(page, "<title>"+p.Lane+" "+escText(p.Name)) {
			t.Errorf("span %q not on the timeline", p.Name)
		}
	}
	// Tables, with numbers right-aligned and written with thousands separators.
	for _, id := range []string{"checks", "plan", "flows", "verify", "dual-writes", "cache-events", "regions", "phases"} {
		if !strings.Contains(page, `<section class="table" id="`+id+`">`) {
			t.Errorf("table %s missing", id)
		}
	}
	if n := count(`<td class="(num )?(ok|fail)">(pass|FAIL)</td>`); n < len(r.Checks) {
		t.Errorf("%d verdict cells for %d checks", n, len(r.Checks))
	}
	if !strings.Contains(page, `<td class="num">`+commas(r.Migration.Rows)+`</td>`) && !strings.Contains(page, `<div class="value">`+commas(r.Migration.Rows)+`</div>`) {
		t.Errorf("forklift rows %s not shown with separators", commas(r.Migration.Rows))
	}
	if n := count(`<td class="num">\d{4,}</td>`); n != 0 {
		t.Errorf("%d numbers of 4 digits or more without separators", n)
	}
	if n := count(`<td>[\d,.]+( s| ms)?</td>`); n != 0 {
		t.Errorf("%d numeric cells not right-aligned", n)
	}
	// Responsive and printable.
	for _, css := range []string{`name="viewport"`, `@media (max-width:640px)`, `@media print`} {
		if !strings.Contains(page, css) {
			t.Errorf("page lacks %s", css)
		}
	}
}

func escText(s string) string { return svgEsc(s) }

func TestNumbersAndTicks(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 32950: "32,950", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := commas(v); got != want {
			t.Errorf("commas(%d) = %q, want %q", v, got, want)
		}
	}
	for _, c := range []struct {
		span float64
		n    int
		want float64
	}{{64, 10, 10}, {125, 10, 20}, {64, 4, 20}, {2300, 4, 1000}, {0.7, 4, 0.2}} {
		if got := niceStep(c.span, c.n); got != c.want {
			t.Errorf("niceStep(%v, %d) = %v, want %v", c.span, c.n, got, c.want)
		}
	}
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 1500: "1500", 15000: "15k", 2e6: "2M"} {
		if got := fmtTick(v); got != want {
			t.Errorf("fmtTick(%v) = %q, want %q", v, got, want)
		}
	}
}

// A page without a timeline (a run that failed before recording anything) still renders.
func TestReportHTMLEmpty(t *testing.T) {
	page := (&Report{}).html()
	if !strings.Contains(page, "no timeline recorded") || !strings.Contains(page, "nothing recorded") {
		t.Fatalf("empty report page:\n%s", page)
	}
}

// The recorded run fed every chart and put every step and fault on the timeline.
func TestTimelineProblems(t *testing.T) {
	if p := goldenReport(t).TimelineProblems(); len(p) != 0 {
		t.Errorf("recorded run: %q", p)
	}
	if p := (&Report{}).TimelineProblems(); len(p) != 1 || p[0] != "no timeline recorded" {
		t.Errorf("empty report: %q", p)
	}
	r := goldenReport(t)
	r.Timeline.Faults = nil
	r.Steps = append(r.Steps, Step{Name: "7. not recorded"})
	for i := range r.Timeline.Charts[0].Series {
		r.Timeline.Charts[0].Series[i].Points = nil
	}
	got := strings.Join(r.TimelineProblems(), "\n")
	for _, want := range []string{"step 7. not recorded not on the timeline", "kill of cassandra-us not on the timeline", "chart writes: no sample above 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

// A run that stopped early (seen: a restart that failed after the evacuation) is not "every check
// green", whatever the checks it got to said: the page says it stopped, and why.
func TestReportHTMLStoppedRun(t *testing.T) {
	r := goldenReport(t)
	r.Error = "scripts/regions restart memcached-us: exit status 1"
	r.finish()
	if r.OK {
		t.Fatal("a run with an error is OK")
	}
	page := r.html()
	if strings.Contains(page, "every check green") || !strings.Contains(page, "run stopped early") ||
		!strings.Contains(page, "scripts/regions restart memcached-us: exit status 1") {
		t.Errorf("the page of a stopped run does not say so")
	}
}

// A missing sample breaks the line (no lag drawn across an interval without events), and a point
// alone still shows.
func TestSeriesPathGaps(t *testing.T) {
	tl := &Timeline{Seconds: 10, Interval: 1}
	y := func(v float64) float64 { return 100 - v }
	g := geom{w: 110, left: 10}
	got := seriesPath([]Point{{1, 0}, {2, 10}, {5, 20}, {8, 30}, {9, 40}}, tl, g, y)
	if want := "M20.0 100.0 L30.0 90.0 M60.0 80.0 h2 M90.0 70.0 L100.0 60.0"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	if got := seriesPath(nil, tl, g, y); got != "" {
		t.Errorf("no points: %q", got)
	}
}
