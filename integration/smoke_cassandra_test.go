package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// TestSmokeCassandra checks, in each region's own cluster, what every part of islands relies on:
// a client timestamp (USING TIMESTAMP) and a TTL land as given and read back with writetime() and ttl().
func TestSmokeCassandra(t *testing.T) {
	e := needServices(t)
	for region, addr := range map[string]string{"us_east_1": e.USCQL, "eu_west_1": e.EUCQL} {
		t.Run(region, func(t *testing.T) {
			s := session(t, addr)
			ks := "smoke_" + region
			freshKeyspace(t, s, ks)
			ddl(t, s, "CREATE TABLE "+ks+".kv (k text PRIMARY KEY, v text, tags set<text>)")

			const ts = int64(1_700_000_000_123_456)
			if err := s.Query("INSERT INTO "+ks+".kv (k, v, tags) VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?",
				"member-1", "hello", []string{"a", "b"}, ts, 3600).Exec(); err != nil {
				t.Fatalf("insert with timestamp and ttl: %v", err)
			}
			var (
				v      string
				wt     int64
				ttl    int
				tagWTs []int64
			)
			if err := s.Query("SELECT v, writetime(v), ttl(v), writetime(tags) FROM "+ks+".kv WHERE k = ?", "member-1").
				Scan(&v, &wt, &ttl, &tagWTs); err != nil {
				t.Fatalf("read back: %v", err)
			}
			if v != "hello" || wt != ts {
				t.Errorf("read v=%q writetime=%d, want %q %d", v, wt, "hello", ts)
			}
			if ttl <= 3500 || ttl > 3600 {
				t.Errorf("ttl(v) = %d, want a little under 3600", ttl)
			}
			// Cassandra 5.0 gives one writetime per element of a multi-cell collection.
			if len(tagWTs) != 2 || tagWTs[0] != ts || tagWTs[1] != ts {
				t.Errorf("writetime(tags) = %v, want [%d %d]", tagWTs, ts, ts)
			}
		})
	}
}

// TestSmokeCassandraPause freezes one region's Cassandra (kill -STOP): a query to it must fail with
// a timeout, not hang, and the node must answer again once resumed.
func TestSmokeCassandraPause(t *testing.T) {
	e := needServices(t)
	c := cluster(e.EUCQL)
	c.Timeout = 2 * time.Second
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("connect to %s: %v", e.EUCQL, err)
	}
	defer s.Close()
	query := func(ctx context.Context) error {
		var v string
		return s.Query("SELECT release_version FROM system.local").WithContext(ctx).Scan(&v)
	}
	if err := query(context.Background()); err != nil {
		t.Fatalf("before the pause: %v", err)
	}

	fault(t, e, "pause", "cassandra-eu")
	resumed := false
	defer func() {
		if !resumed {
			fault(t, e, "resume", "cassandra-eu")
		}
	}()
	start := time.Now()
	err = query(context.Background())
	took := time.Since(start)
	if err == nil {
		t.Fatal("a query to a paused Cassandra succeeded")
	}
	if !errors.Is(err, gocql.ErrTimeoutNoResponse) {
		t.Errorf("a query to a paused node failed with %v, want gocql.ErrTimeoutNoResponse", err)
	}
	t.Logf("paused: query failed after %v: %v", took.Round(time.Millisecond), err)
	if took > 30*time.Second {
		t.Errorf("a query to a paused node took %v to fail; the 2s client timeout should bound it", took)
	}

	fault(t, e, "resume", "cassandra-eu")
	resumed = true
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := query(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Cassandra did not answer within 60s of resume: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
