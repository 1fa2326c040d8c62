// Package cli dispatches a program's subcommands: the one `PROGRAM COMMAND [flags]` front of
// cmd/islands (the operator's tool) and internal/lab/cmd/islands-lab (the lab's). It is a
// foundation under the product: the lab imports it, it imports neither.
//
// Exit codes: 0 done, 1 the command failed, 2 the call was wrong (no command, an unknown one, or
// an error wrapping one of the program's usage errors). The usage text goes to stdout when asked
// for (help, -h, --help) and to stderr after a wrong call.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Command is one subcommand.
type Command struct {
	Name string
	// Run runs the command with a context that ends on SIGINT or SIGTERM.
	Run func(ctx context.Context, args []string, stdout io.Writer) error
	// Exit, instead of Run, runs a command that handles its process's signals itself (the demo,
	// the chaos campaign) and returns its exit code.
	Exit func(args []string) int
}

// Program is a program's name, usage text, commands and the errors that mean a wrong call.
type Program struct {
	Name     string
	Usage    string
	Commands []Command
	// UsageErrors: a command error wrapping one of these exits 2, not 1.
	UsageErrors []error
}

// Main runs the command args[0] names and returns the process's exit code.
func (p Program) Main(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, p.Usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, p.Usage)
		return 0
	}
	for _, c := range p.Commands {
		if c.Name != args[0] {
			continue
		}
		if c.Exit != nil {
			return c.Exit(args[1:])
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.Run(ctx, args[1:], stdout)
		if err == nil {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		for _, u := range p.UsageErrors {
			if errors.Is(err, u) {
				return 2
			}
		}
		return 1
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n%s", p.Name, args[0], p.Usage)
	return 2
}
