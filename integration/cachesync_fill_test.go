package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
)

// TestCachesyncStaleFillRace reproduces the classic cache-aside race on the real services: us-east-1
// writes a key (Cassandra at 127.0.1.1, then its cache), the invalidation reaches eu-west-1 at
// once, but eu-west-1's database (the Cassandra at 127.0.2.1, standing for its replica) gets the
// write only a second later. Readers in eu-west-1 keep missing and filling meanwhile, so fills read
// the old value after the first invalidation. The delayed second invalidation (2 s) must leave
// no stale value: no read that starts after it was applied returns the old value, and at the end
// every key holds the new value or nothing.
func TestCachesyncStaleFillRace(t *testing.T) {
	e := needServices(t)
	const ks = "cachesync_fill"
	var sessions [2]*gocql.Session
	for i, addr := range []string{e.USCQL, e.EUCQL} {
		s := session(t, addr)
		freshKeyspace(t, s, ks)
		ddl(t, s, "CREATE TABLE "+ks+".kv (k text PRIMARY KEY, v text)")
		sessions[i] = session(t, addr)
	}
	usDB, euDB := sessions[0], sessions[1]
	c := sqsClient(e)
	euQueue, _ := smokeQueue(t, c, "cachesync-fill-eu", 5)
	pub, err := cachesync.NewPublisher(c, []string{euQueue}, cachesync.PublisherOptions{SecondInvalidation: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(context.Background()) })
	usMC, euMC := memcached(e.USMemcached), memcached(e.EUMemcached)
	// The 2 s second event must obey SecondInvalidation ≥ TombstoneTTL + 2 × skew (NewClient
	// refuses otherwise): 1 s tombstones, and both regions share this host's clock.
	us, err := cachesync.NewClient(usMC, pub, cachesync.ClientOptions{Region: "us-east-1",
		TombstoneTTL: time.Second, MaxClockSkew: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	eu, err := cachesync.NewClient(euMC, readOnly{}, cachesync.ClientOptions{Region: "eu-west-1"}) // eu only reads and fills
	if err != nil {
		t.Fatal(err)
	}

	run := fmt.Sprint(time.Now().UnixNano())
	const nkeys = 40
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("history:%s:%d", run, i)
		for _, s := range []*gocql.Session{usDB, euDB} {
			if err := s.Query("INSERT INTO "+ks+".kv (k, v) VALUES (?, ?) USING TIMESTAMP ?", keys[i], "old", int64(1)).Exec(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// invalidations seen in eu-west-1, per key: the time of the second one applied for the new write.
	var mu sync.Mutex
	newVersion := map[string]cachesync.Version{}
	seen := map[string]int{}
	secondAt := map[string]time.Time{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	agent, err := cachesync.NewAgent(c, euQueue, euMC, cachesync.AgentOptions{WaitSeconds: 1, TombstoneTTL: time.Second,
		OnApplied: func(ev *cachesync.Event, applied bool, lag time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if v, ok := newVersion[ev.Key]; ok && ev.Version == v {
				seen[ev.Key]++
				if seen[ev.Key] == 2 {
					secondAt[ev.Key] = time.Now()
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan struct{})
	go func() { agent.Run(ctx); close(agentDone) }()
	defer func() { stop(); <-agentDone }()

	// eu-west-1 readers: cache-aside with BeginFill before the database read.
	var staleAfterSecond, staleFillsStored, fills, hits atomic.Int64
	var samples []string
	readCtx, stopReaders := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 13))
			for readCtx.Err() == nil {
				key := keys[rng.IntN(nkeys)]
				start := time.Now()
				it, err := eu.Get(ctx, key)
				if err == nil {
					hits.Add(1)
					mu.Lock()
					at, done := secondAt[key]
					if string(it.Value) == "old" && done && start.After(at) {
						staleAfterSecond.Add(1)
						if len(samples) < 5 {
							samples = append(samples, fmt.Sprintf("%s read %q %s after its second invalidation", key, it.Value, start.Sub(at)))
						}
					}
					mu.Unlock()
					continue
				}
				if !errors.Is(err, memcache.ErrCacheMiss) {
					t.Errorf("eu get: %v", err)
					return
				}
				tok, err := eu.BeginFill(ctx, key)
				if err != nil {
					t.Errorf("begin fill: %v", err)
					return
				}
				var v string
				if err := euDB.Query("SELECT v FROM "+ks+".kv WHERE k = ?", key).Scan(&v); err != nil {
					t.Errorf("eu read: %v", err)
					return
				}
				if err := eu.Fill(ctx, tok, &cachesync.Item{Key: key, Value: []byte(v)}); err == nil {
					fills.Add(1)
					mu.Lock()
					_, written := newVersion[key]
					mu.Unlock()
					if v == "old" && written {
						staleFillsStored.Add(1) // the race happened: only the second invalidation can clear it
					}
				}
			}
		}(g)
	}

	// us-east-1 writes every key; its eu-west-1 replica gets each write 1 s later.
	time.Sleep(500 * time.Millisecond)
	var repl sync.WaitGroup
	for _, key := range keys {
		v := us.Now()
		if err := usDB.Query("INSERT INTO "+ks+".kv (k, v) VALUES (?, ?) USING TIMESTAMP ?", key, "new", v.Micros).Exec(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		newVersion[key] = v
		mu.Unlock()
		if _, err := us.Set(ctx, &cachesync.Item{Key: key, Value: []byte("new"), Version: v}); err != nil {
			t.Fatal(err)
		}
		repl.Add(1)
		go func() {
			defer repl.Done()
			time.Sleep(time.Second)
			if err := euDB.Query("INSERT INTO "+ks+".kv (k, v) VALUES (?, ?) USING TIMESTAMP ?", key, "new", v.Micros).Exec(); err != nil {
				t.Errorf("replicate %s: %v", key, err)
			}
		}()
		time.Sleep(25 * time.Millisecond)
	}
	repl.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(secondAt)
		mu.Unlock()
		if n == nkeys {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d second invalidations applied in eu-west-1 within 30 s", n, nkeys)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // readers go on after the last second invalidation
	stopReaders()
	wg.Wait()

	stale := 0
	for _, key := range keys {
		it, err := eu.Get(ctx, key)
		if err == nil && string(it.Value) != "new" {
			stale++
		}
	}
	t.Logf("FIGURES keys=%d hits=%d fills=%d stale_fills_stored_between_invalidations=%d stale_reads_after_second=%d stale_at_end=%d",
		nkeys, hits.Load(), fills.Load(), staleFillsStored.Load(), staleAfterSecond.Load(), stale)
	if staleAfterSecond.Load() > 0 || stale > 0 {
		t.Fatalf("stale after the second invalidation: %d reads, %d keys at the end; %v", staleAfterSecond.Load(), stale, samples)
	}
}

// readOnly is the event sink of a client that only reads and fills (which publish nothing).
type readOnly struct{}

func (readOnly) Publish(ctx context.Context, ev *cachesync.Event) error {
	return fmt.Errorf("read-only client published %s %s", ev.Op, ev.Key)
}
