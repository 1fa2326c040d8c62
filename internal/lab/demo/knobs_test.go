package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/lab/world"
)

// The evacuation's split: every member of us-east-1 goes to exactly one region, each region's
// count is within one of its exact share, and the same members go to the same region every run.
func TestEvacuationSplit(t *testing.T) {
	for _, tc := range []struct {
		n     int
		share map[world.Region]int
	}{
		{300, DefaultEvacuationShare},
		{2000, DefaultEvacuationShare},
		{7, map[world.Region]int{world.EUWest1: 1, world.USWest2: 1}},
		{10, map[world.Region]int{world.EUWest1: 100}},
		{101, map[world.Region]int{world.EUWest1: 0, world.USWest2: 3}},
	} {
		var ms []member
		for i := range tc.n {
			ms = append(ms, member{ID: int64(tc.n - i)}) // out of order: split sorts
		}
		got := split(ms, tc.share)
		again := split(ms, tc.share)
		sum, seen := 0, map[int64]bool{}
		for _, w := range tc.share {
			sum += w
		}
		for r, w := range tc.share {
			exact := float64(tc.n*w) / float64(sum)
			if n := float64(len(got[r])); n < exact-1 || n > exact+1 {
				t.Errorf("n=%d share %v: %s got %d members, want %.1f ± 1", tc.n, shareString(tc.share), r, len(got[r]), exact)
			}
			for i, m := range got[r] {
				if seen[m.ID] {
					t.Errorf("member %d assigned twice", m.ID)
				}
				seen[m.ID] = true
				if again[r][i] != m {
					t.Errorf("split is not deterministic: %s[%d] %d then %d", r, i, m.ID, again[r][i].ID)
				}
			}
		}
		if len(seen) != tc.n {
			t.Errorf("n=%d share %v: %d members assigned", tc.n, shareString(tc.share), len(seen))
		}
	}
}

func TestParseShare(t *testing.T) {
	m, err := ParseShare("eu-west-1=70, us-west-2=30")
	if err != nil || m[world.EUWest1] != 70 || m[world.USWest2] != 30 || len(m) != 2 {
		t.Fatalf("ParseShare = %v, %v", m, err)
	}
	if s := shareString(m); s != "eu-west-1=70,us-west-2=30" {
		t.Errorf("shareString = %q", s)
	}
	for _, bad := range []string{"", "eu-west-1", "eu-west-1=x", "us-east-1=50,eu-west-1=50", "mars-1=10", "eu-west-1=-1,us-west-2=5", "eu-west-1=0"} {
		if _, err := ParseShare(bad); err == nil {
			t.Errorf("ParseShare(%q) accepted", bad)
		}
	}
}

// The YAML key and the flag say the same: evacuation_share; an unknown key is refused.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(write("ok.yaml", "members: 500\nevacuation_share:\n  eu-west-1: 60\n  us-west-2: 40\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.Members != 500 || o.EvacuationShare[world.EUWest1] != 60 || o.EvacuationShare[world.USWest2] != 40 {
		t.Errorf("options %+v", o)
	}
	if _, err := LoadConfig(write("typo.yaml", "evacuation_shares:\n  eu-west-1: 60\n")); err == nil || !strings.Contains(err.Error(), "evacuation_shares") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := LoadConfig(write("bad.yaml", "evacuation_share:\n  us-east-1: 60\n")); err == nil {
		t.Error("a share to the evacuated region accepted")
	}
}

// The short mode changes the knobs, and only through knobs().
func TestShortKnobs(t *testing.T) {
	long, short := (&Options{}).knobs(), (&Options{Short: true}).knobs()
	if short.members >= long.members || short.traffic >= long.traffic || short.probes >= long.probes {
		t.Errorf("short %+v not smaller than %+v", short, long)
	}
}
