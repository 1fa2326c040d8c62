package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/cachesync"
)

// TestCachesyncConverges: 20k writes from both regions to overlapping keys (replicated profiles,
// invalidated histories, some deletes), then the same events delivered again and stale ones
// delivered late: every key in both regions is the newest write, or absent where the rule says so.
func TestCachesyncConverges(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	us, eu := csRegions(t, e, "cachesync-conv", cachesync.PublisherOptions{})
	startAgent(t, e, us, cachesync.AgentOptions{})
	startAgent(t, e, eu, cachesync.AgentOptions{})
	run := fmt.Sprint(time.Now().UnixNano())
	model := &csModel{newest: map[string]csWrite{}}
	const perRegion, workers, keys = 10000, 16, 1500
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range []*csRegion{us, eu} {
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func(r *csRegion, g int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), uint64(len(r.name))))
				ctx := context.Background()
				for i := 0; i < perRegion/workers; i++ {
					kind := "profile"
					if rng.IntN(2) == 0 {
						kind = "history"
					}
					key := csKey(run, kind, rng.IntN(keys))
					if rng.IntN(20) == 0 {
						v, err := r.client.Delete(ctx, key)
						if errors.Is(err, cachesync.ErrNotApplied) {
							continue // a newer write is held: this one is not the newest anywhere
						}
						if err != nil {
							t.Errorf("delete: %v", err)
							return
						}
						model.add(csWrite{key: key, version: v})
						continue
					}
					val := fmt.Sprintf("%s-%d-%d", r.name, g, i)
					v, err := r.client.Set(ctx, &cachesync.Item{Key: key, Value: []byte(val)})
					if errors.Is(err, cachesync.ErrNotApplied) {
						continue // reported, not acknowledged: a newer write is held
					}
					if err != nil {
						t.Errorf("set: %v", err)
						return
					}
					model.add(csWrite{key: key, value: val, version: v})
				}
			}(r, g)
		}
	}
	wg.Wait()
	t.Logf("%d writes from two regions in %s", len(model.all), time.Since(start).Round(time.Millisecond))

	// Duplicated and reordered delivery: 3000 writes sent again (some delayed), and 500 stale
	// events with versions older than anything written.
	c := sqsClient(e)
	var entries [2][]types.SendMessageBatchRequestEntry
	for i := 0; i < 3000; i++ {
		w := model.all[rand.IntN(len(model.all))]
		ev := &cachesync.Event{Format: cachesync.EventFormat, ID: fmt.Sprint(i), Op: cachesync.OpSet, Key: w.key,
			Value: []byte(w.value), Version: w.version}
		if w.value == "" {
			ev.Op, ev.Value = cachesync.OpDelete, nil
		}
		if csRules.Mode(w.key) == cachesync.Invalidate {
			ev.Op, ev.Value = cachesync.OpInvalidate, nil
		}
		b, _ := ev.Marshal()
		entries[i%2] = append(entries[i%2], types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(len(entries[i%2]))),
			MessageBody: aws.String(string(b)), DelaySeconds: int32(i % 3)})
	}
	for i := 0; i < 500; i++ {
		w := model.all[rand.IntN(len(model.all))]
		ev := &cachesync.Event{Format: cachesync.EventFormat, ID: fmt.Sprint("stale", i), Op: cachesync.OpSet, Key: w.key,
			Value: []byte("stale"), Version: cachesync.Version{Micros: w.version.Micros - 1_000_000, Origin: "us-east-1"}}
		b, _ := ev.Marshal()
		entries[i%2] = append(entries[i%2], types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(len(entries[i%2]))),
			MessageBody: aws.String(string(b)), DelaySeconds: 2})
	}
	for i, url := range []string{us.queue, eu.queue} {
		for j := 0; j < len(entries[i]); j += 10 {
			batch := entries[i][j:min(j+10, len(entries[i]))]
			for k := range batch {
				batch[k].Id = aws.String(fmt.Sprint(k))
			}
			if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: batch}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitDrained(t, e, 3*time.Minute, us.queue, eu.queue)
	checked := csCheck(t, model, us, eu)
	ua, ea := us.agent.Stats(), eu.agent.Stats()
	t.Logf("FIGURES writes=%d keys=%d checked=%d received=%d applied=%d stale_or_duplicate=%d poison=%d in %s",
		len(model.all), len(model.newest), checked, ua.Received.Load()+ea.Received.Load(), ua.Applied.Load()+ea.Applied.Load(),
		ua.Stale.Load()+ea.Stale.Load(), ua.Poison.Load()+ea.Poison.Load(), time.Since(start).Round(time.Millisecond))
}

