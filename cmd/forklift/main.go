// Command forklift copies and merges island tables between two Cassandra clusters, resumably, and
// proves the result. It is a thin CLI over package forklift:
//
//	forklift plan   [--sample N]      schemas compared, ranges, size, sampled conflicts; writes nothing
//	forklift run    [--resume] [--shard i/N]   copy with checkpoints
//	forklift verify                   compare both sides; exit 3 on a real difference
//	forklift repair                   re-copy what verify finds, then verify it again
//	forklift status                   the run's checkpoints
//
// Every YAML key has a flag that overrides it (forklift COMMAND -h lists them).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/globalcloud/islands/forklift"
)

const usage = `usage: forklift COMMAND --config FILE [flags]

commands:
  plan     compare schemas, split ranges, estimate size; --sample N analyses conflicts (writes nothing)
  run      copy and merge every table; --resume continues a stopped run; --shard i/N shares one run
  verify   compare source and destination under each resolver's invariant (exit 3 on differences)
  repair   re-copy the subranges verify finds different, then verify them again
  status   show a run's checkpoints

Run "forklift COMMAND -h" for the flags; every config key has one.
`

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitDifferences = 3
)

// command is one subcommand: it parses its args and runs.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"plan":   runPlan,
	"run":    runRun,
	"verify": runVerify,
	"repair": runRepair,
	"status": runStatus,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs one command and maps its error to an exit code; golden tests call it directly.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "forklift: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, forklift.ErrConfig):
		printErr(stderr, err)
		return exitUsage
	case errors.Is(err, forklift.ErrDifferences):
		printErr(stderr, err)
		return exitDifferences
	}
	printErr(stderr, err)
	return exitError
}

// printErr prints err once prefixed with the program's name (library errors already carry it).
func printErr(w io.Writer, err error) {
	msg := err.Error()
	for strings.HasPrefix(msg, "forklift: forklift: ") {
		msg = strings.TrimPrefix(msg, "forklift: ")
	}
	if !strings.HasPrefix(msg, "forklift: ") {
		msg = "forklift: " + msg
	}
	fmt.Fprintln(w, msg)
}
