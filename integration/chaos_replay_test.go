package integration

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/lab/chaos"
)

// TestChaosSeedReplays runs one short seed twice and compares what it did: the same schedule, and
// for every worker the same operations in the same order (the shorter run's sequence a prefix of
// the longer's), whatever the services answered. Two runs cost about two minutes, so make test
// leaves it out: ISLANDS_CHAOS_REPLAY=1 runs it.
func TestChaosSeedReplays(t *testing.T) {
	if os.Getenv("ISLANDS_CHAOS_REPLAY") != "1" {
		t.Skip("ISLANDS_CHAOS_REPLAY=1 runs it (two short campaign runs)")
	}
	e := needServices(t)
	w := needWorld(t)
	bin := buildPrograms(t)
	w.Regions = cmp.Or(w.Regions, e.Regions)
	env, err := chaos.EnvFromWorld(w)
	if err != nil {
		t.Fatal(err)
	}
	out := keptDir(t)
	var scheds []chaos.Schedule
	var seqs []map[string][]chaos.Op
	for run := 0; run < 2; run++ {
		dir := filepath.Join(out, "run-"+string(rune('a'+run)))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		rep, err := chaos.Run(ctx, chaos.Options{Seed: 5, Duration: 12 * time.Second, Rate: 40, Keys: 20, MaxFault: 3 * time.Second,
			Kinds: []string{chaos.KindPause, chaos.KindSkew, chaos.KindPhase}, Env: env, Dir: dir,
			IslandsBin: filepath.Join(bin, "islands-lab"), CachesyncBin: filepath.Join(bin, "cachesync"),
			DrainTimeout: 20 * time.Second, Progress: testWriter{t}})
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		paths, _ := filepath.Glob(filepath.Join(dir, "history-*.jsonl"))
		h, err := chaos.ReadHistory(paths...)
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, rep.Schedule)
		seqs = append(seqs, chaos.OperationSequences(h))
	}
	if !reflect.DeepEqual(scheds[0], scheds[1]) {
		t.Fatalf("schedules differ:\n%s\n%s", scheds[0], scheds[1])
	}
	compared := 0
	for worker, a := range seqs[0] {
		b := seqs[1][worker]
		n := min(len(a), len(b))
		if !reflect.DeepEqual(a[:n], b[:n]) {
			for i := 0; i < n; i++ {
				if !reflect.DeepEqual(a[i], b[i]) {
					t.Fatalf("worker %s op %d: %+v in run a, %+v in run b", worker, i, a[i], b[i])
				}
			}
		}
		compared += n
	}
	if compared < 100 {
		t.Fatalf("only %d operations compared", compared)
	}
	t.Logf("%d workers, %d operations compared, schedule of %d faults equal", len(seqs[0]), compared, len(scheds[0].Steps))
}
