package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
)

// forkliftConfig is a forklift config between the two local regions: us-east-1 is the source.
func forkliftConfig(e Env, tables ...forklift.TableConfig) forklift.Config {
	c := forklift.Config{
		Source:             forklift.ClusterConfig{Hosts: []string{e.USCQL}, Consistency: "ONE", DisableHostLookup: true, Access: cqlconn.MustFromEnv(cqlconn.RoleAdmin)},
		Destination:        forklift.ClusterConfig{Hosts: []string{e.EUCQL}, Consistency: "ONE", DisableHostLookup: true, Access: cqlconn.MustFromEnv(cqlconn.RoleAdmin)},
		Tables:             tables,
		CheckpointKeyspace: "forklift_ckpt_test",
		Workers:            4,
		Ranges:             64,
	}
	return c
}

// envInt reads an integer test knob, e.g. FORKLIFT_TEST_ROWS.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// mixedSchema is the island table of the copy tests: every shape of column forklift handles.
const mixedSchema = `(pk int, ck int, name text, score bigint, ratio double, flag boolean, uid uuid,
	at timestamp, data blob, tags set<text>, attrs map<text, int>, hist list<int>, frozen_tags frozen<list<text>>,
	PRIMARY KEY (pk, ck))`

// fillMixed writes rows rows (4 per partition) into ks.tbl: columns written at different
// timestamps, some with TTLs, some null, collections grown element by element at their own
// timestamps. Row i's values are a pure function of i, so a test can recompute them.
func fillMixed(t testing.TB, s *gocql.Session, ks, tbl string, rows int) {
	t.Helper()
	name := ks + "." + tbl
	ins := "INSERT INTO " + name + " (pk, ck, name, score, ratio, flag, uid, at, data, tags, attrs, hist, frozen_tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?"
	upd := "UPDATE " + name + " USING TIMESTAMP ? AND TTL ? SET tags = tags + ?, attrs = attrs + ?, score = ? WHERE pk = ? AND ck = ?"
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(48)
	parts := (rows + 3) / 4
	for p := 0; p < parts; p++ {
		g.Go(func() error {
			b := s.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
			for ck := 0; ck < 4 && p*4+ck < rows; ck++ {
				i := p*4 + ck
				ts := int64(1_700_000_000_000_000 + i*10)
				ttl := 0
				if i%5 == 0 {
					ttl = 86400 + i%1000
				}
				var name any = fmt.Sprintf("member-%d", i)
				if i%7 == 0 {
					name = nil // never written: copied as absent
				}
				uid := gocql.UUIDFromTime(fixedTime(i))
				b.Query(ins, p, ck, name, int64(i)*3, float64(i)/7, i%2 == 0, uid, fixedTime(i), []byte{byte(i), byte(i >> 8)},
					[]string{"a", fmt.Sprint("t", i%13)}, map[string]int{"x": i}, []int{i, i + 1}, []string{"f", fmt.Sprint(i)}, ts, ttl)
				if i%3 == 0 {
					b.Query(upd, ts+5, 3600*(i%2), []string{"late"}, map[string]int{"y": -i}, int64(i)*3+1, p, ck)
				}
			}
			return s.ExecuteBatch(b)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("fill %s: %v", name, err)
	}
}

func createBoth(t testing.TB, src, dst *gocql.Session, ks, stmt string) {
	t.Helper()
	for _, s := range []*gocql.Session{src, dst} {
		freshKeyspace(t, s, ks)
		ddl(t, s, stmt)
	}
}
