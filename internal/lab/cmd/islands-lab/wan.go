package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/globalcloud/islands/internal/lab/world"
)

// wanCmd drives the WAN between the local regions (scripts/regions wan, partition, heal):
//
//	islands-lab wan [-api URL] [-rtt 70ms] [-jitter 5ms] set   every pair the same delay, each way rtt/2 ± jitter
//	islands-lab wan [-api URL] -seeds [-jitter 5ms] set        the seeds' distances (world.SeedDelays)
//	islands-lab wan [-api URL] partition [REGION...]           every path cut, or exactly these regions isolated
//	islands-lab wan [-api URL] heal|show
func wanCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wan", flag.ContinueOnError)
	api := fs.String("api", os.Getenv("ISLANDS_WAN"), "Toxiproxy API of the WAN (default $ISLANDS_WAN)")
	rtt := fs.Duration("rtt", 70*time.Millisecond, "round-trip time between the regions (set)")
	jitter := fs.Duration("jitter", 5*time.Millisecond, "each direction's delay varies uniformly by ± this (set)")
	seeds := fs.Bool("seeds", false, "set: the seeds' distances per region pair instead of one -rtt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 || (fs.NArg() > 1 && fs.Arg(0) != "partition") || *api == "" {
		return errors.New("usage: islands-lab wan [-api URL] [-rtt D | -seeds] [-jitter D] set | partition [REGION...] | heal | show")
	}
	w := world.NewWAN(*api)
	var err error
	switch fs.Arg(0) {
	case "set":
		if *seeds {
			err = w.SetDelays(ctx, world.SeedDelays(), *jitter)
		} else {
			err = w.Set(ctx, *rtt/2, *jitter)
		}
	case "partition":
		if fs.NArg() == 1 {
			err = w.Partition(ctx)
			break
		}
		var rs []world.Region
		for _, a := range fs.Args()[1:] {
			rs = append(rs, world.Region(a))
		}
		err = w.Isolate(ctx, rs...)
	case "heal":
		err = w.Heal(ctx)
	case "show":
		var ps []string
		if ps, err = w.Proxies(ctx); err == nil {
			for _, p := range ps {
				fmt.Fprintln(stdout, "wan path", p)
			}
		}
	default:
		return fmt.Errorf("wan: unknown action %q (want set, partition, heal or show)", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	l, err := w.Link(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wan:", l)
	return nil
}
