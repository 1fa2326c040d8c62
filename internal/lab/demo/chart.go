package demo

// The charts are SVG drawn by hand, not by a charting library: every chart of the page shares one
// time axis with the timeline above it (same scale, same left margin, the fault bands and phase
// boundaries drawn through all of them), each is drawn twice (for a wide screen and for a phone,
// with fonts that stay readable at both), and the output must be deterministic for the golden test
// and free of scripts and external fonts for the page to stay self-contained. go-chart and
// go-analyze/charts each draw one chart in their own fixed layout and font metrics, would need the
// shared axis and bands rebuilt on top of them, and bring a font rasteriser into the module for
// what is a few hundred lines of <path> and <text>.

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// geom is one rendering size of the charts.
type geom struct {
	class          string  // wide or narrow: the CSS shows one of them
	w              float64 // viewBox width
	left, right    float64 // plot margins
	font           float64
	xTicks, yTicks int
}

var (
	wideGeom   = geom{class: "wide", w: 960, left: 64, right: 14, font: 12, xTicks: 10, yTicks: 4}
	narrowGeom = geom{class: "narrow", w: 380, left: 48, right: 10, font: 12, xTicks: 4, yTicks: 3}
)

// palette of the series, in order; red is kept for faults.
var palette = []string{"#0969da", "#bc4c00", "#8250df", "#1a7f37", "#6e7781"}

func (g geom) plotW() float64 { return g.w - g.left - g.right }

// x maps seconds since the start to the plot.
func (g geom) x(t, span float64) float64 { return g.left + t/math.Max(span, 1e-9)*g.plotW() }

// niceStep is 1, 2 or 5 times a power of ten, about span/n.
func niceStep(span float64, n int) float64 {
	if span <= 0 || n <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// fmtTick writes a tick value compactly: 1,500 as 1.5k, 2,000,000 as 2M.
func fmtTick(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZero(v/1e6) + "M"
	case a >= 1e4:
		return trimZero(v/1e3) + "k"
	default:
		return trimZero(v)
	}
}

func trimZero(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

func svgEsc(s string) string { return html.EscapeString(s) }

// backdrop draws, inside a plot of height h starting at y0, the fault bands, the step boundaries
// and the flips: the same in the timeline and in every chart, so a dip lines up with its cause.
func (g geom) backdrop(b *strings.Builder, tl *Timeline, y0, h float64) {
	for _, f := range tl.Faults {
		x1, x2 := g.x(f.Start, tl.Seconds), g.x(f.End, tl.Seconds)
		fmt.Fprintf(b, `<rect class="fault-band" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			x1, y0, math.Max(x2-x1, 1), h, svgEsc(f.Lane+" "+f.Name))
	}
	for _, p := range tl.Phases {
		switch {
		case p.Lane == "step" && p.Start > 0:
			fmt.Fprintf(b, `<line class="step-line" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, g.x(p.Start, tl.Seconds), y0, g.x(p.Start, tl.Seconds), y0+h)
		case p.Lane == "flip":
			fmt.Fprintf(b, `<line class="flip-line" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>%s</title></line>`,
				g.x(p.Start, tl.Seconds), y0, g.x(p.Start, tl.Seconds), y0+h, svgEsc(p.Name))
		}
	}
}

// timeAxis draws the x axis at y with ticks and, when label, the axis title below it.
func (g geom) timeAxis(b *strings.Builder, span, y float64, label bool) {
	fmt.Fprintf(b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, g.left, y, g.w-g.right, y)
	step := niceStep(span, g.xTicks)
	for t := 0.0; t <= span+1e-9; t += step {
		x := g.x(t, span)
		anchor := "middle"
		if x > g.w-g.right-12 {
			anchor = "end"
		}
		fmt.Fprintf(b, `<line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><text class="tick-label" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`,
			x, y, x, y+4, x, y+4+g.font, anchor, fmtTick(t))
	}
	if label {
		fmt.Fprintf(b, `<text class="axis-title" x="%.1f" y="%.1f" text-anchor="end">seconds since the start</text>`, g.w-g.right, y+8+2*g.font)
	}
}

