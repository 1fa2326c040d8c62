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
	config := fs.String("config", "", "YAML config (members, scale, short, out, evacuation_share); flags override it")
	scale := fs.Float64("scale", 1, "multiply the number of members (default 2000 per region)")
	short := fs.Bool("short", false, "the short version make test runs (200 members per region, shorter traffic)")
	members := fs.Int("members", 0, "members per region (overrides the default size; --scale still applies)")
	out := fs.String("out", "demo-out", "directory for report.json, report.html and the replay logs")
	share := fs.String("evacuation-share", "eu-west-1=70,us-west-2=30",
		"how us-east-1's members are split when it is evacuated: region=weight,... (YAML evacuation_share)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cfg demo.Config
	if *config != "" {
		var err error
		if cfg, err = demo.LoadConfig(*config); err != nil {
			fmt.Fprintf(os.Stderr, "islands-lab demo: %v\n", err)
			return 2
		}
	}
	opts := cfg.Options()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["scale"] || opts.Scale == 0 {
		opts.Scale = *scale
	}
	if set["short"] {
		opts.Short = *short
	}
	if set["members"] {
		opts.Members = *members
	}
	if set["out"] || opts.Out == "" {
		opts.Out = *out
	}
	if set["evacuation-share"] || opts.EvacuationShare == nil {
		m, err := demo.ParseShare(*share)
		if err != nil {
			fmt.Fprintf(os.Stderr, "islands-lab demo: --evacuation-share: %v\n", err)
			return 2
		}
		opts.EvacuationShare = m
	}
	opts.Progress = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := demo.Run(ctx, opts)
	if rep != nil {
		rep.Print(os.Stdout)
		fmt.Printf("\nreport: %s/report.json and %s/report.html\n", opts.Out, opts.Out)
		// The screenshot is a view of the report, not a check of the migration: a missing
		// browser or an ugly page does not change the demo's exit status.
		if err := screenshot(context.Background(), opts.Out, os.Stdout); err != nil {
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
