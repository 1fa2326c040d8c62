package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// Step is one fault of a schedule: at At (from the start of the workload) the nemesis starts fault
// Kind on Target, and heals it Dur later (0: instantaneous, e.g. a phase flip).
type Step struct {
	At     time.Duration `json:"at"`
	Kind   string        `json:"kind"`
	Target string        `json:"target"`
	Dur    time.Duration `json:"dur,omitempty"`
	Arg    string        `json:"arg,omitempty"` // kind-specific: the phase, the skew, the forklift kill point
}

func (s Step) String() string {
	out := fmt.Sprintf("%6.1fs %-9s %-13s", s.At.Seconds(), s.Kind, s.Target)
	if s.Dur > 0 {
		out += fmt.Sprintf(" for %.1fs", s.Dur.Seconds())
	}
	if s.Arg != "" {
		out += " " + s.Arg
	}
	return out
}

// Schedule is what a seed decides: every fault, in time order.
type Schedule struct {
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"duration"`
	Steps    []Step        `json:"steps"`
}

// Counts returns how many faults of each kind the schedule injects.
func (s Schedule) Counts() map[string]int {
	out := map[string]int{}
	for _, st := range s.Steps {
		out[st.Kind]++
	}
	return out
}

func (s Schedule) String() string {
	var b strings.Builder
	for _, st := range s.Steps {
		b.WriteString("  " + st.String() + "\n")
	}
	return b.String()
}

// Generate draws the schedule of seed over duration from the fault kinds the nemesis offers. Four
// tracks run side by side, so faults overlap as they do in production: process faults (pause,
// kill, partition, latency: one at a time, 1-3 s apart), control changes (phase flips of the
// migration and clock skew, every 2-6 s; every other flip on average also pauses or kills an
// instance of the migration 50-450 ms after it began, a MidFlip target), at most one forklift
// run, and lost disks (kill-disk: a migrating writer killed with its replay directory deleted,
// every 10-20 s from 4-8 s in, down 1-3 s, drawn apart from the others so that offering it moves
// no other fault of a seed, and overlapping the process track: a writer dies owing entries while
// a side is paused). The same seed and the same offered kinds always give the same schedule.
func Generate(seed uint64, duration time.Duration, offered []Target, maxFault time.Duration) Schedule {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := Schedule{Seed: seed, Duration: duration}
	var proc, ctl, mid, disks []Target
	var fork *Target
	for i := range offered {
		if offered[i].MidFlip {
			mid = append(mid, offered[i])
		}
		switch offered[i].Kind {
		case KindPhase, KindSkew:
			ctl = append(ctl, offered[i])
		case KindForklift:
			fork = &offered[i]
		case KindKillDisk:
			disks = append(disks, offered[i])
		default:
			proc = append(proc, offered[i])
		}
	}
	if maxFault <= 0 {
		maxFault = 8 * time.Second
	}
	end := duration - 2*time.Second // the last fault heals before the workload stops
	dur := func(min time.Duration) time.Duration {
		return min + time.Duration(r.Int64N(int64(maxFault-min)+1))
	}
	if len(proc) > 0 {
		for at := 2 * time.Second; ; {
			t := pick(r, proc)
			d := dur(time.Second)
			if t.Slow { // a restart that takes long: hold it short, and count the restart itself
				d = time.Second
			}
			if at+d > end {
				break
			}
			st := Step{At: at, Kind: t.Kind, Target: t.Name, Dur: d}
			if t.Kind == KindLatency {
				// One way 100-800 ms: spikes above dualwrite's follower budget (200 ms) and below.
				// Drawn apart from r, so adding it moved no other fault of a seed.
				lr := rand.New(rand.NewPCG(seed, uint64(at)))
				st.Arg = (100*time.Millisecond + time.Duration(lr.Int64N(int64(700*time.Millisecond)))).Round(time.Millisecond).String()
			}
			s.Steps = append(s.Steps, st)
			at += d + time.Second + time.Duration(r.Int64N(int64(2*time.Second)))
			if t.Slow {
				at += 20 * time.Second // the restart waits for the service to answer
			}
		}
	}
	if len(ctl) > 0 {
		for at := time.Second + time.Duration(r.Int64N(int64(3*time.Second))); at < end; at += 2*time.Second + time.Duration(r.Int64N(int64(4*time.Second))) {
			t := pick(r, ctl)
			st := Step{At: at, Kind: t.Kind, Target: t.Name}
			switch t.Kind {
			case KindPhase:
				r.IntN(2) // the phase a flip went to was drawn here: kept, so no other fault of a seed moved
				st.Arg = "flip"
				if len(mid) > 0 {
					// Every other flip, an instance of the migration is paused or killed while
					// `set --wait` waits for it. Drawn apart from r, as the latency spikes are.
					mr := rand.New(rand.NewPCG(seed^0x6d69642d666c6970, uint64(at)))
					if mr.IntN(2) == 0 {
						t := pick(mr, mid)
						d := time.Second + time.Duration(mr.Int64N(int64(min(3*time.Second, maxFault-time.Second)+1)))
						off := 50*time.Millisecond + time.Duration(mr.Int64N(int64(400*time.Millisecond)))
						if at+off+d <= end {
							s.Steps = append(s.Steps, Step{At: at + off, Kind: t.Kind, Target: t.Name, Dur: d, Arg: "mid-flip"})
						}
					}
				}
			case KindSkew:
				d := dur(time.Second)
				if at+d > end {
					continue
				}
				st.Dur = d
				sign := 1 - 2*r.IntN(2)
				st.Arg = (time.Duration(sign) * time.Duration(100+r.IntN(2900)) * time.Millisecond).String()
			}
			s.Steps = append(s.Steps, st)
		}
	}
	if fork != nil && end > 6*time.Second {
		at := 2*time.Second + time.Duration(r.Int64N(int64(end/2)))
		killAfter := 200*time.Millisecond + time.Duration(r.Int64N(int64(1500*time.Millisecond)))
		s.Steps = append(s.Steps, Step{At: at, Kind: KindForklift, Target: fork.Name, Arg: "kill-after=" + killAfter.String()})
	}
	if len(disks) > 0 {
		dr := rand.New(rand.NewPCG(seed^0x6b696c6c2d64736b, 0x6469736b)) // "kill-dsk", "disk"
		for at := 4*time.Second + time.Duration(dr.Int64N(int64(4*time.Second))); ; at += 10*time.Second + time.Duration(dr.Int64N(int64(10*time.Second))) {
			t := pick(dr, disks)
			d := time.Second + time.Duration(dr.Int64N(int64(2*time.Second)))
			if at+d > end {
				break
			}
			s.Steps = append(s.Steps, Step{At: at, Kind: KindKillDisk, Target: t.Name, Dur: d})
		}
	}
	sort.SliceStable(s.Steps, func(i, j int) bool { return s.Steps[i].At < s.Steps[j].At })
	return s
}

func pick(r *rand.Rand, ts []Target) Target {
	total := 0
	for _, t := range ts {
		total += t.weight()
	}
	n := r.IntN(total)
	for _, t := range ts {
		if n < t.weight() {
			return t
		}
		n -= t.weight()
	}
	return ts[len(ts)-1]
}

// MaxSkew returns the largest clock offset of any region over the schedule, skews of one region
// composing (summing) while they overlap.
func MaxSkew(s Schedule) time.Duration {
	type edge struct {
		at     time.Duration
		region string
		d      time.Duration
		heal   bool
	}
	var edges []edge
	for _, st := range s.Steps {
		if st.Kind != KindSkew {
			continue
		}
		d, err := time.ParseDuration(st.Arg)
		if err != nil {
			continue
		}
		edges = append(edges, edge{st.At, st.Target, d, false}, edge{st.At + st.Dur, st.Target, -d, true})
	}
	// Heals before starts at the same instant: a skew ending when another starts does not add.
	sort.SliceStable(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].heal && !edges[j].heal
	})
	cur := map[string]time.Duration{}
	var most time.Duration
	for _, e := range edges {
		cur[e.region] += e.d
		most = max(most, cur[e.region], -cur[e.region])
	}
	return most
}

// SecondInvalidationFor returns the cachesync SecondInvalidation within the library's contract
// (≥ TombstoneTTL + 2 × skew) for tombstones of ttl and clocks off by up to skew, rounded up to
// whole seconds (SQS delays are whole seconds), with a second of margin. The skew is at least
// cachesync.DefaultMaxClockSkew: the writers' clients check the setting against it (a schedule
// without a skew gave 11 s for a 10 s TTL, below their 12 s, and every writer refused to start).
func SecondInvalidationFor(ttl, skew time.Duration) time.Duration {
	d := ttl + 2*max(skew, cachesync.DefaultMaxClockSkew) + time.Second
	return (d + time.Second - 1).Truncate(time.Second)
}
