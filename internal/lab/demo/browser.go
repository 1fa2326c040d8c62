package demo

// The report page is checked in a real headless Chromium (Debian package chromium, installed by
// scripts/browser), driven over the DevTools protocol with chromedp through a pipe: unlike
// `chromium --headless --dump-dom` it sees console messages, uncaught exceptions, log entries and
// every network request, can set the viewport to a phone's width, and takes a full-page
// screenshot whatever the page's height.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/globalcloud/islands/internal/private"
)

// ErrNoBrowser is returned when no Chromium can be found: install one with scripts/browser.
var ErrNoBrowser = errors.New("demo: no headless browser (chromium) found: run scripts/browser install or set ISLANDS_CHROMIUM")

// FindBrowser returns the Chromium to check the page with: $ISLANDS_CHROMIUM, else chromium (or
// a Chrome) on PATH.
func FindBrowser() (string, error) {
	for _, c := range []string{os.Getenv("ISLANDS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// PageCheck is what the browser saw loading the page at one viewport width.
type PageCheck struct {
	Width          int          `json:"width"`
	Print          bool         `json:"print"`
	ScrollWidth    int          `json:"scroll_width"`    // of the document: > Width means the page scrolls sideways
	Height         int          `json:"height"`          // of the document
	ConsoleErrors  []string     `json:"console_errors"`  // console.error/warn, uncaught exceptions, log entries of level error
	Requests       []string     `json:"requests"`        // every URL fetched other than the page itself and data: URLs
	TooWide        []string     `json:"too_wide"`        // visible elements reaching past the viewport, outside a scroll box
	Charts         []ChartCheck `json:"charts"`          // every figure.chart visible at this width
	Tables         int          `json:"tables"`          // HTML tables
	Preformatted   int          `json:"preformatted"`    // <pre> blocks
	ScreenshotPath string       `json:"screenshot_path"` // when one was asked for
}

// ChartCheck is one visible chart: its paths with a non-empty drawn length.
type ChartCheck struct {
	ID        string `json:"id"`
	Paths     int    `json:"paths"`      // path.series elements
	DrawnPath int    `json:"drawn_path"` // of them, with a total length > 0
	Spans     int    `json:"spans"`      // timeline bars
}

// Problems lists what a reader would call broken: console errors, network requests, elements
// wider than the viewport, charts without a drawn line.
func (c *PageCheck) Problems() []string {
	var p []string
	for _, e := range c.ConsoleErrors {
		p = append(p, "console: "+e)
	}
	for _, r := range c.Requests {
		p = append(p, "network request (the page must be self-contained): "+r)
	}
	if c.ScrollWidth > c.Width {
		p = append(p, fmt.Sprintf("page is %d px wide in a %d px viewport", c.ScrollWidth, c.Width))
	}
	for _, w := range c.TooWide {
		p = append(p, "wider than the viewport: "+w)
	}
	for _, ch := range c.Charts {
		if ch.ID == "timeline" {
			if ch.Spans == 0 {
				p = append(p, "timeline without spans")
			}
			continue
		}
		if ch.DrawnPath == 0 || ch.DrawnPath != ch.Paths {
			p = append(p, fmt.Sprintf("chart %s: %d of %d series paths drawn", ch.ID, ch.DrawnPath, ch.Paths))
		}
	}
	if c.Preformatted > 0 {
		p = append(p, fmt.Sprintf("%d <pre> blocks", c.Preformatted))
	}
	return p
}

// inspectJS measures the page in the browser. An element inside a box that scrolls sideways
// (a wide table on a phone) is the box's business, not the page's.
const inspectJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 || r.height > 0; };
  const inScroll = el => { for (let p = el.parentElement; p; p = p.parentElement) { const s = getComputedStyle(p).overflowX; if (s === 'auto' || s === 'scroll') return true; } return false; };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.getAttribute('class') ? '.' + el.getAttribute('class').trim().split(/\s+/).join('.') : '');
  const tooWide = [], wide = new Set();
  for (const el of document.querySelectorAll('body *')) {
    if (!visible(el) || inScroll(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right > vw + 0.5 || r.left < -0.5 || r.width > vw + 0.5) {
      wide.add(el);
      if (wide.has(el.parentElement)) continue; // its container is reported
    } else continue;
    tooWide.push(name(el) + ' ' + Math.round(r.left) + '..' + Math.round(r.right) + ' px');
  }
  // Content running out of its own box (a figure too wide for its card, a long line in a <pre>) is
  // as broken as a page too wide.
  for (const el of document.querySelectorAll('body *')) {
    if (el instanceof HTMLElement && visible(el) && !inScroll(el) && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible') tooWide.push(name(el) + ' "' + el.textContent.trim().slice(0, 30) + '" content ' + el.scrollWidth + ' px in ' + el.clientWidth + ' px');
  }
  const charts = [...document.querySelectorAll('figure.chart')].map(f => {
    const svg = [...f.querySelectorAll('svg')].find(visible);
    if (!svg) return null;
    const paths = [...svg.querySelectorAll('path.series')];
    return {id: f.id, paths: paths.length, drawn_path: paths.filter(p => (p.getAttribute('d') || '').length > 2 && p.getTotalLength() > 0).length,
      spans: svg.querySelectorAll('g.span rect').length};
  }).filter(c => c);
  return {width: vw, scroll_width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
    too_wide: tooWide.slice(0, 20), charts, tables: document.querySelectorAll('table').length, preformatted: document.querySelectorAll('pre').length};
})()`

// View is one way of looking at the page: a viewport width, on screen or as printed (print CSS,
// 718 px: A4 with 1.5 cm margins), and where to write its full-page PNG ("" for none).
type View struct {
	Width      int
	Print      bool
	Screenshot string
}

// CheckPage loads the HTML file in headless Chromium in each view (the viewport is 900 px high)
// and reports what it saw.
func CheckPage(ctx context.Context, browser, htmlFile string, views ...View) ([]*PageCheck, error) {
	abs, err := filepath.Abs(htmlFile)
	if err != nil {
		return nil, err
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("font-render-hinting", "none"))...)
	defer cancel()
	var out []*PageCheck
	for _, v := range views {
		c, err := checkOnce(actx, abs, v, 900)
		if err != nil {
			return out, fmt.Errorf("demo: check %s at %d px in %s: %w", htmlFile, v.Width, browser, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func checkOnce(actx context.Context, file string, v View, height int) (*PageCheck, error) {
	width, png := v.Width, v.Screenshot
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	var mu sync.Mutex
	var errs, reqs []string
	pageURL := "file://" + file
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					v := string(a.Value)
					if uq, err := strconv.Unquote(v); err == nil {
						v = uq
					}
					parts = append(parts, a.Description+v)
				}
				errs = append(errs, string(ev.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			if d := ev.ExceptionDetails; d != nil {
				msg := d.Text
				if d.Exception != nil {
					msg += " " + d.Exception.Description
				}
				errs = append(errs, "exception: "+msg)
			}
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e != nil && (e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning) {
				errs = append(errs, fmt.Sprintf("%s %s: %s %s", e.Source, e.Level, e.Text, e.URL))
			}
		case *network.EventRequestWillBeSent:
			if u := ev.Request.URL; u != pageURL && !strings.HasPrefix(u, "data:") {
				reqs = append(reqs, u)
			}
		}
	}); err != nil {
		return nil, err
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		return nil, err
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		return nil, err
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return nil, err
	}
	if v.Print {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
			return nil, err
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate(pageURL)); err != nil {
		return nil, err
	}
	c, err := chromedp.Run(ctx, chromedp.Evaluate[PageCheck](inspectJS))
	if err != nil {
		return nil, err
	}
	if png != "" {
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			return nil, fmt.Errorf("screenshot: %w", err)
		}
		if err := private.WriteFile(png, b); err != nil {
			return nil, err
		}
		c.ScreenshotPath = png
	}
	mu.Lock()
	c.ConsoleErrors, c.Requests, c.Print = errs, reqs, v.Print
	mu.Unlock()
	return &c, nil
}

// Render writes report.html in dir again from dir/report.json: the page of a recorded run.
func Render(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return fmt.Errorf("demo: render: %w", err)
	}
	r, err := ParseReport(b)
	if err != nil {
		return err
	}
	return private.WriteFile(filepath.Join(dir, "report.html"), []byte(r.html()))
}
