// Command islands is the operator's tool for applications that use islands in production: today
// `islands replay inspect|retry|drop`, to see and act on a dualwrite replay log. It links the product
// only (dualwrite and its foundations): never the lab (internal/lab: the local regions, the demo, the
// chaos campaign), a browser driver or an SDK the operator's task does not need. The lab's own
// commands (probe, roles, wan, demo, chaos, report) are in internal/lab/cmd/islands-lab.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "replay":
		err = replayCmd(ctx, os.Args[2:], os.Stdout)
		if errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "islands:", err)
			os.Exit(2)
		}
	case "migration":
		err = migrationCmd(ctx, os.Args[2:], os.Stdout)
		if errors.Is(err, migration.ErrUsage) {
			fmt.Fprintln(os.Stderr, "islands:", err)
			os.Exit(2)
		}
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "islands: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "islands:", err)
		os.Exit(1)
	}
}
