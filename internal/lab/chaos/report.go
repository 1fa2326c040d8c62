package chaos

import (
	"fmt"
	"io"
	"strings"
)

// Print writes the report as a person reads it: seed, schedule, counts, staleness, violations and
// the command that replays the seed.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n=== chaos seed %d (%s) — %s\n", r.Seed, r.Duration, verdict(r))
	fmt.Fprintf(w, "schedule: %d faults %s\n%s", len(r.Schedule.Steps), kv(r.Schedule.Counts()), r.Schedule)
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "not offered by this world: %s\n", strings.Join(r.Skipped, "; "))
	}
	fmt.Fprintf(w, "faults injected: %s\n", kv(r.Result.Faults))
	fmt.Fprintf(w, "of them, affected traffic (an operation failed, timed out or was slow, writes waited in a replay log or as hints, writes replicated or cache events sent across a faulted WAN): %s\n", kv(r.Result.Affected))
	fmt.Fprintf(w, "migration flips (set = LWT made, applied = set --wait returned, wait-failed = it timed out): %s\n", kv(r.Result.Flips))
	fmt.Fprintf(w, "operations: %s\n", kv(r.Result.Ops))
	fmt.Fprintf(w, "largest replay backlog, most hint files: %s\n", kv(r.Result.MaxBacklog))
	if r.Result.Handoff != nil {
		fmt.Fprintf(w, "hand-off of the migrating writers' replay backlog (kill-disk deletes a writer's replay directory): %s\n", kv(r.Result.Handoff))
	}
	fmt.Fprintf(w, "events sent from the writers' cachesync spills by the end-of-run publisher: %s\n", kv(r.Result.SpillDrained))
	fmt.Fprintf(w, "acknowledged write latency: %s\n", kvs(r.Result.WriteLat))
	s := r.Result.Staleness
	fmt.Fprintf(w, "cache reads: %d hits; stale: %d during faults %s, %d calm %s\n", s.Reads, s.StaleDuring, kvs(s.During), s.StaleCalm, kvs(s.Calm))
	for _, e := range r.Result.Explained {
		fmt.Fprintf(w, "explained: %s — %s\n", e.What, e.Why)
	}
	for _, f := range r.Result.Findings {
		fmt.Fprintf(w, "FINDING (the campaign's, not the code's): %s\n", f)
	}
	for i, v := range r.Result.Violations {
		fmt.Fprintf(w, "VIOLATION %d %s\n", i+1, v)
	}
	fmt.Fprintf(w, "files: %s (history-*.jsonl, schedule.json, final.json, report.json, *.log)\n", r.Dir)
	fmt.Fprintf(w, "replay: %s\n", r.Replay)
}

func verdict(r *Report) string {
	if r.OK() {
		return "OK, no violation"
	}
	return fmt.Sprintf("%d VIOLATIONS", len(r.Result.Violations))
}

// kv prints a count per name, names sorted: {a=1, b=2}.
func kv[N int | int64](m map[string]N) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func kvs(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	order := []string{"n", "p50", "p90", "p99", "max"}
	var parts []string
	for _, k := range order {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}
