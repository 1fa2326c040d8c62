package demo

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// html renders the report as one self-contained page with two inline SVG charts: forklift's
// progress over time and the distribution of cache lag.
func (r *Report) html() string {
	var b strings.Builder
	var text strings.Builder
	r.Print(&text)
	status := "all checks green"
	color := "#1a7f37"
	if !r.OK {
		status, color = "checks failed", "#cf222e"
	}
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>islands demo</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}h1 span{color:%s;font-size:60%%}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:12px}svg{background:#fff;border:1px solid #ddd}</style></head><body>
<h1>islands demo <span>%s</span></h1>`, color, status)
	b.WriteString("<h2>Forklift progress</h2>")
	b.WriteString(r.progressSVG())
	b.WriteString("<h2>Cache lag, write in one region to visible in the other</h2>")
	b.WriteString(r.lagSVG())
	fmt.Fprintf(&b, "<h2>Report</h2><pre>%s</pre></body></html>\n", html.EscapeString(text.String()))
	return b.String()
}

const chartW, chartH, pad = 800.0, 260.0, 40.0

func (r *Report) progressSVG() string {
	pts := r.Migration.Progress
	if len(pts) == 0 {
		return "<p>no progress recorded</p>"
	}
	maxT, maxR := pts[len(pts)-1].T, float64(pts[len(pts)-1].Rows)
	for _, p := range pts {
		maxT, maxR = math.Max(maxT, p.T), math.Max(maxR, float64(p.Rows))
	}
	minT := pts[0].T
	var path strings.Builder
	for i, p := range pts {
		x := pad + (p.T-minT)/math.Max(maxT-minT, 1)*(chartW-2*pad)
		y := chartH - pad - float64(p.Rows)/math.Max(maxR, 1)*(chartH-2*pad)
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, x, y)
	}
	return fmt.Sprintf(`<svg width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">
<path d="%s" fill="none" stroke="#0969da" stroke-width="2"/>
<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>
<text x="%.0f" y="%.0f" font-size="12">%.0f s</text><text x="%.0f" y="%.0f" font-size="12">%.0f rows</text>
<text x="%.0f" y="%.0f" font-size="12">rows copied or merged, both passes, all flows</text></svg>`,
		chartW, chartH, path.String(),
		pad, chartH-pad, chartW-pad, chartH-pad, pad, pad, pad, chartH-pad,
		chartW-pad-30, chartH-pad+16, maxT-minT, pad+4, pad-6, maxR, pad+120, pad-6)
}

func (r *Report) lagSVG() string {
	l := slices.Clone(r.Cache.LagMs)
	if len(l) == 0 {
		return "<p>no cache events</p>"
	}
	slices.Sort(l)
	// Log-spaced buckets from 1 ms to the largest lag.
	top := math.Max(l[len(l)-1], 2)
	const n = 24
	counts := make([]int, n)
	for _, v := range l {
		i := int(math.Log(math.Max(v, 1)) / math.Log(top) * (n - 1))
		counts[min(max(i, 0), n-1)]++
	}
	maxC := slices.Max(counts)
	var bars strings.Builder
	bw := (chartW - 2*pad) / n
	for i, c := range counts {
		h := float64(c) / float64(maxC) * (chartH - 2*pad)
		fmt.Fprintf(&bars, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#8250df"/>`, pad+float64(i)*bw, chartH-pad-h, bw-2, h)
	}
	return fmt.Sprintf(`<svg width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">%s
<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>
<text x="%.0f" y="%.0f" font-size="12">1 ms</text><text x="%.0f" y="%.0f" font-size="12">%.0f ms (log scale)</text>
<text x="%.0f" y="%.0f" font-size="12">%d events applied; p50 %.1f ms, p99 %.1f ms</text></svg>`,
		chartW, chartH, bars.String(), pad, chartH-pad, chartW-pad, chartH-pad,
		pad, chartH-pad+16, chartW-pad-120, chartH-pad+16, top, pad+4, pad-6, len(l), r.Cache.LagP50ms, r.Cache.LagP99ms)
}