// timelineSVG draws the lanes: steps, traffic, the tasks inside the steps, each EU instance's
// phases, and faults.
func (g geom) timelineSVG(tl *Timeline) string {
	type lane struct {
		name  string
		class string
		spans []Span
	}
	lanes := []*lane{{name: "steps", class: "step"}, {name: "traffic", class: "traffic"}, {name: "tasks", class: "activity"}}
	byLane := map[string]*lane{"step": lanes[0], "traffic": lanes[1], "activity": lanes[2]}
	for _, p := range tl.Phases {
		// One lane per EU instance ("instance:eu-1"): the phase it stood in, epoch by epoch.
		if name, ok := strings.CutPrefix(p.Lane, instanceLane); ok && byLane[p.Lane] == nil {
			byLane[p.Lane] = &lane{name: name, class: "instance"}
			lanes = append(lanes, byLane[p.Lane])
		}
		if l := byLane[p.Lane]; l != nil {
			l.spans = append(l.spans, p)
		}
	}
	faults := &lane{name: "faults", class: "fault"}
	lanes = append(lanes, faults)
	for _, f := range tl.Faults {
		faults.spans = append(faults.spans, f) // labelled with the service; the kind is in its title
	}
	const rowH, gap, top = 20.0, 4.0, 18.0
	var body strings.Builder
	y := top
	for _, l := range lanes {
		// Spans that overlap in time go on separate rows of their lane.
		var rowEnd []float64
		rows := make([]int, len(l.spans))
		for i, s := range l.spans {
			r := 0
			for r < len(rowEnd) && rowEnd[r] > s.Start+1e-6 {
				r++
			}
			if r == len(rowEnd) {
				rowEnd = append(rowEnd, 0)
			}
			rowEnd[r], rows[i] = s.End, r
		}
		n := max(len(rowEnd), 1)
		h := float64(n)*rowH + float64(n-1)*gap
		fmt.Fprintf(&body, `<text class="lane-label" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, g.left-6, y+rowH/2+g.font/3, l.name)
		for i, s := range l.spans {
			x1, x2 := g.x(s.Start, tl.Seconds), g.x(s.End, tl.Seconds)
			w := math.Max(x2-x1, 2)
			ry := y + float64(rows[i])*(rowH+gap)
			cls := l.class
			if (l.class == "step" || l.class == "instance") && i%2 == 1 {
				cls += " alt"
			}
			title := s.Name
			if l.class == "fault" {
				title = s.Lane + " " + s.Name
			}
			fmt.Fprintf(&body, `<g class="span %s"><title>%s: %s to %s s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="3"/>`,
				cls, svgEsc(title), trimZero(s.Start), trimZero(s.End), x1, ry, w, rowH)
			if label := fitLabel(s.Name, w-8, g.font); label != "" {
				fmt.Fprintf(&body, `<text x="%.1f" y="%.1f">%s</text>`, x1+4, ry+rowH/2+g.font/3, svgEsc(label))
			}
			body.WriteString(`</g>`)
		}
		y += h + 2*gap
	}
	plotH := y - top
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart-svg %s" viewBox="0 0 %.0f %.0f" role="img" aria-label="timeline of the run" xmlns="http://www.w3.org/2000/svg" style="font-size:%.0fpx">`,
		g.class, g.w, y+3*g.font+10, g.font)
	g.backdrop(&b, tl, top-4, plotH)
	b.WriteString(body.String())
	g.timeAxis(&b, tl.Seconds, y, true)
	b.WriteString(`</svg>`)
	return b.String()
}

// fitLabel returns the label, or a shorter form of it, that fits width at font size; "" if none.
func fitLabel(s string, width, font float64) string {
	cw := font * 0.6 // average advance of a sans-serif character, rounded up
	if float64(len(s))*cw <= width {
		return s
	}
	// "3. migration: dual writes …" → "3. migration"; "forklift pass 2" → "pass 2"; → "forklift"
	if i := strings.IndexByte(s, ':'); i > 0 && float64(i)*cw <= width {
		return s[:i]
	}
	if i := strings.IndexByte(s, ' '); i > 0 && float64(len(s)-i-1)*cw <= width {
		return s[i+1:]
	}
	if i := strings.IndexByte(s, ' '); i > 0 && float64(i)*cw <= width {
		return s[:i]
	}
	if n := int(width/cw) - 2; n >= 4 {
		return s[:n] + "…"
	}
	return ""
}

// chartSVG draws one chart's series over the run's time axis.
func (g geom) chartSVG(tl *Timeline, c *Chart) string {
	const top, plotH = 10.0, 150.0
	maxV := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			maxV = math.Max(maxV, p.V)
		}
	}
	step := niceStep(maxV, g.yTicks)
	if maxV == 0 {
		step = 1
	}
	yMax := math.Max(math.Ceil(maxV/step)*step, step)
	yOf := func(v float64) float64 { return top + plotH - v/yMax*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart-svg %s" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg" style="font-size:%.0fpx">`,
		g.class, g.w, top+plotH+2*g.font+12, svgEsc(c.Title), g.font)
	g.backdrop(&b, tl, top, plotH)
	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><text class="tick-label" x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			g.left, y, g.w-g.right, y, g.left-6, y+g.font/3, fmtTick(v))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, g.left, top, g.left, top+plotH)
	for i, s := range c.Series {
		d := seriesPath(s.Points, tl, g, yOf)
		if d == "" {
			continue
		}
		fmt.Fprintf(&b, `<path class="series" d="%s" stroke="%s"><title>%s</title></path>`, d, palette[i%len(palette)], svgEsc(s.Label))
	}
	g.timeAxis(&b, tl.Seconds, top+plotH, false)
	b.WriteString(`</svg>`)
	return b.String()
}

// seriesPath is the SVG path of the points; a missing sample (a gap longer than 1.5 intervals)
// breaks the line, and a point alone becomes a short dash so that it shows.
func seriesPath(pts []Point, tl *Timeline, g geom, yOf func(float64) float64) string {
	var b strings.Builder
	run := 0
	for i, p := range pts {
		x, y := g.x(p.T, tl.Seconds), yOf(p.V)
		if i == 0 || p.T-pts[i-1].T > 1.5*math.Max(tl.Interval, 1e-9) {
			if run == 1 {
				b.WriteString("h2 ")
			}
			fmt.Fprintf(&b, "M%.1f %.1f ", x, y)
			run = 1
			continue
		}
		fmt.Fprintf(&b, "L%.1f %.1f ", x, y)
		run++
	}
	if run == 1 {
		b.WriteString("h2 ")
	}
	return strings.TrimSpace(b.String())
}
