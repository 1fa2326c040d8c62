package integration

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftCopy copies an island table (mixed types, collections, TTLs, nulls) from us-east-1 to
// an empty eu-west-1 with lww, then verifies: 0 differences, and every writetime and TTL preserved.
//
// 40 000 rows in pages of 250 give each of the 64 token ranges two to three pages (as the 200 000 rows
// in pages of 1 000 of earlier runs did), so paging and per-page checkpoints are crossed everywhere;
// the throughput figure at scale is bench/forklift's. FORKLIFT_TEST_ROWS sizes it up. Verify hashes
// 4 subranges per range (256 in all) instead of 16: each subrange is two queries whatever it holds,
// and every row is still compared (equal hashes, or row by row where they differ).
func TestForkliftCopy(t *testing.T) {
	e := needServices(t)
	t.Parallel()
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks = "forklift_copy"
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".members "+mixedSchema)
	rows := envInt("FORKLIFT_TEST_ROWS", 40_000)
	start := time.Now()
	fillMixed(t, src, ks, "members", rows)
	t.Logf("filled %d rows in %v", rows, time.Since(start))

	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "members", Resolver: "lww"})
	cfg.RunID = "copy-test"
	cfg.PageSize = 250
	cfg.VerifySubranges = 4 // 256 hashed subranges of ~150 rows: verify's round trips, not its checks, shrink
	ctx := context.Background()
	start = time.Now()
	job, err := forklift.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer job.Close()
	rep, err := job.Run(ctx, forklift.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("copied %d rows in %v (%.0f rows/s)", rep.Rows, time.Since(start), rep.RowsPerSec)
	if rep.Rows != int64(rows) {
		t.Errorf("report rows = %d, want %d", rep.Rows, rows)
	}
	start = time.Now()
	vr, err := job.Verify(ctx, forklift.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v (%+v)", err, vr)
	}
	t.Logf("verify in %v: %+v", time.Since(start), vr.Tables[0])
	if vr.Tables[0].SourceRows != int64(rows) || vr.Tables[0].Missing+vr.Tables[0].Mismatched+vr.Tables[0].Superseded != 0 {
		t.Errorf("verify: %+v", vr.Tables[0])
	}
	checkCellsPreserved(t, src, dst, ks+".members", rows)
}

// checkCellsPreserved reads every row's cells, writetimes and TTLs on both sides and compares them:
// writetimes exactly, TTLs within the seconds the copy took.
func checkCellsPreserved(t *testing.T, src, dst *gocql.Session, table string, rows int) {
	t.Helper()
	q := "SELECT pk, ck, name, writetime(name), ttl(name), score, writetime(score), ttl(score), writetime(tags), ttl(tags), writetime(attrs), attrs, tags, frozen_tags, writetime(frozen_tags), hist FROM " + table
	type row struct {
		name            *string
		nameWT          *int64
		nameTTL, scTTL  *int
		score           int64
		scWT            int64
		tagsWT, attrsWT []int64
		tagsTTL         []int
		attrs           map[string]int
		tags, frozen    []string
		frozenWT        int64
		hist            []int
	}
	read := func(s *gocql.Session) map[[2]int]row {
		out := map[[2]int]row{}
		it := s.Query(q).PageSize(5000).Iter()
		var pk, ck int
		var r row
		for it.Scan(&pk, &ck, &r.name, &r.nameWT, &r.nameTTL, &r.score, &r.scWT, &r.scTTL, &r.tagsWT, &r.tagsTTL, &r.attrsWT, &r.attrs, &r.tags, &r.frozen, &r.frozenWT, &r.hist) {
			out[[2]int{pk, ck}] = r
			r = row{}
		}
		if err := it.Close(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		return out
	}
	a, b := read(src), read(dst)
	if len(a) != rows || len(b) != rows {
		t.Fatalf("rows: source %d, destination %d, want %d", len(a), len(b), rows)
	}
	bad := 0
	ttlClose := func(x, y *int) bool {
		if x == nil || y == nil {
			return x == nil && y == nil || x != nil && *x == 0 || y != nil && *y == 0
		}
		return *y <= *x+1 && *x-*y < 120 // ttl() is in whole seconds: ±1 s of rounding
	}
	for k, r := range a {
		d := b[k]
		ok := (r.name == nil) == (d.name == nil) && (r.name == nil || *r.name == *d.name && *r.nameWT == *d.nameWT) &&
			r.score == d.score && r.scWT == d.scWT && ttlClose(r.scTTL, d.scTTL) && ttlClose(r.nameTTL, d.nameTTL) &&
			equalInts(r.tagsWT, d.tagsWT) && equalInts(r.attrsWT, d.attrsWT) && len(r.tagsTTL) == len(d.tagsTTL) &&
			len(r.attrs) == len(d.attrs) && len(r.tags) == len(d.tags) && r.frozenWT == d.frozenWT &&
			len(r.frozen) == len(d.frozen) && len(r.hist) == len(d.hist)
		for i := range r.tagsTTL {
			if ok && !ttlClose(&r.tagsTTL[i], &d.tagsTTL[i]) {
				ok = false
			}
		}
		if !ok {
			if bad < 5 {
				t.Errorf("row %v differs:\nsource      %+v\ndestination %+v", k, r, d)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ", bad, rows)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fixedTime(i int) time.Time {
	return time.Unix(1_700_000_000+int64(i), 0).UTC()
}
