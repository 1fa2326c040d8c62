// Command forklift copies and merges island tables between two Cassandra clusters, resumably, and
// proves the result. It is a thin CLI over package forklift:
//
//	forklift plan   [--sample N]      schemas compared, ranges, size, sampled conflicts; writes nothing
//	forklift run    [--resume] [--shard i/N | --shard-from-env N]   copy with checkpoints
//	forklift verify                   compare both sides; exit 3 on a real difference
//	forklift repair                   re-copy what verify finds, then verify it again
//	forklift status                   the run's checkpoints
//
// Every YAML key has a flag that overrides it (forklift COMMAND -h lists them).
package main

import (
	"context"
	"errors"
	"flag"
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

// command is one subcommand, in its own file: its own flags, and what it does with the open Job.
// execute does what every command shares.
type command struct {
	name    string
	sharded bool // takes --shard
	// setup registers the command's own flags and returns its action.
	setup func(fs *flag.FlagSet) action
}

// action does a command's work on the open Job; its output (nil when there is none, e.g. after a
// failure before any report) is printed even when err is not nil.
type action func(ctx context.Context, j *forklift.Job, e env) (output, error)

// env is what a command's action gets besides the Job.
type env struct {
	shard    forklift.Shard
	progress func(forklift.Progress)
}

// output is a command's report: JSON-encodable, and printable as text.
type output interface{ print(w io.Writer) }

// act makes an action of do, whose report print shows (R's output type wraps *R).
func act[R any, O output](do func(ctx context.Context, j *forklift.Job, e env) (*R, error), wrap func(*R) O) action {
	return func(ctx context.Context, j *forklift.Job, e env) (output, error) {
		rep, err := do(ctx, j, e)
		if rep == nil {
			return nil, err
		}
		return wrap(rep), err
	}
}

// noFlags is the setup of a command without flags of its own (those of every command, and --shard
// for a sharded one, are execute's): it registers nothing and returns a.
func noFlags(a action) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action { return a }
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// execute parses the command's flags and config (errors before any cluster is contacted), opens
// the Job, runs the action, and writes its report.
func execute(ctx context.Context, cmd command, args []string, stdout, stderr io.Writer) error {
	c := newCommon(cmd.name, stderr, cmd.sharded)
	act := cmd.setup(c.fs)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	j, err := forklift.Open(ctx, cfg, forklift.WithLogger(log), forklift.WithRegisterer(c.registry(log)))
	if err != nil {
		return err
	}
	defer j.Close()
	draw, done := progressPrinter(stderr, log)
	out, err := act(ctx, j, env{shard: c.shard, progress: draw})
	done()
	if out != nil {
		if werr := c.output(stdout, out); werr != nil && err == nil {
			err = werr
		}
	}
	return err
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
	err := execute(ctx, cmd, args[1:], stdout, stderr)
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
