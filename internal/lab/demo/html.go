package demo

import (
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The reportPage is rendered from the Report alone (what report.json holds), so a recorded run can be
// rendered again: `islands-lab report DIR`. It is one self-contained file — CSS inline, charts as
// inline SVG (chart.go), no script, no font or image to fetch — readable at 1000 px and on a
// phone (each chart is drawn twice, one size for each; CSS shows one), and printable.

//go:embed report.html.tmpl
var pageTemplate string

//go:embed report.css
var pageCSS string

var pageTmpl = template.Must(template.New("report").Parse(pageTemplate))

// reportPage is what the template lays out: every pageFigure already formatted.
type reportPage struct {
	CSS      template.CSS
	OK       bool
	Verdict  string
	Started  string
	Duration string
	Subtitle string
	Error    string // why the run stopped early
	Cards    []pageCard
	Timeline []pageFigure
	Charts   []pageFigure
	Tables   []htable
	Checks   htable
}

type pageCard struct{ Label, Value, Note string }

// pageFigure is one chart in both sizes with its legend.
type pageFigure struct {
	ID, Title, Unit string
	Wide, Narrow    template.HTML
	Legend          []legendItem
	Empty           bool
}

type legendItem struct{ Label, Color, Class string }

// htable is an HTML table; cells of numeric columns are right-aligned.
type htable struct {
	ID, Title, Note string
	Head            []tcol
	Rows            [][]tcell
}

type tcol struct {
	Text string
	Num  bool
}

type tcell struct {
	Text  string
	Num   bool
	Class string // ok, fail
}

// html renders the report as one self-contained reportPage.
func (r *Report) html() string {
	var b strings.Builder
	if err := pageTmpl.Execute(&b, r.reportPage()); err != nil {
		// The template is fixed and the data plain strings: an error here is a bug in this file.
		return "<!doctype html><title>islands demo</title><p>report reportPage: " + template.HTMLEscapeString(err.Error())
	}
	return b.String()
}

func (r *Report) reportPage() reportPage {
	p := reportPage{CSS: template.CSS(pageCSS), OK: r.OK, Verdict: "every check green", Started: r.Started.UTC().Format("2006-01-02 15:04 UTC"),
		Duration: fmtSecs(r.Seconds)}
	if !r.OK {
		p.Verdict = "checks failed"
	}
	if r.Error != "" {
		p.Verdict, p.Error = "run stopped early", r.Error
	}
	p.Subtitle = fmt.Sprintf("%s members per region, %s travellers present in both islands, %s planted inconsistencies",
		commas(int64(r.MembersPerRegion)), commas(int64(r.Travellers)), commas(int64(r.Planted)))
	green := 0
	for _, c := range r.Checks {
		if c.OK {
			green++
		}
	}
	p.Cards = []pageCard{
		{"checks green", fmt.Sprintf("%d / %d", green, len(r.Checks)), ""},
		{"writes acknowledged", commas(r.DualWrite.Acknowledged), commas(r.DualWrite.Failed) + " failed, " + commas(r.DualWrite.Replayed) + " replayed"},
		{"rows forklifted", commas(r.Migration.Rows), "copied or merged, 2 passes"},
		{"cache lag p50 / p99", roundMs(r.Cache.LagP50ms) + " / " + roundMs(r.Cache.LagP99ms) + " ms", "write to visible in the other region"},
	}
	if e := r.Evacuation.Check; e != nil {
		note := "members, from eu-west-1 alone"
		if len(r.Evacuation.Regions) > 0 {
			var parts []string
			for _, er := range r.Evacuation.Regions {
				parts = append(parts, er.Region)
			}
			note = "members, from " + strings.Join(parts, " and ")
		}
		p.Cards = append(p.Cards, pageCard{"served in the evacuation", commas(int64(e.Served)) + " / " + commas(int64(e.Members)), note})
	}

	tl := &r.Timeline
	if tl.Seconds > 0 {
		p.Timeline = []pageFigure{{ID: "timeline", Title: "Timeline", Wide: template.HTML(wideGeom.timelineSVG(tl)),
			Narrow: template.HTML(narrowGeom.timelineSVG(tl)), Legend: timelineLegend(tl)}}
		for i := range tl.Charts {
			c := &tl.Charts[i]
			f := pageFigure{ID: "chart-" + c.ID, Title: c.Title, Unit: c.Unit, Wide: template.HTML(wideGeom.chartSVG(tl, c)),
				Narrow: template.HTML(narrowGeom.chartSVG(tl, c)), Empty: true}
			for j, s := range c.Series {
				f.Legend = append(f.Legend, legendItem{Label: s.Label, Color: palette[j%len(palette)]})
				f.Empty = f.Empty && len(s.Points) == 0
			}
			if len(tl.Faults) > 0 {
				f.Legend = append(f.Legend, legendItem{Label: "fault", Class: "fault"})
			}
			p.Charts = append(p.Charts, f)
		}
	}
	p.Checks = r.checksTable()
	p.Tables = append(p.Tables, r.distanceTable())
	if len(r.Control.Sets) > 0 { // reports of runs before the control plane have none
		p.Tables = append(p.Tables, r.controlTable())
	}
	p.Tables = append(p.Tables, r.planTable(), r.flowsTable(), r.verifyTable(), r.dualWriteTable(), r.cacheTable())
	if len(r.Evacuation.Regions) > 0 {
		p.Tables = append(p.Tables, r.evacuationTable())
	}
	p.Tables = append(p.Tables, r.regionsTable(), r.phasesTable())
	if len(r.Roles) > 0 { // reports of runs before the roles have none
		p.Tables = append(p.Tables, r.rolesTable())
	}
	return p
}

// rolesTable says who each part of the run connected to Cassandra as: user and TLS, never a
// password (RoleUse holds none).
func (r *Report) rolesTable() htable {
	t := htable{ID: "roles", Title: "Cassandra roles", Note: "each program connects as its own role, with only the permissions the demo's administrator granted it",
		Head: []tcol{{Text: "role"}, {Text: "connected as"}, {Text: "for"}}}
	for _, u := range r.Roles {
		t.Rows = append(t.Rows, []tcell{nw(u.Role), {Text: u.As}, {Text: u.Part}})
	}
	return t
}

func timelineLegend(tl *Timeline) []legendItem {
	l := []legendItem{{Label: "step", Class: "step"}, {Label: "traffic", Class: "traffic"}, {Label: "task", Class: "activity"}}
	if len(tl.Faults) > 0 {
		l = append(l, legendItem{Label: "fault (killed until restarted)", Class: "fault"})
	}
	for _, p := range tl.Phases {
		if strings.HasPrefix(p.Lane, instanceLane) {
			l = append(l, legendItem{Label: "EU instance's phase (epoch applied)", Class: "instance"})
			break
		}
	}
	for _, p := range tl.Phases {
		if p.Lane == "flip" {
			l = append(l, legendItem{Label: "flip", Class: "flip"})
			break
		}
	}
	return l
}

// distanceTable puts each figure measured under the WAN's distance next to the same figure at 0 ms,
// both from this run.
func (r *Report) distanceTable() htable {
	d := r.Distance
	t := htable{ID: "distance", Title: "Under distance", Note: "each figure measured in this run at 0 ms and under the WAN: " + d.WAN,
		Head: []tcol{{Text: "figure"}, {Text: "at 0 ms", Num: true}, {Text: "at distance", Num: true}}}
	if d.WAN == "" {
		return t
	}
	pair := func(p Percentile) tcell {
		if p.N == 0 {
			return tcell{Text: "no samples", Num: true}
		}
		return tcell{Text: roundMs(p.P50) + " / " + roundMs(p.P99) + " ms", Num: true}
	}
	t.Rows = [][]tcell{{nw("Cassandra cross-DC visibility p50 / p99"), pair(d.Visibility[0]), pair(d.Visibility[1])}}
	for _, pv := range d.Pairs {
		t.Rows = append(t.Rows, []tcell{{Text: "visibility " + pv.A + " ↔ " + pv.B + " (rtt " + pv.RTT + ")"}, pair(pv.At[0]), pair(pv.At[1])})
	}
	ks := "3-DC"
	if len(d.Pairs) == 0 { // a report of the two-region demo
		ks = "2-DC"
	}
	t.Rows = append(t.Rows,
		[]tcell{nw("cache lag region to region p50 / p99"), pair(d.CacheLag[0]), pair(d.CacheLag[1])},
		[]tcell{nw("EU application dual write p50 / p99"), pair(d.DualWrite[0]), pair(d.DualWrite[1])},
		[]tcell{nw("forklift into the " + ks + " keyspace, rows/s"), ncell(int64(d.Forklift[0])), ncell(int64(d.Forklift[1]))})
	return t
}

func (r *Report) checksTable() htable {
	t := htable{ID: "checks", Title: "Checks", Head: []tcol{{Text: "verdict"}, {Text: "check"}, {Text: "detail"}}}
	for _, c := range r.Checks {
		v := tcell{Text: "pass", Class: "ok"}
		if !c.OK {
			v = tcell{Text: "FAIL", Class: "fail"}
		}
		t.Rows = append(t.Rows, []tcell{v, {Text: c.Name}, {Text: c.Detail}})
	}
	return t
}

func (r *Report) planTable() htable {
	t := htable{ID: "plan", Title: "Forklift plan --sample", Note: "a sample of us-east-1's island compared with eu-west-1's, before anything is copied",
		Head: []tcol{{Text: "dataset"}, {Text: "resolver"}, {Text: "keys sampled", Num: true}, {Text: "in both islands", Num: true},
			{Text: "rows in conflict", Num: true}, {Text: "to quarantine", Num: true}}}
	for _, fp := range r.Migration.Plans {
		if fp.Report == nil {
			continue
		}
		for _, tp := range fp.Report.Tables {
			if tp.Sample == nil {
				continue
			}
			s := tp.Sample
			t.Rows = append(t.Rows, []tcell{nw(short(tp.Table)), nw(tp.Resolver), ncell(int64(s.Partitions)), ncell(int64(s.OnBothSides)),
				ncell(int64(s.ConflictingRows)), ncell(int64(s.Quarantined))})
		}
	}
	return t
}

// flowEnds splits "us-east-1 island -> eu-west-1 global" into its two regions.
func flowEnds(f string) (string, string) {
	from, to, ok := strings.Cut(f, " -> ")
	if !ok {
		return f, ""
	}
	return strings.TrimSuffix(from, " island"), strings.TrimSuffix(to, " global")
}

func (r *Report) flowsTable() htable {
	t := htable{ID: "flows", Title: "Forklift flows", Note: "the EU island merged into the global keyspace through eu-west-1; rows per pass, conflicts and quarantined partitions of pass 2",
		Head: []tcol{{Text: "island"}, {Text: "into global"}, {Text: "dataset"}, {Text: "resolver"}, {Text: "pass 1 rows", Num: true},
			{Text: "pass 2 rows", Num: true}, {Text: "conflicts", Num: true}, {Text: "quarantined", Num: true}}}
	if len(r.Migration.Passes) < 1 {
		return t
	}
	for i, f := range r.Migration.Passes[0] {
		var p2 *FlowRun
		if len(r.Migration.Passes) > 1 && i < len(r.Migration.Passes[1]) {
			p2 = &r.Migration.Passes[1][i]
		}
		from, to := flowEnds(f.Flow)
		if f.Report == nil {
			continue
		}
		for j, tr := range f.Report.Tables {
			row := []tcell{nw(from), nw(to), nw(short(tr.Table)), nw(tr.Resolver), ncell(tr.Rows)}
			if p2 != nil && p2.Report != nil && j < len(p2.Report.Tables) {
				t2 := p2.Report.Tables[j]
				var conf int64
				for _, c := range t2.Conflicts {
					conf += c
				}
				row = append(row, ncell(t2.Rows), ncell(conf), ncell(t2.Quarantined))
			} else {
				row = append(row, tcell{Num: true, Text: "–"}, tcell{Num: true, Text: "–"}, tcell{Num: true, Text: "–"})
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

func (r *Report) verifyTable() htable {
	t := htable{ID: "verify", Title: "Forklift verify", Note: "superseded: the global keyspace holds a newer write; quarantined: set aside for a person",
		Head: []tcol{{Text: "island"}, {Text: "into global"}, {Text: "source rows", Num: true}, {Text: "missing", Num: true}, {Text: "mismatched", Num: true},
			{Text: "superseded", Num: true}, {Text: "quarantined", Num: true}, {Text: "result"}}}
	for _, v := range r.Migration.Verify {
		if v.Report == nil {
			continue
		}
		var src, sup, quar int64
		for _, tv := range v.Report.Tables {
			src += tv.SourceRows
			sup += tv.Superseded
			quar += tv.Quarantined
		}
		from, to := flowEnds(v.Flow)
		res := tcell{Text: "clean", Class: "ok"}
		if !v.Report.Clean {
			res = tcell{Text: "DIFFERENCES", Class: "fail"}
		}
		t.Rows = append(t.Rows, []tcell{nw(from), nw(to), ncell(src), ncell(v.Report.Missing), ncell(v.Report.Mismatch), ncell(sup), ncell(quar), res})
	}
	return t
}

// figures is a two-column table, one figure a row: it reads the same on a phone and on paper.
func figures(id, title, note string, rows ...tcell) htable {
	t := htable{ID: id, Title: title, Note: note, Head: []tcol{{Text: "figure"}, {Text: "value", Num: true}}}
	for i := 0; i+1 < len(rows); i += 2 {
		t.Rows = append(t.Rows, []tcell{rows[i], rows[i+1]})
	}
	return t
}

func (r *Report) dualWriteTable() htable {
	d := r.DualWrite
	return figures("dual-writes", "Dual writes", "the EU instances' dualwrite sessions (three, each its own replay log), EU island + global cluster, until the island was retired",
		tcell{Text: "writes issued"}, ncell(d.Writes),
		tcell{Text: "acknowledged"}, ncell(d.Acknowledged),
		tcell{Text: "failed (after the application's retries)"}, ncell(d.Failed),
		tcell{Text: "kept for replay (the other side failed)"}, ncell(d.KeptForReplay),
		tcell{Text: "replayed since"}, ncell(d.Replayed))
}

func (r *Report) cacheTable() htable {
	c := r.Cache
	return figures("cache-events", "Cache events", "profiles replicate, viewing histories invalidate; the lag excludes the events held by the outage",
		tcell{Text: "cache writes"}, ncell(c.CacheWrites),
		tcell{Text: "events published"}, ncell(c.Published),
		tcell{Text: "received"}, ncell(c.Received),
		tcell{Text: "applied"}, ncell(c.Applied),
		tcell{Text: "stale or duplicate (ignored)"}, ncell(c.Stale),
		tcell{Text: "poison"}, ncell(c.Poison),
		tcell{Text: "apply retries"}, ncell(c.ApplyRetries),
		tcell{Text: "held by the outage, applied on return"}, ncell(c.HeldByOutage),
		tcell{Text: "lag p50, write to visible in the other region"}, tcell{Text: fmtMs(c.LagP50ms), Num: true},
		tcell{Text: "lag p99"}, tcell{Text: fmtMs(c.LagP99ms), Num: true})
}

func (r *Report) regionsTable() htable {
	e, cu := r.Evacuation, r.CatchUp
	note := "every member read from one region and compared with the model of every write"
	if len(e.Killed) > 0 {
		cut, where := "the WAN partitioned", "eu-west-1"
		if e.Isolated != "" {
			cut, where = e.Isolated+" isolated", "the other regions"
		}
		note = fmt.Sprintf("evacuation: %s, %s killed, %s writes acknowledged in %s meanwhile; recovery: heal and restart %s, hints delivered in %s, nodetool repair %s, cache queues drained %s after the restart; then %s",
			cut, strings.Join(e.Killed, " and "), commas(e.WritesDuringOutage), where, fmtSecs(cu.RestartSeconds), fmtSecs(cu.HintsSeconds), fmtSecs(cu.RepairSeconds), fmtSecs(cu.DrainSeconds), note)
	}
	t := htable{ID: "regions", Title: "Evacuation and catch-up", Note: note,
		Head: []tcol{{Text: "when"}, {Text: "region"}, {Text: "members served", Num: true}, {Text: "of", Num: true}, {Text: "cache hits", Num: true},
			{Text: "stale from cache", Num: true}, {Text: "check took", Num: true}, {Text: "result"}}}
	add := func(when string, c *CheckResult) {
		if c == nil {
			return
		}
		res := tcell{Text: "pass", Class: "ok"}
		if c.Served != c.Members || c.StaleFromCache != 0 {
			res = tcell{Text: "FAIL", Class: "fail"}
		}
		t.Rows = append(t.Rows, []tcell{nw(when), nw(c.Region), ncell(int64(c.Served)), ncell(int64(c.Members)), ncell(c.CacheHits), ncell(c.StaleFromCache),
			{Text: fmtSecs(c.Seconds), Num: true}, res})
	}
	if len(e.Regions) == 0 {
		add("evacuation", e.Check)
	}
	for _, er := range e.Regions {
		add("evacuation", er.Check)
	}
	add("catch-up", cu.Check)
	return t
}

// evacuationTable is who took us-east-1's members: per receiving region its share, the members it
// served and their latency (its application's writes during the outage, the member reads of its
// check).
func (r *Report) evacuationTable() htable {
	e := r.Evacuation
	t := htable{ID: "evacuation", Title: "Evacuation of us-east-1: who served its members",
		Note: "us-east-1's members split by capacity (" + e.Share + "); every member read from the region that took it, alone",
		Head: []tcol{{Text: "region"}, {Text: "weight", Num: true}, {Text: "us-east-1's members", Num: true}, {Text: "members served", Num: true},
			{Text: "write p50 / p99", Num: true}, {Text: "member read p50 / p99", Num: true}}}
	pair := func(p Percentile) tcell {
		if p.N == 0 {
			return tcell{Text: "–", Num: true}
		}
		return tcell{Text: roundMs(p.P50) + " / " + roundMs(p.P99) + " ms", Num: true}
	}
	for _, er := range e.Regions {
		served, reads := 0, Percentile{}
		if er.Check != nil {
			served, reads = er.Check.Served, er.Check.Reads
		}
		t.Rows = append(t.Rows, []tcell{nw(er.Region), ncell(int64(er.Weight)), ncell(int64(er.FromUSEast1)),
			{Text: commas(int64(served)) + " / " + commas(int64(er.Members)), Num: true}, pair(er.Writes), pair(reads)})
	}
	return t
}

// controlTable is the migration as the operator drove it through the control plane: each `set
// --wait`, and when each EU instance applied its epoch.
func (r *Report) controlTable() htable {
	c := r.Control
	note := "islands migration set NAME PHASE --wait, migration " + c.Migration + " in " + c.Keyspace + "; seconds since the start"
	if c.Forklift != "" {
		note += "; forklift, gated on the fleet: " + c.Forklift
	}
	t := htable{ID: "control", Title: "Control plane: phases set and applied", Note: note,
		Head: []tcol{{Text: "phase"}, {Text: "epoch", Num: true}, {Text: "set at", Num: true}, {Text: "LWT", Num: true}, {Text: "last ack", Num: true}, {Text: "applied by"}}}
	for _, s := range c.Sets {
		var by []string
		for _, f := range c.Flips {
			if f.Epoch == s.Epoch {
				by = append(by, f.Instance+" at "+fmtT(f.At))
			}
		}
		t.Rows = append(t.Rows, []tcell{nw(s.Phase), ncell(s.Epoch), {Text: fmtT(s.At), Num: true}, {Text: fmtSecs(s.LWTSeconds), Num: true},
			{Text: fmtSecs(s.AckSeconds), Num: true}, {Text: strings.Join(by, ", ")}})
	}
	return t
}

func (r *Report) phasesTable() htable {
	t := htable{ID: "phases", Title: "Phases and faults", Note: "the timeline above as a table, in order of start; seconds since the start",
		Head: []tcol{{Text: "what"}, {Text: "kind"}, {Text: "from", Num: true}, {Text: "to", Num: true}, {Text: "took", Num: true}}}
	type row struct {
		start float64
		cells []tcell
	}
	var rows []row
	kinds := map[string]string{"activity": "task"}
	for _, p := range r.Timeline.Phases {
		kind := p.Lane
		if k, ok := kinds[kind]; ok {
			kind = k
		}
		if in, ok := strings.CutPrefix(kind, instanceLane); ok {
			kind = in + " phase"
		}
		rows = append(rows, row{p.Start, []tcell{{Text: p.Name}, {Text: kind}, {Text: fmtT(p.Start), Num: true}, {Text: fmtT(p.End), Num: true}, {Text: fmtSecs(p.End - p.Start), Num: true}}})
	}
	for _, f := range r.Timeline.Faults {
		what := f.Lane + " " + f.Name
		if f.Until != "" {
			what += " (until " + f.Until + ")"
		}
		rows = append(rows, row{f.Start, []tcell{{Text: what}, {Text: "fault", Class: "fail"}, {Text: fmtT(f.Start), Num: true}, {Text: fmtT(f.End), Num: true}, {Text: fmtSecs(f.End - f.Start), Num: true}}})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].start < rows[j].start })
	for _, rw := range rows {
		t.Rows = append(t.Rows, rw.cells)
	}
	return t
}

// nw is a cell that does not wrap: a region, dataset or resolver name broken at its hyphen reads
// as two words.
func nw(s string) tcell { return tcell{Text: s, Class: "nw"} }

// ncell is a numeric cell.
func ncell(v int64) tcell { return tcell{Text: commas(v), Num: true} }

// num writes v with thousands separators: 32950 as 32,950.
func commas(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtSecs(s float64) string {
	if s >= 100 {
		return commas(int64(math.Round(s))) + " s"
	}
	return strconv.FormatFloat(s, 'f', 1, 64) + " s"
}

func fmtT(s float64) string { return strconv.FormatFloat(s, 'f', 1, 64) }

// roundMs is a lag for a headline: whole milliseconds from 10 ms up.
func roundMs(v float64) string {
	if v >= 10 {
		return commas(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtMs(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" }
