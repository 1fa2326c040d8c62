package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/globalcloud/islands/forklift"
)

// progressPrinter draws a live line on a terminal, or logs a line every 10 s otherwise.
func progressPrinter(stderr io.Writer, log *slog.Logger) (func(forklift.Progress), func()) {
	f, ok := stderr.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	var last time.Time
	drawn := false
	draw := func(p forklift.Progress) {
		drawn = true
		eta := "?"
		if p.ETA > 0 {
			eta = p.ETA.Round(time.Second).String()
		}
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s: %d rows  %.0f rows/s  ranges %d/%d  %.1f%%  ETA %s",
				p.Phase, p.Rows, p.RowsPerSec, p.RangesDone, p.RangesTotal, 100*p.Fraction, eta)
			return
		}
		if time.Since(last) >= 10*time.Second {
			last = time.Now()
			log.Info("progress", "phase", p.Phase, "rows", p.Rows, "rows_per_sec", int(p.RowsPerSec),
				"ranges_done", p.RangesDone, "ranges_total", p.RangesTotal, "percent", fmt.Sprintf("%.1f", 100*p.Fraction), "eta", eta)
		}
	}
	done := func() {
		if tty && drawn {
			fmt.Fprintln(stderr)
		}
	}
	return draw, done
}
