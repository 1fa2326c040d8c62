package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftCheckpointsCreatedByShardsAtOnce: the shards of one run start together on a fresh
// checkpoint keyspace; each creates (or finds) the progress table and reads it at once. None may be
// told the table does not exist (CI, 2026-12-07: "load checkpoints of run shards: table
// forklift_progress does not exist" from a shard that started beside the one creating it).
func TestForkliftCheckpointsCreatedByShardsAtOnce(t *testing.T) {
	t.Parallel() // faults nothing
	e := needServices(t)
	admin := session(t, e.EUCQL)
	const ks, shards, rounds = "forklift_ckpt_race", 3, 8
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for r := 0; r < rounds; r++ {
		// Each round is a fresh run: its own keyspace (left from an earlier test run: dropped first)
		// and its own sessions, as separate processes would have.
		ks := fmt.Sprintf("%s_%d", ks, r)
		ddl(t, admin, "DROP KEYSPACE IF EXISTS "+ks)
		sessions := make([]*gocql.Session, shards)
		for i := range sessions {
			sessions[i] = session(t, e.EUCQL)
		}
		var wg sync.WaitGroup
		errs := make([]error, shards)
		for i, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				store, err := forklift.NewCassandraCheckpoints(ctx, s, ks, 1)
				if err == nil {
					_, err = store.Load(ctx, "race")
				}
				if err == nil {
					err = store.Save(ctx, forklift.Checkpoint{Run: "race", Table: "t", Range: forklift.TokenRange{Start: int64(i), End: int64(i) + 1}})
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, s := range sessions {
			s.Close()
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, shard %d: %v", r, i, err)
			}
		}
	}
}
