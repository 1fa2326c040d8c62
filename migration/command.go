package migration

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gocql/gocql"
)

// Usage is the operator's command's help (islands migration).
const Usage = `usage: islands migration COMMAND [flags]

commands:
  status NAME [--stale 5s] [-o json]
        the migration's phase and epoch, and one row per live instance (region, applied epoch and
        phase, replay backlog, dead letters, heartbeat age); stale instances listed apart; the
        backlog handed off to the control keyspace by instances that left, per side
  set NAME PHASE [--wait 2m] [--force] [--by WHO] [-o json]
        move NAME to PHASE (primary-only, dual, dual-flipped, secondary-only) by one step, with a
        lightweight transaction on the epoch; with --wait, return once every live instance applied
        it (and so the new authority had no replay backlog) and the handed-off backlog owes the
        phase's authority nothing (whatever the phase before), else fail naming what is missing
common flags:
  --keyspace islands_control     the control keyspace (created by the first set, NTS in every
                                 datacenter, or as --replication dc:rf,dc:rf says)
exit status: 0 done; 1 error (refused step, lost race, timeout naming the instances); 2 usage
`

// ErrUsage is a command line that cannot be run (exit status 2).
var ErrUsage = errors.New("usage")

// Command runs `islands migration ARGS`: connect opens the control cluster (the program owns the
// flags of how to reach it); stdout gets the report.
func Command(ctx context.Context, args []string, stdout io.Writer, connect func(ctx context.Context) (*gocql.Session, error)) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, Usage)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("migration "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keyspace := fs.String("keyspace", DefaultKeyspace, "control keyspace")
	replication := fs.String("replication", "", "set: dc:rf,… of a new control keyspace (default 1 in every datacenter)")
	output := fs.String("o", "text", "text or json")
	stale := fs.Duration("stale", DefaultStaleAfter, "status: a heartbeat older than this is listed as stale")
	wait := fs.Duration("wait", 0, "set: wait this long for every live instance to apply the change (0: do not wait)")
	force := fs.Bool("force", false, "set: allow a skipped step (or the same phase again)")
	by := fs.String("by", defaultBy(), "set: who changes the phase (recorded)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return fmt.Errorf("%w: %v\n%s", ErrUsage, err, Usage)
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("%w: -o %q: use text or json", ErrUsage, *output)
	}
	switch {
	case cmd == "status" && len(pos) == 1, cmd == "set" && len(pos) == 2:
	case cmd == "status" || cmd == "set":
		return fmt.Errorf("%w: wrong number of arguments\n%s", ErrUsage, Usage)
	default:
		return fmt.Errorf("%w: unknown command %q\n%s", ErrUsage, cmd, Usage)
	}
	if cmd == "set" {
		if _, err := phaseIndex(pos[1]); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	sess, err := connect(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	st := NewStore(sess, *keyspace)
	if cmd == "status" {
		f, err := Status(ctx, st, pos[0], *stale, true)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(stdout, f)
		}
		printFleet(stdout, f, *stale)
		return nil
	}

	if err := ensureSchema(ctx, st, *replication); err != nil {
		return err
	}
	res := SetResult{}
	start := time.Now()
	res.State, err = Change(ctx, st, pos[0], pos[1], *by, *force)
	if err == nil && *wait > 0 {
		res.Waited = true
		wctx, cancel := context.WithTimeout(ctx, *wait)
		var f Fleet
		f, err = Wait(wctx, st, pos[0], res.State.Epoch, 0)
		cancel()
		res.Instances, res.Behind = len(f.All()), f.Behind(res.State.Epoch)
		res.Fleet = &f
	}
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		res.Error = err.Error()
	}
	if *output == "json" {
		if jerr := writeJSON(stdout, res); jerr != nil {
			return jerr
		}
		return err
	}
	if res.State.Epoch > 0 && (err == nil || res.Waited) {
		fmt.Fprintf(stdout, "migration %s: %s → %s, epoch %d (by %s)\n", res.State.Name, orNone(res.State.PreviousPhase),
			res.State.Phase, res.State.Epoch, res.State.ChangedBy)
	}
	if err == nil && res.Waited {
		fmt.Fprintf(stdout, "applied by all %d live instances in %.2fs\n", res.Instances, res.Seconds)
	}
	return err
}

