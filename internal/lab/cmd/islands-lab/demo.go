package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/globalcloud/islands/internal/lab/demo"
)

// demoCmd is `islands-lab demo`: what `make demo` runs once the regions are up.
func demoCmd(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	scale := fs.Float64("scale", 1, "multiply the number of members (default 2000 per region)")
	short := fs.Bool("short", false, "the short version make test runs (200 members per region, shorter traffic)")
	members := fs.Int("members", 0, "members per region (overrides the default size; --scale still applies)")
	out := fs.String("out", "demo-out", "directory for report.json, report.html and the replay logs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := demo.Run(ctx, demo.Options{Members: *members, Scale: *scale, Short: *short, Out: *out, Progress: os.Stdout})
	if rep != nil {
		rep.Print(os.Stdout)
		fmt.Printf("\nreport: %s/report.json and %s/report.html\n", *out, *out)
		// The screenshot is a view of the report, not a check of the migration: a missing
		// browser or an ugly page does not change the demo's exit status.
		if err := screenshot(context.Background(), *out, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "islands-lab demo: report.png: %v\n", err)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "islands-lab demo: %v\n", err)
		return 1
	}
	if !rep.OK {
		return 1
	}
	return 0
}
