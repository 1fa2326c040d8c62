package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

var errUsage = errors.New("usage")

func testProgram(ran *[]string) Program {
	return Program{Name: "prog", Usage: "usage: prog COMMAND\n", UsageErrors: []error{errUsage},
		Commands: []Command{
			{Name: "ok", Run: func(_ context.Context, args []string, out io.Writer) error {
				*ran = append(*ran, "ok "+strings.Join(args, " "))
				fmt.Fprint(out, "done")
				return nil
			}},
			{Name: "fail", Run: func(context.Context, []string, io.Writer) error { return errors.New("boom") }},
			{Name: "misused", Run: func(context.Context, []string, io.Writer) error { return fmt.Errorf("bad flag: %w", errUsage) }},
			{Name: "own", Exit: func(args []string) int { *ran = append(*ran, "own"); return len(args) }},
		}}
}

// TestProgramMain: exit codes and where the text goes, for every kind of call.
func TestProgramMain(t *testing.T) {
	for _, c := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{nil, 2, "", "usage: prog"},
		{[]string{"help"}, 0, "usage: prog", ""},
		{[]string{"--help"}, 0, "usage: prog", ""},
		{[]string{"nope"}, 2, "", `prog: unknown command "nope"`},
		{[]string{"ok", "a", "b"}, 0, "done", ""},
		{[]string{"fail"}, 1, "", "prog: boom"},
		{[]string{"misused"}, 2, "", "prog: bad flag: usage"},
		{[]string{"own", "x", "y", "z"}, 3, "", ""},
	} {
		var ran []string
		var out, errb bytes.Buffer
		code := testProgram(&ran).Main(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) ||
			(c.stdout == "" && out.Len() != 0) || (c.stderr == "" && errb.Len() != 0) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.stdout, c.stderr)
		}
	}
}
