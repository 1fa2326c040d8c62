package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/cachesync"
)

// CheckResult is one region's check of every member against the model.
type CheckResult struct {
	Region         string  `json:"region"`
	Members        int     `json:"members"`
	Served         int     `json:"served"` // every dataset of the member as the model says
	Wrong          int     `json:"wrong"`
	CacheHits      int64   `json:"cache_hits"`
	CacheFills     int64   `json:"cache_fills"`
	StaleFromCache int64   `json:"stale_from_cache"`
	Seconds        float64 `json:"seconds"`
	// Reads is how long reading one member took (every dataset, through the cache where the
	// application would), 16 members at a time.
	Reads   Percentile `json:"member_read_ms"`
	Samples []string   `json:"samples,omitempty"`
}

// checker reads members from one region: its global keyspace and, with fill, its cache
// (cache-aside: a miss is read from the database and filled locally).
type checker struct {
	region             int
	s                  *gocql.Session
	cache              *cachesync.Client
	fill               bool
	m                  *model
	members            []member // the members the region serves
	hits, fills, stale atomic.Int64
	mu                 sync.Mutex
	samples            []string
	reads              samples
}

func (c *checker) wrong(format string, args ...any) {
	c.mu.Lock()
	if len(c.samples) < 10 {
		c.samples = append(c.samples, fmt.Sprintf(format, args...))
	}
	c.mu.Unlock()
}

