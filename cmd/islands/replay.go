package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/recordlog"
	"github.com/globalcloud/islands/migration"
)

const replayUsage = `usage: islands replay COMMAND [flags] DIR

DIR is a dualwrite replay log directory (dualwrite.WithReplayDir).

commands:
  inspect [--limit N]             list the entries waiting for replay, dead-lettered and uncertain,
                                  with their statements (values summarized); safe while the
                                  application runs (read-only)
  retry [--id 1,2]                move dead-lettered entries (all, or those IDs) back to the replay
                                  log, once their cause is fixed (e.g. the column restored)
  drop --yes [--uncertain] [--id 1,2]
                                  remove dead-lettered entries (or, with --uncertain, uncertain
                                  ones once reconciled); without --yes nothing is removed.
                                  Dead letters and uncertain entries for a side keep it from
                                  becoming authoritative (SetPhase) until they are gone
  shared [--keyspace islands_control] MIGRATION
                                  (instead of DIR) the backlog instances handed off to the control
                                  keyspace (dualwrite.WithHandoff) and not adopted yet: per side,
                                  and per batch with its origin, holder and age (read-only)
An ID names one entry for good (not given again after a retry or a drop).
retry and drop need the directory to themselves: stop the application first.
`

// errUsage makes main exit 2.
var errUsage = errors.New("usage")

// replayCmd runs `islands replay inspect|retry|drop DIR`.
func replayCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, replayUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("replay "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	limit := fs.Int("limit", 20, "inspect: entries listed per section (0 = all)")
	ids := fs.String("id", "", "retry, drop: comma-separated entry IDs (default all)")
	yes := fs.Bool("yes", false, "drop: really remove")
	uncertain := fs.Bool("uncertain", false, "drop: the uncertain entries instead of the dead-lettered")
	keyspace := fs.String("keyspace", migration.DefaultKeyspace, "shared: the control keyspace")
	dir, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return fmt.Errorf("%w: %v\n%s", errUsage, err, replayUsage)
	}
	idList, err := parseIDs(*ids)
	if err != nil {
		return fmt.Errorf("%w: --id: %v", errUsage, err)
	}
	switch cmd {
	case "shared":
		return shared(ctx, dir, *keyspace, *limit, stdout)
	case "inspect":
		l, err := dualwrite.OpenFileLog(dir, 0, dualwrite.FileLogReadOnly())
		if err != nil {
			return err
		}
		defer l.Close()
		return inspect(l, *limit, stdout)
	case "retry", "drop":
		if cmd == "drop" && !*yes {
			return fmt.Errorf("%w: drop removes entries for good: add --yes (see `islands replay inspect %s` first)", errUsage, dir)
		}
		if cmd == "retry" && *uncertain {
			return fmt.Errorf("%w: uncertain entries are never replayed blindly: reconcile them, then drop --uncertain", errUsage)
		}
		l, err := dualwrite.OpenFileLog(dir, 0)
		if errors.Is(err, recordlog.ErrLocked) {
			return fmt.Errorf("%s is in use by a running application; stop it first (inspect works meanwhile): %w", dir, err)
		}
		if err != nil {
			return err
		}
		defer l.Close()
		var n int
		what := "dead-lettered"
		switch {
		case cmd == "retry":
			n, err = l.RetryDeadLetters(ctx, idList)
		case *uncertain:
			what = "uncertain"
			n, err = l.DropUncertain(ctx, idList)
		default:
			n, err = l.DropDeadLetters(ctx, idList)
		}
		if err != nil {
			return err
		}
		verb := map[string]string{"retry": "moved back to the replay log", "drop": "dropped"}[cmd]
		fmt.Fprintf(stdout, "%d %s entries %s\n", n, what, verb)
		return nil
	}
	return fmt.Errorf("%w: unknown replay command %q\n%s", errUsage, cmd, replayUsage)
}

// parseInterleaved parses flags placed before or after the one positional argument, DIR.
func parseInterleaved(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("want one directory, got %d arguments", len(pos))
	}
	return pos[0], nil
}

func parseIDs(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not an entry ID", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func inspect(l *dualwrite.FileLog, limit int, w io.Writer) error {
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	n, oldest := l.Backlog()
	fmt.Fprintf(w, "replay log %s\n\npending: %d", l.Dir(), n)
	if n > 0 && !oldest.IsZero() {
		fmt.Fprintf(w, " (oldest logged %s)", stamp(oldest))
	}
	fmt.Fprintln(w)
	recs, err := l.PendingEntries(limit)
	if err != nil {
		return err
	}
	for i, r := range recs {
		entryLines(w, i+1, &r.Entry, "")
	}
	if int64(len(recs)) < n {
		fmt.Fprintf(w, "  … %d more\n", n-int64(len(recs)))
	}
	if wd := l.Withdrawn(); wd > 0 {
		fmt.Fprintf(w, "  (and %d withdrawn: kept before the leader answered, then refused by it; never replayed, not counted)\n", wd)
	}
	for _, sec := range []struct {
		name string
		list func() ([]dualwrite.Aside, error)
	}{{"dead-lettered", l.DeadLetters}, {"uncertain", l.UncertainEntries}} {
		as, err := sec.list()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s: %d\n", sec.name, len(as))
		if sec.name == "uncertain" && len(as) > 0 {
			fmt.Fprintf(w, "  (each holds its side's authority: reconcile it on that side, then `islands replay drop --uncertain --yes --id N %s`)\n", l.Dir())
		}
		for i, a := range as {
			if i == limit {
				fmt.Fprintf(w, "  … %d more\n", len(as)-limit)
				break
			}
			if a.Raw != nil {
				fmt.Fprintf(w, "  #%d  undecodable entry (%d bytes)  set aside %s\n      cause: %s\n", a.ID, len(a.Raw), stamp(a.At), a.Cause)
				continue
			}
			entryLines(w, a.ID, &a.Entry, fmt.Sprintf("set aside %s\n      cause: %s", stamp(a.At), a.Cause))
		}
	}
	return nil
}

func entryLines(w io.Writer, id int, e *dualwrite.Entry, extra string) {
	kind := ""
	if e.Batch {
		kind = fmt.Sprintf("  batch of %d", len(e.Stmts))
	}
	fmt.Fprintf(w, "  #%d  %s  timestamp %d  logged %s%s\n", id, e.Side, e.Timestamp, stamp(e.Logged), kind)
	if extra != "" {
		fmt.Fprintf(w, "      %s\n", extra)
	}
	for _, st := range e.Stmts {
		fmt.Fprintf(w, "      %s  %s", st.Stmt, dualwrite.SummarizeValues(st.Values))
		if st.Expiry != 0 {
			fmt.Fprintf(w, "  expires %s", stamp(time.UnixMicro(st.Expiry)))
		}
		fmt.Fprintln(w)
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
