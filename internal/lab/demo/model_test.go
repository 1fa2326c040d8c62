package demo

import (
	"testing"
	"time"
)

// The model is what the demo holds the regions to, so its rules are tested on their own.
func TestModelRules(t *testing.T) {
	m := newModel()
	m.profile(1, map[string]cell{"plan": {"basic", 10}, "email": {"a@old", 30}})
	m.profile(1, map[string]cell{"plan": {"premium", 20}, "email": {"a@older", 5}})
	if m.profiles[1]["plan"].V != "premium" || m.profiles[1]["email"].V != "a@old" {
		t.Fatalf("lww per cell: %v", m.profiles[1])
	}
	t0 := time.Unix(1000, 0)
	m.bookmark(tkey{1, 7}, bookmark{Pos: 100, Updated: t0.Add(time.Second)})
	m.bookmark(tkey{1, 7}, bookmark{Pos: 900, Updated: t0})
	if b := m.bookmarks[tkey{1, 7}]; b.Pos != 100 || len(m.btitles[1]) != 1 {
		t.Fatalf("newest-by: %+v, titles %v", b, m.btitles[1])
	}
	m.watch(tkey{1, 7}, entry{Pos: 600, Watched: t0})
	m.watch(tkey{1, 7}, entry{Pos: 300, Watched: t0.Add(time.Hour)})
	if e := m.history[tkey{1, 7}]; e.Pos != 600 || !e.Watched.Equal(t0.Add(time.Hour)) || len(m.titles[1]) != 1 {
		t.Fatalf("viewing history keeps the furthest position and the latest time: %+v", e)
	}
	m.pref(us, 2, map[string]cell{"language": {"en", 10}, "maturity_level": {2, 10}})
	m.pref(eu, 2, map[string]cell{"language": {"fr", 20}, "maturity_level": {3, 20}})
	if got := m.expectedPrefs(us, 2, false); got["language"].V != "fr" {
		t.Fatalf("lww preferences: %v", got)
	}
	if got := m.expectedPrefs(us, 2, true); got["maturity_level"].V != 2 {
		t.Fatalf("a quarantined member keeps its own region's version: %v", got)
	}
}