// TestCachesyncPoisonAndOversized: malformed and unknown-version messages end in the dead-letter
// queue without stopping the agent; an oversized replicated value becomes an invalidation.
func TestCachesyncPoisonAndOversized(t *testing.T) {
	e := needServices(t)
	us, eu := csRegions(t, e, "cachesync-poison", cachesync.PublisherOptions{})
	startAgent(t, e, eu, cachesync.AgentOptions{})
	c := sqsClient(e)
	for _, body := range []string{"not json", `{"v":99,"op":"set","key":"k","ver":{"us":1}}`, `{"v":1,"op":"app","type":"nobody-handles-this"}`} {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(eu.queue), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	key := csKey(run, "profile", 1)
	if _, err := eu.client.Set(ctx, &cachesync.Item{Key: key, Value: []byte("old in eu")}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 300*1024)
	if _, err := us.client.Set(ctx, &cachesync.Item{Key: key, Value: big}); err != nil {
		t.Fatalf("oversized set: %v", err)
	}
	if us.client.Degraded() != 1 {
		t.Fatalf("degraded = %d, want 1", us.client.Degraded())
	}
	after := csKey(run, "profile", 2)
	if _, err := us.client.Set(ctx, &cachesync.Item{Key: after, Value: []byte("after the poison")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	dead := 0
	for dead < 3 && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(eu.dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		dead += len(out.Messages)
	}
	if dead != 3 {
		t.Fatalf("%d poison messages in the dead-letter queue, want 3", dead)
	}
	waitDrained(t, e, time.Minute, eu.queue)
	if _, err := eu.client.Get(ctx, key); err != memcache.ErrCacheMiss {
		t.Fatalf("oversized value in us: eu still holds its old copy (%v)", err)
	}
	if it, err := eu.client.Get(ctx, after); err != nil || string(it.Value) != "after the poison" {
		t.Fatalf("agent stopped after the poison messages: %v", err)
	}
	t.Logf("FIGURES poison_counted=%d dead_lettered=%d degraded_to_invalidation=%d", eu.agent.Stats().Poison.Load(), dead, us.client.Degraded())
}

// TestCachesyncMemcachedRestart: the eu memcached is killed mid-stream and restarted; the agent
// retries the events it could not apply meanwhile and the region ends with every value written
// from the kill on (what it held before the kill is gone with its memory: a miss, never stale).
func TestCachesyncMemcachedRestart(t *testing.T) {
	e := needServices(t)
	us, eu := csRegions(t, e, "cachesync-mcrestart", cachesync.PublisherOptions{})
	startAgent(t, e, eu, cachesync.AgentOptions{RetryDelay: 1})
	ensureRunning(t, e, "memcached-eu")
	run := fmt.Sprint(time.Now().UnixNano())
	model := &csModel{newest: map[string]csWrite{}}
	ctx := context.Background()
	for i := 0; i < 3000; i++ {
		if i == 1000 {
			fault(t, e, "kill", "memcached-eu")
		}
		if i == 2000 {
			fault(t, e, "restart", "memcached-eu")
		}
		key := csKey(run, "profile", i)
		if i < 1000 {
			// Applied before the kill: memcached loses them with its memory, so a miss is right.
			key += "-i"
		}
		v, err := us.client.Set(ctx, &cachesync.Item{Key: key, Value: []byte(key)})
		if err != nil {
			t.Fatal(err)
		}
		model.add(csWrite{key: key, value: key, version: v})
	}
	waitDrained(t, e, 2*time.Minute, eu.queue)
	csCheck(t, model, us, eu)
	t.Logf("FIGURES events=%d apply_errors_retried=%d applied=%d", len(model.all), eu.agent.Stats().ApplyErrors.Load(), eu.agent.Stats().Applied.Load())
	if eu.agent.Stats().ApplyErrors.Load() == 0 {
		t.Fatal("no apply error while memcached-eu was down: the fault did not happen")
	}
}

// TestCachesyncRelay: an application event emitted in us-east-1 runs its handler in eu-west-1.
func TestCachesyncRelay(t *testing.T) {
	e := needServices(t)
	us, eu := csRegions(t, e, "cachesync-relay", cachesync.PublisherOptions{})
	a, err := cachesync.NewAgent(sqsClient(e), eu.queue, eu.mc, cachesync.AgentOptions{WaitSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 10)
	a.Handle("recompute-recommendations", func(ctx context.Context, ev *cachesync.Event) error {
		var p struct{ Member int }
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		got <- p.Member
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	if err := us.client.Emit(context.Background(), "recompute-recommendations", map[string]int{"Member": 42}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != 42 {
			t.Fatalf("handler got member %d, want 42", m)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the relay event did not reach eu-west-1's handler")
	}
}
