package demo

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/globalcloud/islands/internal/lab/world"
)

// knobs are every size and duration of a run that the short mode (make test's TestDemoShort)
// changes: they live here and nowhere else, so the run's length is tuned in one place.
type knobs struct {
	members  int           // members per region, before Options.Scale
	traffic  time.Duration // the migration-phase traffic (the evacuation's is as long; step 6's half)
	rate     float64       // writes/s of one region's application (the EU instances share it)
	workers  int           // goroutines of one region's application (the EU instances share them)
	window   time.Duration // each WAN setting's traffic in the distance step
	probes   int           // visibility probes per ordered pair of regions and WAN setting
	hang     time.Duration // how long eu-west-1's global node hangs under the EU dual writes
	ranges   int           // forklift token ranges per table
	sample   int           // plan --sample keys (at most half the members)
	setWait  time.Duration // `islands migration set --wait`
	controlP time.Duration // the EU instances' control-keyspace poll (dualwrite.MigrationPoll)
}

func (o *Options) knobs() knobs {
	k := knobs{members: 2000, traffic: 10 * time.Second, rate: 300, workers: 9, window: 3 * time.Second, probes: 12,
		hang: 3 * time.Second, ranges: 32, sample: 500, setWait: time.Minute, controlP: 250 * time.Millisecond}
	if o.Short {
		k.members, k.traffic, k.rate, k.window, k.probes, k.hang, k.ranges = 200, 4*time.Second, 100, 1500*time.Millisecond, 5, 2*time.Second, 8
	}
	return k
}

// DefaultEvacuationShare is how us-east-1's members are split between the regions that take them
// when it is evacuated, in percent: the seeds send "most of the traffic to EU-West-1 and a smaller
// portion to US-West-2", by capacity.
var DefaultEvacuationShare = map[world.Region]int{world.EUWest1: 70, world.USWest2: 30}

// ParseShare reads an evacuation share, "eu-west-1=70,us-west-2=30": weights per region (any
// positive integers; they are shares of their sum). Every region named must be a region of the
// world other than us-east-1, the one evacuated.
func ParseShare(s string) (map[world.Region]int, error) {
	out := map[world.Region]int{}
	for _, p := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			return nil, fmt.Errorf("demo: evacuation share %q: want region=weight,region=weight", s)
		}
		out[world.Region(strings.TrimSpace(name))] = n
	}
	return out, checkShare(out)
}

func checkShare(m map[world.Region]int) error {
	if len(m) == 0 {
		return fmt.Errorf("demo: evacuation share: no region")
	}
	sum := 0
	for r, n := range m {
		switch {
		case !world.Known(r):
			return fmt.Errorf("demo: evacuation share: %q is not a region of the world %v", r, world.Regions)
		case r == world.USEast1:
			return fmt.Errorf("demo: evacuation share: us-east-1 is the region evacuated")
		case n < 0:
			return fmt.Errorf("demo: evacuation share: %s: weight %d < 0", r, n)
		}
		sum += n
	}
	if sum == 0 {
		return fmt.Errorf("demo: evacuation share: every weight is 0")
	}
	return nil
}

// shareString is m as ParseShare reads it, regions in the world's order.
func shareString(m map[world.Region]int) string {
	var parts []string
	for _, r := range world.Regions {
		if n, ok := m[r]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	return strings.Join(parts, ",")
}

// split assigns members to the regions of share in proportion to their weights (smooth weighted
// round robin over the members in ID order: each region's count is within one of its exact share,
// and the assignment is the same on every run).
func split(members []member, share map[world.Region]int) map[world.Region][]member {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	var regions []world.Region
	total := 0
	for _, r := range world.Regions {
		if n := share[r]; n > 0 {
			regions = append(regions, r)
			total += n
		}
	}
	cur := map[world.Region]int{}
	out := map[world.Region][]member{}
	for _, m := range ms {
		best := regions[0]
		for _, r := range regions {
			cur[r] += share[r]
			if cur[r] > cur[best] {
				best = r
			}
		}
		cur[best] -= total
		out[best] = append(out[best], m)
	}
	return out
}

// Config is the demo's YAML configuration (islands-lab demo --config FILE); flags override it.
//
//	members: 2000            # members per region
//	scale: 1                 # multiplies members
//	out: demo-out            # report.json, report.html, demo.log, the replay logs
//	evacuation_share:        # how us-east-1's members are split when it is evacuated
//	  eu-west-1: 70
//	  us-west-2: 30
type Config struct {
	Members         int            `yaml:"members"`
	Scale           float64        `yaml:"scale"`
	Short           bool           `yaml:"short"`
	Out             string         `yaml:"out"`
	EvacuationShare map[string]int `yaml:"evacuation_share"`
}

// LoadConfig reads a Config from path (unknown keys are an error).
func LoadConfig(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("demo: config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("demo: config %s: %w", path, err)
	}
	if c.EvacuationShare != nil {
		if err := checkShare(c.share()); err != nil {
			return c, fmt.Errorf("demo: config %s: %w", path, err)
		}
	}
	return c, nil
}

func (c Config) share() map[world.Region]int {
	if c.EvacuationShare == nil {
		return nil
	}
	m := map[world.Region]int{}
	for r, n := range c.EvacuationShare {
		m[world.Region(r)] = n
	}
	return m
}

// Options returns the Options the config says (Progress and World left to the caller).
func (c Config) Options() Options {
	return Options{Members: c.Members, Scale: c.Scale, Short: c.Short, Out: c.Out, EvacuationShare: c.share()}
}
