package chaos

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

// The lost-disk faults are the seed's (issue 30, test 4): one seed gives one schedule; offering
// kill-disk adds its steps without moving any other fault of the seed (an older replay command,
// whose kinds name no kill-disk, draws the schedule it drew); the steps hit only the writers with a
// disk, one at a time (10-20 s apart), each down 1-3 s and healed before the workload stops; and
// `--kinds kill-disk` draws them alone.
func TestScheduleKillDisk(t *testing.T) {
	base := []Target{{Kind: KindPause, Name: "cassandra-eu"}, {Kind: KindKill, Name: "memcached-us"},
		{Kind: KindPhase, Name: "writers"}, {Kind: KindSkew, Name: "eu-west-1"}, {Kind: KindForklift, Name: "us-to-eu"},
		{Kind: KindKill, Name: "writer-eu", MidFlip: true}}
	disks := []Target{{Kind: KindKillDisk, Name: "writer-eu"}, {Kind: KindKillDisk, Name: "writer-eub"}}
	offered := append(append([]Target{}, base...), disks...)
	for _, seed := range []uint64{1, 7, 17, 42} {
		a, b := Generate(seed, time.Minute, offered, 5*time.Second), Generate(seed, time.Minute, offered, 5*time.Second)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d gave two schedules", seed)
		}
		var others, lost []Step
		for _, st := range a.Steps {
			if st.Kind == KindKillDisk {
				lost = append(lost, st)
			} else {
				others = append(others, st)
			}
		}
		if old := Generate(seed, time.Minute, base, 5*time.Second); !reflect.DeepEqual(old.Steps, others) {
			t.Fatalf("seed %d: offering kill-disk moved other faults:\n%s\nwas\n%s", seed, a, old)
		}
		if len(lost) < 2 || a.Counts()[KindKillDisk] != len(lost) {
			t.Fatalf("seed %d: %d kill-disk steps in a minute, want 2 or more:\n%s", seed, len(lost), a)
		}
		for i, st := range lost {
			if st.Target != "writer-eu" && st.Target != "writer-eub" {
				t.Errorf("seed %d: kill-disk of %s, which has no disk offered", seed, st.Target)
			}
			if st.Dur < time.Second || st.Dur > 3*time.Second || st.At < 4*time.Second || st.At+st.Dur > a.Duration-2*time.Second {
				t.Errorf("seed %d: step %s: want down 1-3 s, from 4 s in, healed 2 s before the end", seed, st)
			}
			if i > 0 && st.At-lost[i-1].At < 10*time.Second {
				t.Errorf("seed %d: steps %s and %s less than 10 s apart", seed, lost[i-1], st)
			}
		}
		alone := Generate(seed, time.Minute, filterKinds(offered, []string{KindKillDisk}, nil), 5*time.Second)
		if !reflect.DeepEqual(alone.Steps, lost) {
			t.Fatalf("seed %d: --kinds kill-disk drew\n%s\nwant the same kill-disk steps\n%s", seed, alone, a)
		}
	}
}

// A kill-disk kills the writer, records how many entries its replay directory held, deletes the
// directory, and its heal starts the next incarnation on a fresh, empty one; only children with a
// disk are offered to it.
func TestKillDiskLosesTheReplayDirectory(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "replay-eu")
	l, err := dualwrite.OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		e := &dualwrite.Entry{Side: "secondary", Timestamp: int64(1000 + i), Logged: time.Now(),
			Stmts: []dualwrite.Stmt{{Stmt: "INSERT INTO kv (k, v) VALUES (?, ?)", Values: []any{i, "x"}}}}
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	w := &Child{Name: "writer-eu", Log: filepath.Join(tmp, "w.log"), Args: func(int) []string { return []string{"sleep", "30"} }}
	u := &Child{Name: "writer-us", Log: filepath.Join(tmp, "u.log"), Args: func(int) []string { return []string{"sleep", "30"} }}
	for _, c := range []*Child{w, u} {
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Kill()
	}
	rec, err := NewRecorder(filepath.Join(tmp, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	f := ChildFault{Children: []*Child{w, u}, Disks: map[string]string{"writer-eu": dir}, Rec: rec}
	var offered []string
	for _, tg := range f.Targets() {
		if tg.Kind == KindKillDisk {
			offered = append(offered, tg.Name)
		}
	}
	if !reflect.DeepEqual(offered, []string{"writer-eu"}) {
		t.Fatalf("kill-disk offered to %v, want writer-eu alone", offered)
	}
	st := Step{Kind: KindKillDisk, Target: "writer-eu", Dur: time.Second}
	if err := f.Start(ctx, st); err != nil {
		t.Fatal(err)
	}
	if w.Running() {
		t.Fatal("writer-eu still running after its kill-disk")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("its replay directory is still there (%v)", err)
	}
	rec.Close()
	h, err := ReadHistory(filepath.Join(tmp, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].F != KindKillDisk || h[0].Target != "writer-eu" || h[0].Backlog != 3 || h[0].Err != "" {
		t.Fatalf("history %+v, want one disk-lost event of writer-eu counting 3 entries", h)
	}
	if err := f.Stop(ctx, st); err != nil {
		t.Fatal(err)
	}
	if !w.Running() || w.Incarnation() != 1 {
		t.Fatalf("writer-eu not restarted (running %v, incarnation %d)", w.Running(), w.Incarnation())
	}
}

// The report counts a kill-disk as injected, as affecting traffic when the lost disk held
// entries (only the hand-off carried them), and sums the writers' hand-off figures, each
// incarnation's largest (they are cumulative).
func TestKillDiskCountedInTheReport(t *testing.T) {
	n := func(at int64, value string, backlog int64) Op {
		return Op{Time: at, Type: NemesisEvent, Process: "nemesis", F: KindKillDisk, Target: "writer-eu", Value: value, Backlog: backlog}
	}
	h := []Op{
		n(100, "start", 0), n(101, "disk lost", 7), n(200, "end", 0), // held 7 entries
		n(300, "start", 0), n(301, "disk lost", 0), n(400, "end", 0), // held none: traffic unaffected
		{Time: 150, Type: Stats, Process: "writer-eu#0", Region: EURegion, Copied: 7},
		{Time: 250, Type: Stats, Process: "writer-eub#0", Region: EURegion, Adopted: 4},
		{Time: 260, Type: Stats, Process: "writer-eub#0", Region: EURegion, Adopted: 7},
		{Time: 900, Type: Drained, Process: "writer-eub#0", Region: EURegion, Adopted: 7, Copied: 2},
	}
	if got := affectedTraffic(h, nil); got[KindKillDisk] != 1 {
		t.Fatalf("affected %v, want kill-disk=1 (the disk that held 7 entries)", got)
	}
	want := map[string]int64{"disks_lost": 2, "entries_on_lost_disks": 7, "copied": 9, "handed_off": 0, "adopted": 7}
	if got := handoffFigures(h); !reflect.DeepEqual(got, want) {
		t.Fatalf("hand-off figures %v, want %v", got, want)
	}
	if got := handoffFigures(nil); got != nil {
		t.Fatalf("figures %v of a run without a hand-off", got)
	}
}
