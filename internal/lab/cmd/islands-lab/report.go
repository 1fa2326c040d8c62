package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/globalcloud/islands/internal/lab/demo"
)

// reportCmd is `islands-lab report [DIR]`: renders DIR/report.html again from DIR/report.json and
// checks it in headless Chromium, writing DIR/report.png. Exit 1 when the browser saw a problem.
func reportCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := "demo-out"
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	if err := demo.Render(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rendered %s\n", filepath.Join(dir, "report.html"))
	return screenshot(ctx, dir, stdout)
}

// screenshot loads DIR/report.html in headless Chromium at 1000 px and at a phone's width,
// writes DIR/report.png (1000 px) and DIR/report-phone.png (390 px), and returns an error listing what looked broken.
func screenshot(ctx context.Context, dir string, stdout io.Writer) error {
	browser, err := demo.FindBrowser()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	png, phone := filepath.Join(dir, "report.png"), filepath.Join(dir, "report-phone.png")
	checks, err := demo.CheckPage(ctx, browser, filepath.Join(dir, "report.html"),
		demo.View{Width: 1000, Screenshot: png}, demo.View{Width: 390, Screenshot: phone}, demo.View{Width: 718, Print: true})
	if err != nil {
		return err
	}
	var problems []string
	for _, c := range checks {
		for _, p := range c.Problems() {
			problems = append(problems, fmt.Sprintf("at %d px%s: %s", c.Width, map[bool]string{true: " printed"}[c.Print], p))
		}
	}
	fmt.Fprintf(stdout, "screenshots: %s (1000 px), %s (390 px), checked on screen and printed in %s\n", png, phone, browser)
	if len(problems) > 0 {
		return errors.New("the report page has problems:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}
