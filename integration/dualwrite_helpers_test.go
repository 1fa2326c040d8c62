package integration

import (
	"context"
	"fmt"
	"io"
	"log"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// dwCluster is a session config for dualwrite's fault tests: short timeouts so a paused or killed
// side fails fast, and quick reconnection so a restarted node is used again at once.
func dwCluster(addr, keyspace string) *gocql.ClusterConfig {
	c := cluster(addr)
	c.Keyspace = keyspace
	c.Timeout = 1 * time.Second
	c.WriteTimeout = 1 * time.Second
	c.ConnectTimeout = 2 * time.Second
	c.ReconnectInterval = 1 * time.Second
	c.RetryPolicy = nil
	c.NumConns = 2
	c.Logger = log.New(io.Discard, "", 0) // the faults are deliberate: keep gocql's reconnect noise out
	return c
}

func dwSession(t testing.TB, addr, keyspace string) *gocql.Session {
	t.Helper()
	s, err := dwCluster(addr, keyspace).CreateSession()
	if err != nil {
		t.Fatalf("connect to %s/%s: %v", addr, keyspace, err)
	}
	t.Cleanup(s.Close)
	return s
}

// dwKeyspaces creates keyspace ks with table kv in both regions.
func dwKeyspaces(t testing.TB, e Env, ks string) {
	t.Helper()
	for _, addr := range []string{e.USCQL, e.EUCQL} {
		s := session(t, addr)
		freshKeyspace(t, s, ks)
		ddl(t, s, "CREATE TABLE "+ks+".kv (k int PRIMARY KEY, v text, n bigint)")
		ddl(t, s, "CREATE TABLE "+ks+".hits (k int PRIMARY KEY, c counter)")
	}
}

// dwCell is one row of kv with its writetime.
type dwCell struct {
	V  string
	WT int64
}

// dwDump reads every row of ks.kv from addr, retrying while the node comes back.
func dwDump(t testing.TB, addr, ks string) map[int]dwCell {
	t.Helper()
	s := session(t, addr)
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		out := map[int]dwCell{}
		it := s.Query("SELECT k, v, writetime(v) FROM " + ks + ".kv").Consistency(gocql.One).PageSize(5000).Iter()
		var k int
		var c dwCell
		for it.Scan(&k, &c.V, &c.WT) {
			out[k] = c
		}
		if lastErr = it.Close(); lastErr == nil {
			return out
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("read %s.kv at %s: %v", ks, addr, lastErr)
	return nil
}

// dwCompare fails unless both regions' ks.kv hold the same cells with the same writetimes, and
// returns the number of rows.
func dwCompare(t testing.TB, e Env, ks string) (map[int]dwCell, int) {
	t.Helper()
	us, eu := dwDump(t, e.USCQL, ks), dwDump(t, e.EUCQL, ks)
	diff := 0
	for k, c := range us {
		if eu[k] != c {
			if diff < 5 {
				t.Errorf("key %d: us-east-1 %+v, eu-west-1 %+v", k, c, eu[k])
			}
			diff++
		}
	}
	for k := range eu {
		if _, ok := us[k]; !ok {
			if diff < 5 {
				t.Errorf("key %d only in eu-west-1", k)
			}
			diff++
		}
	}
	if diff > 0 {
		t.Fatalf("%d keys differ between the two keyspaces", diff)
	}
	return us, len(us)
}

func waitCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dwValue(worker, seq int) string { return fmt.Sprintf("w%d-%d", worker, seq) }
