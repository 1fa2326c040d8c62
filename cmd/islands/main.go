// Command islands is the operator's tool for applications that use islands in production: today
// `islands replay inspect|retry|drop`, to see and act on a dualwrite replay log. It links the product
// only (dualwrite and its foundations): never the lab (internal/lab: the local regions, the demo, the
// chaos campaign), a browser driver or an SDK the operator's task does not need. The lab's own
// commands (probe, roles, wan, demo, chaos, report) are in internal/lab/cmd/islands-lab.
package main

import (
	"os"

	"github.com/globalcloud/islands/internal/cli"
	"github.com/globalcloud/islands/migration"
)

const usage = `usage: islands COMMAND [flags]

commands:
  replay inspect|retry|drop [flags] DIR
                                  see and act on a dualwrite replay log: pending, dead-lettered
                                  and uncertain entries (islands replay help)
  replay shared [--keyspace KS] MIGRATION
                                  the backlog instances handed off to the control keyspace, per side
  migration status|set NAME …     a migration's phase across the fleet: status, and set PHASE
                                  [--wait 2m] [--force] [-o json] (islands migration help)
`

func main() {
	os.Exit(cli.Program{Name: "islands", Usage: usage, UsageErrors: []error{errUsage, migration.ErrUsage},
		Commands: []cli.Command{{Name: "replay", Run: replayCmd}, {Name: "migration", Run: migrationCmd}},
	}.Main(os.Args[1:], os.Stdout, os.Stderr))
}
