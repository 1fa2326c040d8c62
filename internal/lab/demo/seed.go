package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"
)

var (
	firstNames = []string{"Ana", "Ben", "Chloé", "Diego", "Emma", "Finn", "Greta", "Hugo", "Inès", "Jonas", "Kai", "Lucía", "Mateo", "Nora", "Omar", "Paula"}
	countries  = [2][]string{{"US", "CA", "MX", "BR", "AR", "CL"}, {"FR", "DE", "ES", "IT", "NL", "PL"}}
	plans      = []string{"basic", "standard", "premium"}
	languages  = [2][]string{{"en", "es", "pt"}, {"fr", "de", "es", "it"}}
)

// write is one seeded insert.
type write struct {
	stmt string
	args []any
}

// islandOf is the keyspace of region r's island: the Americas keyspace in the global cluster, or
// the EU island's own.
func islandOf(r int) string {
	if r == us {
		return globalKS
	}
	return islandKS
}

// seed fills both islands (sessions: the Americas one, the EU one): each member of a region in
// that region's island; travellers also in
// the other island, with different data written at different times; one traveller in five with a
// maturity level that differs between islands (the planted inconsistencies). Every write carries
// an explicit timestamp in the last 30 days and is recorded in the model.
func seed(ctx context.Context, sessions [2]*gocql.Session, m *model, perRegion int, rng *rand.Rand) (rows [2]int, err error) {
	now := time.Now()
	base := now.Add(-30 * 24 * time.Hour)
	span := int64(29 * 24 * time.Hour / time.Microsecond)
	var ws [2][]write
	stamp := func() int64 { return base.UnixMicro() + rng.Int64N(span) }
	add := func(r int, stmt string, ts int64, args ...any) {
		ws[r] = append(ws[r], write{stmt: fmt.Sprintf(stmt, islandOf(r)) + fmt.Sprintf(" USING TIMESTAMP %d", ts), args: args})
	}
	for home := 0; home < 2; home++ {
		for i := 0; i < perRegion; i++ {
			id := int64(home*1_000_000 + i + 1)
			mem := member{ID: id, Home: home, Traveller: i%10 == 0}
			mem.Planted = mem.Traveller && (i/10)%5 == 0
			m.members = append(m.members, mem)
			maturity := 1 + rng.IntN(4)
			islands := []int{home}
			if mem.Traveller {
				islands = append(islands, 1-home)
			}
			for _, r := range islands {
				ts := stamp()
				upd := ms(time.UnixMicro(ts))
				name := fmt.Sprintf("%s %d", firstNames[rng.IntN(len(firstNames))], id)
				email := fmt.Sprintf("m%d@%s.example", id, regionNames[r])
				country := countries[home][rng.IntN(len(countries[home]))]
				plan := plans[rng.IntN(len(plans))]
				add(r, "INSERT INTO %s.profiles (member_id, name, email, country, plan, updated_at) VALUES (?, ?, ?, ?, ?, ?)", ts, id, name, email, country, plan, upd)
				m.profile(id, map[string]cell{"name": {name, ts}, "email": {email, ts}, "country": {country, ts}, "plan": {plan, ts}, "updated_at": {upd, ts}})

				pts := stamp()
				lang := languages[r][rng.IntN(len(languages[r]))]
				mat := maturity
				if mem.Planted && r != home {
					mat = 1 + (maturity % 4) // differs from the home island
				}
				add(r, "INSERT INTO %s.preferences (member_id, language, maturity_level) VALUES (?, ?, ?)", pts, id, lang, mat)
				m.pref(r, id, map[string]cell{"language": {lang, pts}, "maturity_level": {mat, pts}})

				// Distinct titles within one island (a second write there would simply overwrite),
				// overlapping between the islands.
				titles := rng.Perm(60)
				for b, nb := 0, 2+rng.IntN(4); b < nb; b++ {
					title := int64(100 + titles[b])
					bts := stamp()
					bm := bookmark{Pos: int64(rng.IntN(7200)), Updated: ms(time.UnixMicro(bts))}
					add(r, "INSERT INTO %s.bookmarks (member_id, title_id, position_s, updated_at) VALUES (?, ?, ?, ?)", bts, id, title, bm.Pos, bm.Updated)
					m.bookmark(tkey{id, title}, bm)
				}
				titles = rng.Perm(60)
				for h, nh := 0, 4+rng.IntN(12); h < nh; h++ {
					title := int64(100 + titles[h])
					hts := stamp()
					e := entry{Pos: int64(60 * (1 + rng.IntN(100))), Watched: ms(time.UnixMicro(hts))}
					add(r, "INSERT INTO %s.viewing_history (member_id, title_id, position, watched_at) VALUES (?, ?, ?, ?)", hts, id, title, e.Pos, e.Watched)
					m.watch(tkey{id, title}, e)
				}
			}
		}
	}
	var g errgroup.Group // the two islands at the same time
	for r := 0; r < 2; r++ {
		rows[r] = len(ws[r])
		g.Go(func() error {
			if err := execAll(ctx, sessions[r], ws[r], 32); err != nil {
				return fmt.Errorf("seed %s: %w", regionNames[r], err)
			}
			return nil
		})
	}
	return rows, g.Wait()
}

// execAll runs writes with n at a time: the rows of one partition (one member's rows of one table)
// as one unlogged batch, each row with its own USING TIMESTAMP, so seeding sends a request per
// partition, not per row.
func execAll(ctx context.Context, s *gocql.Session, ws []write, n int) error {
	var keys []string
	parts := map[string][]write{}
	for _, w := range ws {
		k := w.stmt[:strings.IndexByte(w.stmt, '(')] + fmt.Sprint(w.args[0]) // "INSERT INTO ks.table " + member
		if parts[k] == nil {
			keys = append(keys, k)
		}
		parts[k] = append(parts[k], w)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, k := range keys {
		p := parts[k]
		g.Go(func() error {
			if len(p) == 1 {
				return s.Query(p[0].stmt, p[0].args...).WithContext(ctx).Exec()
			}
			b := s.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
			b.DefaultTimestamp(false) // each row's own USING TIMESTAMP
			for _, w := range p {
				b.Query(w.stmt, w.args...)
			}
			return s.ExecuteBatch(b)
		})
	}
	return g.Wait()
}
