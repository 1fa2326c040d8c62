package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftMerge: two islands holding overlapping members are merged, us-east-1's island into
// eu-west-1's, with lww (profiles), union (viewing history), newest-by (bookmarks) and quarantine
// over lww (preferences with planted inconsistencies). Every key of the destination is checked
// against the result computed here, independently of package merge.
func TestForkliftMerge(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks = "forklift_merge"
	for _, s := range []*gocql.Session{src, dst} {
		freshKeyspace(t, s, ks)
		ddl(t, s, "CREATE TABLE "+ks+".profiles (id int PRIMARY KEY, plan text, email text)")
		ddl(t, s, "CREATE TABLE "+ks+".history (id int, title int, pos bigint, PRIMARY KEY (id, title))")
		ddl(t, s, "CREATE TABLE "+ks+".bookmarks (id int, title int, pos bigint, updated_at bigint, PRIMARY KEY (id, title))")
		ddl(t, s, "CREATE TABLE "+ks+".prefs (id int PRIMARY KEY, lang text, maturity int)")
	}
	ddl(t, dst, "DROP KEYSPACE IF EXISTS forklift_merge_ckpt")
	type cellv struct {
		v  string
		ts int64
	}
	type hrow struct {
		pos int64
		ts  int64
	}
	type brow struct{ pos, upd int64 }
	wantProf := map[int]map[string]cellv{}
	wantHist := map[[2]int]hrow{}
	wantBook := map[[2]int]brow{}
	wantPref := map[int]map[string]cellv{}
	dstPref := map[int]map[string]cellv{}
	planted := map[int]bool{}
	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Now().Add(-time.Hour).UnixMicro()
	ts := func() int64 { return base + rng.Int64N(3_000_000_000) }
	lwwSet := func(m map[int]map[string]cellv, id int, col string, c cellv) {
		if m[id] == nil {
			m[id] = map[string]cellv{}
		}
		if cur, ok := m[id][col]; !ok || c.ts > cur.ts {
			m[id][col] = c
		}
	}
	const members = 2000
	ctx := context.Background()
	for side, s := range []*gocql.Session{src, dst} {
		var ws []write
		// us members 0..1999, eu members 1500..3499: 500 on both sides.
		for id := side * 1500; id < side*1500+members; id++ {
			both := id >= 1500 && id < 2000
			p, m := ts(), ts()
			plan, email := fmt.Sprint("plan", rng.IntN(3)), fmt.Sprintf("m%d@side%d", id, side)
			ws = append(ws, write{"INSERT INTO " + ks + ".profiles (id, plan) VALUES (?, ?) USING TIMESTAMP ?", []any{id, plan, p}},
				write{"INSERT INTO " + ks + ".profiles (id, email) VALUES (?, ?) USING TIMESTAMP ?", []any{id, email, m}})
			lwwSet(wantProf, id, "plan", cellv{plan, p})
			lwwSet(wantProf, id, "email", cellv{email, m})
			for _, title := range rng.Perm(20)[:4] {
				h := hrow{int64(rng.IntN(5000)), ts()}
				ws = append(ws, write{"INSERT INTO " + ks + ".history (id, title, pos) VALUES (?, ?, ?) USING TIMESTAMP ?", []any{id, title, h.pos, h.ts}})
				if cur, ok := wantHist[[2]int{id, title}]; !ok || h.ts > cur.ts {
					wantHist[[2]int{id, title}] = h
				}
			}
			for _, title := range rng.Perm(20)[:3] {
				b := brow{int64(rng.IntN(5000)), int64(rng.IntN(1_000_000))}
				ws = append(ws, write{"INSERT INTO " + ks + ".bookmarks (id, title, pos, updated_at) VALUES (?, ?, ?, ?) USING TIMESTAMP ?", []any{id, title, b.pos, b.upd, ts()}})
				if cur, ok := wantBook[[2]int{id, title}]; !ok || b.upd > cur.upd {
					wantBook[[2]int{id, title}] = b
				}
			}
			pt := ts()
			mat := id % 4
			if both && id%10 == 0 && side == 1 {
				mat = (mat + 1) % 4 // planted: the islands disagree on the maturity level
				planted[id] = true
			}
			lang := fmt.Sprint("lang", side, rng.IntN(2))
			ws = append(ws, write{"INSERT INTO " + ks + ".prefs (id, lang, maturity) VALUES (?, ?, ?) USING TIMESTAMP ?", []any{id, lang, mat, pt}})
			lwwSet(wantPref, id, "lang", cellv{lang, pt})
			lwwSet(wantPref, id, "maturity", cellv{fmt.Sprint(mat), pt})
			if side == 1 {
				lwwSet(dstPref, id, "lang", cellv{lang, pt})
				lwwSet(dstPref, id, "maturity", cellv{fmt.Sprint(mat), pt})
			}
		}
		execWrites(t, ctx, s, ws)
	}
	cfg := forkliftConfig(e,
		forklift.TableConfig{Keyspace: ks, Table: "profiles", Resolver: "lww"},
		forklift.TableConfig{Keyspace: ks, Table: "history", Resolver: "union"},
		forklift.TableConfig{Keyspace: ks, Table: "bookmarks", Resolver: "newest-by", Options: map[string]any{"column": "updated_at"}},
		forklift.TableConfig{Keyspace: ks, Table: "prefs", Resolver: "quarantine", Options: map[string]any{"resolver": "lww", "columns": []any{"maturity"}}},
	)
	cfg.CheckpointKeyspace = "forklift_merge_ckpt"
	cfg.RunID = "merge-test"
	// In-process, over the test's own sessions: the application's way in.
	job, err := forklift.Open(ctx, cfg, forklift.WithSessions(src, dst))
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	rep, err := job.Run(ctx, forklift.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var quarantined int64
	for _, tb := range rep.Tables {
		quarantined += tb.Quarantined
		t.Logf("%s (%s): %d rows, conflicts %v, quarantined %d", tb.Table, tb.Resolver, tb.Rows, tb.Conflicts, tb.Quarantined)
	}
	if quarantined != int64(len(planted)) {
		t.Errorf("quarantined %d partitions, planted %d", quarantined, len(planted))
	}
	// The quarantine table holds them too, one record each, read back through the Job.
	if recs, err := job.Quarantined(ctx, ks+".prefs"); err != nil || len(recs) != len(planted) {
		t.Errorf("Quarantined(%s.prefs): %d records (%v), planted %d", ks, len(recs), err, len(planted))
	}

	bad := 0
	fail := func(format string, args ...any) {
		if bad < 8 {
			t.Errorf(format, args...)
		}
		bad++
	}
	// profiles: per cell, the newest writetime.
	it := dst.Query("SELECT id, plan, writetime(plan), email, writetime(email) FROM " + ks + ".profiles").PageSize(5000).Iter()
	var id int
	var plan, email string
	var pw, ew int64
	n := 0
	for it.Scan(&id, &plan, &pw, &email, &ew) {
		n++
		w := wantProf[id]
		if (cellv{plan, pw}) != w["plan"] || (cellv{email, ew}) != w["email"] {
			fail("profile %d: (%s@%d, %s@%d), want %v", id, plan, pw, email, ew, w)
		}
	}
	must(t, it.Close())
	if n != len(wantProf) {
		fail("profiles: %d rows, want %d", n, len(wantProf))
	}
	// history: union, every row of both sides, lww where both hold it.
	it = dst.Query("SELECT id, title, pos, writetime(pos) FROM " + ks + ".history").PageSize(5000).Iter()
	var title int
	var pos, wt int64
	n = 0
	for it.Scan(&id, &title, &pos, &wt) {
		n++
		if w := wantHist[[2]int{id, title}]; w.pos != pos || w.ts != wt {
			fail("history %d/%d: %d@%d, want %+v", id, title, pos, wt, w)
		}
	}
	must(t, it.Close())
	if n != len(wantHist) {
		fail("history: %d rows, want %d (union drops nothing)", n, len(wantHist))
	}
	// bookmarks: the row with the larger updated_at.
	it = dst.Query("SELECT id, title, pos, updated_at FROM " + ks + ".bookmarks").PageSize(5000).Iter()
	var upd int64
	n = 0
	for it.Scan(&id, &title, &pos, &upd) {
		n++
		if w := wantBook[[2]int{id, title}]; w.pos != pos || w.upd != upd {
			fail("bookmark %d/%d: (%d, %d), want %+v", id, title, pos, upd, w)
		}
	}
	must(t, it.Close())
	if n != len(wantBook) {
		fail("bookmarks: %d rows, want %d", n, len(wantBook))
	}
	// prefs: lww, except planted members, whose destination version stays.
	it = dst.Query("SELECT id, lang, maturity FROM " + ks + ".prefs").PageSize(5000).Iter()
	var lang string
	var mat int
	for it.Scan(&id, &lang, &mat) {
		w := wantPref[id]
		if planted[id] {
			w = dstPref[id]
		}
		if lang != w["lang"].v || fmt.Sprint(mat) != w["maturity"].v {
			fail("prefs %d (planted %v): (%s, %d), want %v", id, planted[id], lang, mat, w)
		}
	}
	must(t, it.Close())
	t.Logf("FIGURES profiles=%d history=%d bookmarks=%d prefs=%d planted=%d quarantined=%d wrong=%d",
		len(wantProf), len(wantHist), len(wantBook), len(wantPref), len(planted), quarantined, bad)
	vr, err := job.Verify(ctx, forklift.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !vr.Clean {
		t.Errorf("verify after the merge: missing %d, mismatched %d", vr.Missing, vr.Mismatch)
	}
}

type write struct {
	stmt string
	args []any
}

func execWrites(t *testing.T, ctx context.Context, s *gocql.Session, ws []write) {
	t.Helper()
	sem := make(chan struct{}, 32)
	errc := make(chan error, len(ws))
	for _, w := range ws {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errc <- s.Query(w.stmt, w.args...).WithContext(ctx).Exec()
		}()
	}
	for range ws {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
