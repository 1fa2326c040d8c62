// Command islands-lab is the lab's tool: it probes the real services of the local regions that
// scripts/regions starts, creates their roles, sets their WAN, runs the end-to-end demo and the chaos
// campaign (and its writers), and renders the demo's report. It is not a product binary: it links the
// lab (internal/lab), the browser driver and every part of the product. The operator's production
// tool, `islands replay`, is cmd/islands, which links none of it.
package main

import (
	"os"

	"github.com/globalcloud/islands/internal/cli"
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
	os.Exit(cli.Program{Name: "islands-lab", Usage: usage, Commands: []cli.Command{
		{Name: "probe", Run: probe},
		{Name: "roles", Run: rolesCmd},
		{Name: "wan", Run: wanCmd},
		{Name: "report", Run: reportCmd},
		{Name: "demo", Exit: demoCmd},
		{Name: "chaos", Exit: chaosCmd},
		{Name: "chaos-agent", Exit: chaosAgentCmd},
		{Name: "chaos-writer", Exit: chaosWriterCmd},
	}}.Main(os.Args[1:], os.Stdout, os.Stderr))
}
