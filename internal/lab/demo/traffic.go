package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/dualwrite"
)

// app is the application of one region: it writes its database (w: dualwrite during the EU
// application's migration, a plain session on the global cluster otherwise) and cachesync (the
// cache), and records every acknowledged write in the model.
type app struct {
	region  int
	w       writer
	dw      *dualwrite.Session // the EU application's dual writes, nil once the island is retired
	cache   *cachesync.Client
	ks      string // the keyspace its statements name (the primary's)
	m       *model
	stats   *trafficStats
	log     *slog.Logger
	latency func(time.Duration) // each acknowledged write's latency, when set
}

// writer is how an application writes its database: one statement with a client timestamp.
type writer interface {
	write(ctx context.Context, ts int64, stmt string, args ...any) error
}

// dwWriter writes through a dualwrite session (both sides, one timestamp).
type dwWriter struct{ s *dualwrite.Session }

func (w dwWriter) write(ctx context.Context, ts int64, stmt string, args ...any) error {
	return w.s.Query(stmt, args...).WithTimestamp(ts).WithContext(ctx).Exec()
}

// cqlWriter writes one gocql session: the global cluster, in the application's own datacenter.
type cqlWriter struct{ s *gocql.Session }

func (w cqlWriter) write(ctx context.Context, ts int64, stmt string, args ...any) error {
	return w.s.Query(stmt, args...).WithTimestamp(ts).WithContext(ctx).Exec()
}

type trafficStats struct {
	Issued, Acked, Retried, Failed, CacheWrites atomic.Int64
}

type profileJSON struct {
	Name, Email, Country, Plan string
	UpdatedAt                  time.Time
}

// traffic writes for members at rate ops/s until ctx ends. Each member is written by one
// goroutine only, so the model's order is the database's.
func (a *app) traffic(ctx context.Context, members []member, rate float64, workers int, seed uint64) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		var mine []member
		for i := w; i < len(members); i += workers {
			mine = append(mine, members[i])
		}
		if len(mine) == 0 {
			continue
		}
		wg.Add(1)
		go func(w int, mine []member) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			interval := time.Duration(float64(workers) / rate * float64(time.Second))
			next := time.Now()
			for ctx.Err() == nil {
				next = next.Add(interval)
				time.Sleep(time.Until(next))
				mem := mine[rng.IntN(len(mine))]
				switch n := rng.IntN(10); {
				case n < 3:
					a.writeProfile(ctx, mem, rng)
				case n < 6:
					a.writeBookmark(ctx, mem, rng)
				default:
					a.writeHistory(ctx, mem, rng)
				}
			}
		}(w, mine)
	}
	wg.Wait()
}

// exec writes with the client timestamp ts. A failed write may still have landed somewhere (as
// after any Cassandra timeout); the application retries it with the same timestamp, which makes
// the retry harmless, until it is acknowledged.
func (a *app) exec(ctx context.Context, ts int64, stmt string, args ...any) bool {
	a.stats.Issued.Add(1)
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		err := a.w.write(context.WithoutCancel(ctx), ts, fmt.Sprintf(stmt, a.ks), args...)
		if err == nil {
			if a.latency != nil {
				a.latency(time.Since(t0))
			}
			a.stats.Acked.Add(1)
			return true
		}
		a.stats.Retried.Add(1)
		if a.log != nil {
			a.log.Warn("write failed; retrying with the same timestamp", "region", regionNames[a.region], "attempt", attempt+1, "err", err)
		}
		if attempt == 20 {
			a.stats.Failed.Add(1)
			return false
		}
		time.Sleep(100 * time.Millisecond << min(attempt, 4))
	}
}

// writeProfile: the member saves the profile form: the whole row, cached for every region.
func (a *app) writeProfile(ctx context.Context, mem member, rng *rand.Rand) {
	a.m.mu.Lock()
	cur := a.m.profiles[mem.ID]
	p := profileJSON{Name: cur["name"].V.(string), Email: cur["email"].V.(string), Country: cur["country"].V.(string)}
	a.m.mu.Unlock()
	p.Plan = plans[rng.IntN(len(plans))]
	now := time.Now()
	ts := now.UnixMicro()
	p.UpdatedAt = ms(now)
	if !a.exec(ctx, ts, "INSERT INTO %s.profiles (member_id, name, email, country, plan, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		mem.ID, p.Name, p.Email, p.Country, p.Plan, p.UpdatedAt) {
		return
	}
	a.m.profile(mem.ID, map[string]cell{"name": {p.Name, ts}, "email": {p.Email, ts}, "country": {p.Country, ts},
		"plan": {p.Plan, ts}, "updated_at": {p.UpdatedAt, ts}})
	b, _ := json.Marshal(p)
	// The write was acknowledged: its cache update is part of it, even if traffic stops now.
	if _, err := a.cache.Set(context.WithoutCancel(ctx), &cachesync.Item{Key: profileKey(mem.ID), Value: b}); err == nil {
		a.stats.CacheWrites.Add(1)
	}
}

func (a *app) writeBookmark(ctx context.Context, mem member, rng *rand.Rand) {
	now := time.Now()
	title := int64(100 + rng.IntN(60))
	b := bookmark{Pos: int64(rng.IntN(7200)), Updated: ms(now)}
	if a.exec(ctx, now.UnixMicro(), "INSERT INTO %s.bookmarks (member_id, title_id, position_s, updated_at) VALUES (?, ?, ?, ?)",
		mem.ID, title, b.Pos, b.Updated) {
		a.m.bookmark(tkey{mem.ID, title}, b)
	}
}

// writeHistory: the member watches on: the position of a title moves forward; the member's cached
// history is dropped here and, by invalidation, in the other regions.
func (a *app) writeHistory(ctx context.Context, mem member, rng *rand.Rand) {
	a.m.mu.Lock()
	titles := append([]int64(nil), a.m.titles[mem.ID]...)
	a.m.mu.Unlock()
	var title int64
	if len(titles) == 0 || (len(titles) < 40 && rng.IntN(4) == 0) {
		title = int64(160 + rng.IntN(40)) // a new title
	} else {
		title = titles[rng.IntN(len(titles))]
	}
	a.m.mu.Lock()
	cur := a.m.history[tkey{mem.ID, title}]
	a.m.mu.Unlock()
	now := time.Now()
	e := entry{Pos: cur.Pos + 60, Watched: ms(now)}
	if !a.exec(ctx, now.UnixMicro(), "INSERT INTO %s.viewing_history (member_id, title_id, position, watched_at) VALUES (?, ?, ?, ?)",
		mem.ID, title, e.Pos, e.Watched) {
		return
	}
	a.m.watch(tkey{mem.ID, title}, e)
	if _, err := a.cache.Delete(context.WithoutCancel(ctx), historyKey(mem.ID)); err == nil {
		a.stats.CacheWrites.Add(1)
	}
}

func profileKey(id int64) string { return fmt.Sprintf("profile:%d", id) }
func historyKey(id int64) string { return fmt.Sprintf("history:%d", id) }