// SetResult is `set`'s JSON output.
type SetResult struct {
	State     State       `json:"migration"`
	Waited    bool        `json:"waited"`
	Seconds   float64     `json:"seconds"`
	Instances int         `json:"instances"`
	Behind    []Heartbeat `json:"behind,omitempty"`
	Fleet     *Fleet      `json:"fleet,omitempty"`
	Error     string      `json:"error,omitempty"`
}

// ensureSchema creates the control keyspace when its migrations table is missing, and the
// hand-off tables (added later) when they are.
func ensureSchema(ctx context.Context, st *Store, replication string) error {
	have := map[string]bool{}
	it := st.s.Query("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", st.ks).WithContext(ctx).Iter()
	var t string
	for it.Scan(&t) {
		have[t] = true
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%w: looking for the control keyspace %s: %w", ErrUnavailable, st.ks, err)
	}
	if have["migrations"] && have["handoff_batches"] && have["handoff_entries"] && have["handoff_leases"] {
		return nil
	}
	var rep map[string]int
	if replication != "" {
		rep = map[string]int{}
		for _, p := range strings.Split(replication, ",") {
			dc, rf, ok := strings.Cut(strings.TrimSpace(p), ":")
			n, err := strconv.Atoi(rf)
			if !ok || err != nil || n < 1 {
				return fmt.Errorf("%w: --replication %q: want dc:rf,dc:rf", ErrUsage, replication)
			}
			rep[dc] = n
		}
	}
	return st.EnsureSchema(ctx, rep)
}

func printFleet(w io.Writer, f Fleet, stale time.Duration) {
	s := f.State
	fmt.Fprintf(w, "migration %s: %s, epoch %d (set by %s at %s, from %s)\n", s.Name, s.Phase, s.Epoch, s.ChangedBy,
		s.ChangedAt.Format(time.RFC3339), orNone(s.PreviousPhase))
	if s.Forklift != "" {
		fmt.Fprintf(w, "forklift: %s (by %s, started %s", s.Forklift, s.ForkliftBy, s.ForkliftStarted.Format(time.RFC3339))
		if !s.ForkliftEnded.IsZero() {
			fmt.Fprintf(w, ", ended %s", s.ForkliftEnded.Format(time.RFC3339))
		}
		fmt.Fprintln(w, ")")
	}
	if f.Partial != "" {
		fmt.Fprintf(w, "PARTIAL: %s\n", f.Partial)
	}
	if f.HandoffError != "" {
		fmt.Fprintf(w, "handed-off backlog: unreadable (%s)\n", f.HandoffError)
	} else {
		fmt.Fprintf(w, "handed-off backlog (shared store, waiting for adoption): primary %d, secondary %d\n",
			f.HandedOff["primary"], f.HandedOff["secondary"])
	}
	table := func(hs []Heartbeat) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REGION\tINSTANCE\tEPOCH\tPHASE\tBACKLOG\tDEAD LETTERS\tHEARTBEAT AGE\tCONTROL READ AGE\tLAST ERROR")
		for _, h := range hs {
			mark := ""
			switch {
			case h.Epoch < s.Epoch:
				mark = " (behind)"
			case aheadOfRow(h, s.Epoch):
				mark = " (ahead of the row: refuses its epochs)"
			case otherHistory(h, s):
				mark = " (another history: refuses this epoch)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d%s\t%s\t%d\t%d\t%s\t%s\t%s\n", h.Region, h.Instance, h.Epoch, mark, orNone(h.Phase),
				h.Backlog, h.DeadLetters, time.Since(h.Updated).Truncate(100*time.Millisecond), h.ControlReadAge.Truncate(time.Millisecond), h.LastError)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%d live instances, %d behind epoch %d\n", len(f.Live), len(Fleet{State: s, Live: f.Live}.Behind(s.Epoch)), s.Epoch)
	if len(f.Live) > 0 {
		table(f.Live)
	}
	if len(f.Stale) > 0 {
		fmt.Fprintf(w, "stale (no heartbeat for %s; they count until their heartbeat expires):\n", stale)
		table(f.Stale)
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func defaultBy() string {
	u := os.Getenv("USER")
	if u == "" {
		u = "operator"
	}
	h, _ := os.Hostname()
	return u + "@" + h
}

// parseInterleaved parses flags that may come before, between or after the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
