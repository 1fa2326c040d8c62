package demo

import (
	"sync"
	"time"

	"github.com/globalcloud/islands/internal/lab/world"
)

// The model is the demo's own account of what every member's data must be, written without the
// merge package: it is what the checks hold the regions to.

type cell struct {
	V  any
	TS int64 // writetime, µs
}

type tkey struct{ Member, Title int64 }

type bookmark struct {
	Pos     int64
	Updated time.Time
}

type entry struct {
	Pos     int64
	Watched time.Time
}

// region indexes, into world.Regions and the run's Region handles: 0 us-east-1, 1 eu-west-1,
// 2 us-west-2. A member's Home is us (the Americas island) or eu (the EU island).
const (
	us  = 0
	eu  = 1
	usw = 2
)

// regionNames are world.Regions' names, by region index.
var regionNames = func() []string {
	var out []string
	for _, r := range world.Regions {
		out = append(out, string(r))
	}
	return out
}()

type member struct {
	ID        int64
	Home      int
	Traveller bool
	Planted   bool
}

type model struct {
	mu        sync.Mutex
	members   []member
	profiles  map[int64]map[string]cell
	bookmarks map[tkey]bookmark
	history   map[tkey]entry
	titles    map[int64][]int64            // each member's history titles
	btitles   map[int64][]int64            // each member's bookmarked titles
	prefs     map[int64]map[string]cell    // merged by lww
	islandPrf [2]map[int64]map[string]cell // each island's own preferences (planted members)
	nextTitle int64
}

func newModel() *model {
	return &model{profiles: map[int64]map[string]cell{}, bookmarks: map[tkey]bookmark{}, history: map[tkey]entry{}, titles: map[int64][]int64{}, btitles: map[int64][]int64{},
		prefs: map[int64]map[string]cell{}, islandPrf: [2]map[int64]map[string]cell{{}, {}}, nextTitle: 900000}
}

// lww merges cells into row, newest writetime per column (Cassandra breaks exact ties by value; the
// demo's timestamps never tie).
func lww(rows map[int64]map[string]cell, id int64, cells map[string]cell) {
	row := rows[id]
	if row == nil {
		row = map[string]cell{}
		rows[id] = row
	}
	for c, v := range cells {
		if cur, ok := row[c]; !ok || v.TS > cur.TS {
			row[c] = v
		}
	}
}

func (m *model) profile(id int64, cells map[string]cell) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lww(m.profiles, id, cells)
}

// bookmark: newest-by updated_at keeps the row touched last.
func (m *model) bookmark(k tkey, b bookmark) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.bookmarks[k]
	if !ok {
		m.btitles[k.Member] = append(m.btitles[k.Member], k.Title)
	}
	if !ok || b.Updated.After(cur.Updated) {
		m.bookmarks[k] = b
	}
}

// watch: viewing-history keeps per title the furthest position and the latest time.
func (m *model) watch(k tkey, e entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.history[k]
	if !ok {
		m.history[k] = e
		m.titles[k.Member] = append(m.titles[k.Member], k.Title)
		return
	}
	if e.Pos > cur.Pos {
		cur.Pos = e.Pos
	}
	if e.Watched.After(cur.Watched) {
		cur.Watched = e.Watched
	}
	m.history[k] = cur
}

func (m *model) pref(region int, id int64, cells map[string]cell) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lww(m.prefs, id, cells)
	lww(m.islandPrf[region], id, cells)
}

// expectedPrefs is what region's global keyspace must hold for id: the lww merge, except for a
// planted member, whose partition is quarantined: the region keeps its own island's version.
func (m *model) expectedPrefs(region int, id int64, planted bool) map[string]cell {
	if planted {
		return m.islandPrf[region][id]
	}
	return m.prefs[id]
}

// ms truncates t to Cassandra's timestamp precision.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }
