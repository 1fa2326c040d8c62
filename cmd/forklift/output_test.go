package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/forklift"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// Each command's text and JSON output for a fixed report, against testdata/<command>.golden.
func TestOutputGolden(t *testing.T) {
	at := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	verify := &forklift.VerifyReport{RunID: "r1", Started: at, Seconds: 2.5, Missing: 1, Tables: []forklift.TableVerification{
		{Table: "island.profiles", Resolver: "lww", Subranges: 16, SubrangesEqual: 15, SourceRows: 1000, Missing: 1,
			Samples: []forklift.Difference{{Kind: "missing", Key: "7", Column: "plan", Source: `"gold" @5`}}}}}
	run := &forklift.RunReport{RunID: "r1", Shard: "0/1", Started: at, Finished: at.Add(4 * time.Second), Seconds: 4, Rows: 2000, RowsPerSec: 500,
		Tables: []forklift.TableReport{{Table: "island.profiles", Resolver: "lww", Blind: true, Ranges: 4, RangesDone: 4, Rows: 2000, Partitions: 500, Statements: 2000,
			Conflicts: map[string]int64{"plan": 3}}}}
	cases := map[string]output{
		"plan": planOutput{&forklift.PlanReport{RunID: "r1", Ranges: 4, Tables: []forklift.TablePlan{{Table: "island.prefs", Destination: "global.prefs",
			Resolver: "quarantine", PartitionKey: []string{"id"}, Columns: []string{"lang text"}, Ranges: 4, EstPartitions: -1, EstBytes: -1,
			Sample: &forklift.Sample{Partitions: 10, OnBothSides: 8, RowsOnBothSides: 8, ConflictingRows: 2, Conflicts: map[string]int{"lang": 2},
				NewerInSource: map[string]int{"lang": 1}, ResolverWrites: 3, Quarantined: 1}}}}},
		"run":    runOutput{run},
		"verify": verifyOutput{verify},
		"repair": repairOutput{&forklift.RepairReport{Before: verify, Copied: run, After: &forklift.VerifyReport{RunID: "r1", Started: at, Seconds: 1, Clean: true}}},
		"status": statusOutput{&forklift.StatusReport{RunID: "r1", Tables: []forklift.TableStatus{{Table: "island.profiles", Ranges: 4, RangesDone: 2, Rows: 900, Fraction: 0.5, LastUpdated: at}}}},
	}
	for name, out := range cases {
		var got bytes.Buffer
		out.print(&got)
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString("--- json\n")
		got.Write(b)
		got.WriteByte('\n')
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -run TestOutputGolden -update writes it)", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s output differs from %s:\n%s", name, path, got.String())
		}
	}
}
