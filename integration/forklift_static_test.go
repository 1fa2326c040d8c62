package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftStaticColumns: a table with a static scalar and a static set, static-only partitions
// and rows that expire, is copied and merged between the real clusters under every built-in
// resolver. Cassandra's behaviour is the point: a static-only partition and a static set must be
// written with the partition key alone (Cassandra refuses them with a clustering key), a permanent
// static must not give an expiring row a permanent row marker (a ghost row once the row's cells
// expire), and prefer-source's deletion of a destination-only row must not delete the statics.
func TestForkliftStaticColumns(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks = "forklift_static"
	const ttl = 6 // seconds: the source's expiring rows
	resolvers := []forklift.TableConfig{
		{Table: "t_lww", Resolver: "lww"},
		{Table: "t_union", Resolver: "union"},
		{Table: "t_prefer_source", Resolver: "prefer-source"},
		{Table: "t_prefer_destination", Resolver: "prefer-destination"},
		{Table: "t_newest_by", Resolver: "newest-by", Options: map[string]any{"column": "upd"}},
		{Table: "t_quarantine", Resolver: "quarantine", Options: map[string]any{"resolver": "lww", "columns": []any{"v"}}},
	}
	for _, s := range []*gocql.Session{src, dst} {
		freshKeyspace(t, s, ks)
		for _, tc := range resolvers {
			ddl(t, s, "CREATE TABLE "+ks+"."+tc.Table+" (pk int, ck int, s text static, ss set<text> static, v text, upd bigint, PRIMARY KEY (pk, ck))")
		}
	}
	ddl(t, dst, "DROP KEYSPACE IF EXISTS forklift_static_ckpt")
	rng := rand.New(rand.NewPCG(29, 2))
	base := time.Now().Add(-time.Hour).UnixMicro()
	type static struct {
		s  string
		ts int64
		ss string
	}
	// The source holds partitions 0..19, the destination 10..29; every fifth is static-only.
	statics := [2]map[int]static{{}, {}}
	ctx := context.Background()
	for side, s := range []*gocql.Session{src, dst} {
		var ws []write
		for pk := side * 10; pk < side*10+20; pk++ {
			st := static{s: fmt.Sprintf("s%d-%d", side, pk), ts: base + rng.Int64N(1_000_000_000), ss: fmt.Sprintf("e%d-%d", side, pk)}
			statics[side][pk] = st
			for _, tc := range resolvers {
				tbl := ks + "." + tc.Table
				ws = append(ws,
					write{"INSERT INTO " + tbl + " (pk, s) VALUES (?, ?) USING TIMESTAMP ?", []any{pk, st.s, st.ts}},
					write{"UPDATE " + tbl + " USING TIMESTAMP ? SET ss = ss + ? WHERE pk = ?", []any{st.ts, []string{st.ss}, pk}})
				if pk%5 == 0 {
					continue // static-only
				}
				if side == 0 {
					// ck 0 expires; ck 1, 2 are permanent. All older than the statics' writetimes above.
					ws = append(ws,
						write{"INSERT INTO " + tbl + " (pk, ck, v, upd) VALUES (?, 0, 'x', 1) USING TIMESTAMP ? AND TTL ?", []any{pk, base - 10, ttl}},
						write{"INSERT INTO " + tbl + " (pk, ck, v, upd) VALUES (?, 1, 'y', 1) USING TIMESTAMP ?", []any{pk, base - 10}},
						write{"INSERT INTO " + tbl + " (pk, ck, v, upd) VALUES (?, 2, 'z', 1) USING TIMESTAMP ?", []any{pk, base - 10}})
				} else {
					// ck 9 only in the destination, newer than every static: prefer-source deletes it.
					ws = append(ws, write{"INSERT INTO " + tbl + " (pk, ck, v, upd) VALUES (?, 9, 'w', 2) USING TIMESTAMP ?", []any{pk, base + 2_000_000_000}})
				}
			}
		}
		execWrites(t, ctx, s, ws)
	}
	var tables []forklift.TableConfig
	for _, tc := range resolvers {
		tc.Keyspace = ks
		tables = append(tables, tc)
	}
	cfg := forkliftConfig(e, tables...)
	cfg.CheckpointKeyspace = "forklift_static_ckpt"
	cfg.RunID = "static-test"
	cfg.Ranges = 16
	job, err := forklift.Open(ctx, cfg, forklift.WithSessions(src, dst))
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	copied := time.Now()
	if _, err := job.Run(ctx, forklift.RunOptions{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	if vr, err := job.Verify(ctx, forklift.VerifyOptions{}); err != nil || !vr.Clean {
		t.Errorf("verify after the copy: %v (%+v)", err, vr)
	}
	for _, tc := range resolvers {
		tbl := ks + "." + tc.Table
		for pk := 0; pk < 30; pk++ {
			s0, inSrc := statics[0][pk]
			s1, inDst := statics[1][pk]
			var want static
			var wantSet []string
			switch {
			case !inDst:
				want, wantSet = s0, []string{s0.ss}
			case !inSrc:
				want, wantSet = s1, []string{s1.ss}
			case tc.Resolver == "prefer-source":
				want, wantSet = s0, []string{s0.ss}
			case tc.Resolver == "prefer-destination":
				want, wantSet = s1, []string{s1.ss}
			default: // lww of the static cells, union of the static sets
				want = s0
				if s1.ts > s0.ts {
					want = s1
				}
				wantSet = []string{s0.ss, s1.ss}
			}
			sort.Strings(wantSet)
			var gs string
			var gss []string
			if err := dst.Query("SELECT s, ss FROM "+tbl+" WHERE pk = ? LIMIT 1", pk).Scan(&gs, &gss); err != nil {
				t.Errorf("%s pk %d: %v", tc.Resolver, pk, err)
				continue
			}
			sort.Strings(gss)
			if gs != want.s || !slices.Equal(gss, wantSet) {
				t.Errorf("%s pk %d: statics (%q, %v), want (%q, %v)", tc.Resolver, pk, gs, gss, want.s, wantSet)
			}
		}
	}
	// Once the source's expiring rows are gone, so are their copies: no ghost row with a marker.
	time.Sleep(time.Until(copied.Add((ttl + 2) * time.Second)))
	for _, tc := range resolvers {
		var n int
		if err := dst.Query("SELECT count(*) FROM " + ks + "." + tc.Table + " WHERE ck = 0 ALLOW FILTERING").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows with ck 0 still in the destination after their cells expired (ghost rows)", tc.Resolver, n)
		}
	}
}