// run checks every member with 16 at a time.
func (c *checker) run(ctx context.Context) (*CheckResult, error) {
	start := time.Now()
	var served, wrong atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, mem := range c.members {
		g.Go(func() error {
			t0 := time.Now()
			ok, err := c.member(ctx, mem)
			c.reads.add("", float64(time.Since(t0).Microseconds())/1000)
			if err != nil {
				return fmt.Errorf("member %d in %s: %w", mem.ID, regionNames[c.region], err)
			}
			if ok {
				served.Add(1)
			} else {
				wrong.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &CheckResult{Region: regionNames[c.region], Members: len(c.members), Served: int(served.Load()), Wrong: int(wrong.Load()),
		CacheHits: c.hits.Load(), CacheFills: c.fills.Load(), StaleFromCache: c.stale.Load(),
		Seconds: time.Since(start).Seconds(), Reads: percentiles(c.reads.get("")), Samples: c.samples}, nil
}

func (c *checker) member(ctx context.Context, mem member) (bool, error) {
	ok := true
	for _, f := range []func(context.Context, member) (bool, error){c.profile, c.bookmarks, c.history, c.prefs} {
		good, err := f(ctx, mem)
		if err != nil {
			return false, err
		}
		ok = ok && good
	}
	return ok, nil
}

func (c *checker) expectedProfile(id int64) profileJSON {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	row := c.m.profiles[id]
	return profileJSON{Name: row["name"].V.(string), Email: row["email"].V.(string), Country: row["country"].V.(string),
		Plan: row["plan"].V.(string), UpdatedAt: row["updated_at"].V.(time.Time)}
}

func (c *checker) profile(ctx context.Context, mem member) (bool, error) {
	want := c.expectedProfile(mem.ID)
	if c.cache != nil {
		it, err := c.cache.Get(ctx, profileKey(mem.ID))
		if err == nil {
			c.hits.Add(1)
			var got profileJSON
			if json.Unmarshal(it.Value, &got) != nil || !sameProfile(got, want) {
				c.stale.Add(1)
				c.wrong("%s: member %d profile from the cache %+v, want %+v", regionNames[c.region], mem.ID, got, want)
				return false, nil
			}
			return true, nil
		} else if !errors.Is(err, memcache.ErrCacheMiss) {
			return false, err
		}
	}
	tok := c.beginFill(ctx, profileKey(mem.ID)) // before the read: a write meanwhile voids the fill
	var got profileJSON
	err := c.s.Query("SELECT name, email, country, plan, updated_at FROM "+globalKS+".profiles WHERE member_id = ?", mem.ID).
		WithContext(ctx).Scan(&got.Name, &got.Email, &got.Country, &got.Plan, &got.UpdatedAt)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return false, err
	}
	if !sameProfile(got, want) {
		c.wrong("%s: member %d profile %+v, want %+v", regionNames[c.region], mem.ID, got, want)
		return false, nil
	}
	if tok != nil {
		b, _ := json.Marshal(got)
		if err := c.cache.Fill(ctx, tok, &cachesync.Item{Key: profileKey(mem.ID), Value: b}); err == nil {
			c.fills.Add(1)
		}
	}
	return true, nil
}

// beginFill takes the fill lease for key before the database read (nil when not filling).
func (c *checker) beginFill(ctx context.Context, key string) *cachesync.FillToken {
	if !c.fill || c.cache == nil {
		return nil
	}
	tok, err := c.cache.BeginFill(ctx, key)
	if err != nil {
		return nil
	}
	return tok
}

func sameProfile(a, b profileJSON) bool {
	return a.Name == b.Name && a.Email == b.Email && a.Country == b.Country && a.Plan == b.Plan && a.UpdatedAt.Equal(b.UpdatedAt)
}

func (c *checker) bookmarks(ctx context.Context, mem member) (bool, error) {
	want := map[int64]bookmark{}
	c.m.mu.Lock()
	for _, t := range c.m.btitles[mem.ID] {
		want[t] = c.m.bookmarks[tkey{mem.ID, t}]
	}
	c.m.mu.Unlock()
	got := map[int64]bookmark{}
	it := c.s.Query("SELECT title_id, position_s, updated_at FROM "+globalKS+".bookmarks WHERE member_id = ?", mem.ID).WithContext(ctx).Iter()
	var t int64
	var b bookmark
	for it.Scan(&t, &b.Pos, &b.Updated) {
		got[t] = b
	}
	if err := it.Close(); err != nil {
		return false, err
	}
	if len(got) != len(want) {
		c.wrong("%s: member %d has %d bookmarks, want %d", regionNames[c.region], mem.ID, len(got), len(want))
		return false, nil
	}
	for t, w := range want {
		if g := got[t]; g.Pos != w.Pos || !g.Updated.Equal(w.Updated) {
			c.wrong("%s: member %d bookmark %d = %+v, want %+v", regionNames[c.region], mem.ID, t, g, w)
			return false, nil
		}
	}
	return true, nil
}

// historyJSON is a member's history as cached: "title:position:watched_ms" sorted.
func historyString(h map[int64]entry) string {
	var parts []string
	for t, e := range h {
		parts = append(parts, fmt.Sprintf("%d:%d:%d", t, e.Pos, e.Watched.UnixMilli()))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (c *checker) history(ctx context.Context, mem member) (bool, error) {
	want := map[int64]entry{}
	c.m.mu.Lock()
	for _, t := range c.m.titles[mem.ID] {
		want[t] = c.m.history[tkey{mem.ID, t}]
	}
	c.m.mu.Unlock()
	ws := historyString(want)
	if c.cache != nil {
		it, err := c.cache.Get(ctx, historyKey(mem.ID))
		if err == nil {
			c.hits.Add(1)
			if string(it.Value) != ws {
				c.stale.Add(1)
				c.wrong("%s: member %d history from the cache is stale", regionNames[c.region], mem.ID)
				return false, nil
			}
			return true, nil
		} else if !errors.Is(err, memcache.ErrCacheMiss) {
			return false, err
		}
	}
	tok := c.beginFill(ctx, historyKey(mem.ID))
	got := map[int64]entry{}
	it := c.s.Query("SELECT title_id, position, watched_at FROM "+globalKS+".viewing_history WHERE member_id = ?", mem.ID).WithContext(ctx).Iter()
	var t int64
	var e entry
	for it.Scan(&t, &e.Pos, &e.Watched) {
		got[t] = e
	}
	if err := it.Close(); err != nil {
		return false, err
	}
	gs := historyString(got)
	if gs != ws {
		c.wrong("%s: member %d history %s, want %s", regionNames[c.region], mem.ID, clip(gs), clip(ws))
		return false, nil
	}
	if tok != nil {
		if err := c.cache.Fill(ctx, tok, &cachesync.Item{Key: historyKey(mem.ID), Value: []byte(gs)}); err == nil {
			c.fills.Add(1)
		}
	}
	return true, nil
}

func (c *checker) prefs(ctx context.Context, mem member) (bool, error) {
	c.m.mu.Lock()
	// The global keyspace is the Americas island's: a quarantined member keeps its version there.
	want := c.m.expectedPrefs(us, mem.ID, mem.Planted)
	wl, wm := want["language"].V.(string), want["maturity_level"].V.(int)
	c.m.mu.Unlock()
	var lang string
	var mat int
	err := c.s.Query("SELECT language, maturity_level FROM "+globalKS+".preferences WHERE member_id = ?", mem.ID).WithContext(ctx).Scan(&lang, &mat)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return false, err
	}
	if lang != wl || mat != wm {
		c.wrong("%s: member %d preferences (%s, %d), want (%s, %d)", regionNames[c.region], mem.ID, lang, mat, wl, wm)
		return false, nil
	}
	return true, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
