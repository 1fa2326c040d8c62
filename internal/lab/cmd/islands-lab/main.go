// Command islands-lab is the lab's tool: it probes the real services of the local regions that
// scripts/regions starts, creates their roles, sets their WAN, runs the end-to-end demo and the chaos
// campaign (and its writers), and renders the demo's report. It is not a product binary: it links the
// lab (internal/lab), the browser driver and every part of the product. The operator's production
// tool, `islands replay`, is cmd/islands, which links none of it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: islands-lab COMMAND [flags]

commands:
  probe cql|memcached HOST:PORT   send one real request; exit 0 if the service answered
  probe peer HOST:PORT PEER       exit 0 if the node at HOST:PORT knows PEER (broadcast address)
                                  and agrees with it on the schema (CQL probes log in as
                                  $ISLANDS_CQL_ADMIN_USER over TLS when the world is secured)
  roles [-system-auth DC:RF,...] HOST:PORT
                                  the secured world's CQL roles in the cluster at HOST:PORT
                                  (islands_admin, islands_app, islands_forklift; idempotent)
  wan [-rtt D] [-jitter D] set|partition|heal|show
                                  the WAN between the local regions (Toxiproxy at $ISLANDS_WAN)
  demo [--config FILE] [--scale N] [--short] [--out DIR] [--evacuation-share eu-west-1=70,us-west-2=30]
                                  the end-to-end demo on the local regions (make demo)
  chaos [--seed S] [--seeds N] [--duration D] [--kill-cassandra] [--out DIR]
                                  the seeded fault campaign with its checker (make chaos)
  report [DIR]                    render DIR/report.html from DIR/report.json again and check it in
                                  headless Chromium, writing DIR/report.png [demo-out]
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "probe":
		err = probe(ctx, os.Args[2:], os.Stdout)
	case "roles":
		err = rolesCmd(ctx, os.Args[2:], os.Stdout)
	case "wan":
		err = wanCmd(ctx, os.Args[2:], os.Stdout)
	case "report":
		err = reportCmd(ctx, os.Args[2:], os.Stdout)
	case "demo":
		stop()
		os.Exit(demoCmd(os.Args[2:]))
	case "chaos":
		stop()
		os.Exit(chaosCmd(os.Args[2:]))
	case "chaos-agent":
		os.Exit(chaosAgentCmd(os.Args[2:]))
	case "chaos-writer":
		stop()
		os.Exit(chaosWriterCmd(os.Args[2:]))
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "islands-lab: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab:", err)
		os.Exit(1)
	}
}
