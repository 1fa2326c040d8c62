package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/globalcloud/islands/cachesync"
)

// TestCachesyncSQSOutage: ElasticMQ is killed for 15 s while us-east-1 writes 1 000 keys/s through
// its Client. The application's writes must stay fast (p99 reported), nothing panics, nothing is
// dropped (the overflow goes to the spill), and after the restart every key in eu-west-1 holds the
// newest write or nothing. A killed ElasticMQ forgets its queues and messages: the test recreates
// its queue, and the publisher sends again what SQS took just before the outage (ResendWindow).
//
// 15 s is what the properties need: the publisher's 2 000-event buffer is full within 2 s, so most
// of the outage's ~15 000 events go through the spill, and the outage outlasts the 10 s ResendWindow.
// (It was 30 s; every event of the outage is drained and checked after it, so the longer outage
// doubled the drain without checking anything more.)
func TestCachesyncSQSOutage(t *testing.T) {
	e := needServices(t)
	ensureRunning(t, e, "elasticmq")
	c := sqsClient(e)
	ctx := context.Background()
	name := fmt.Sprintf("cachesync-outage-%d", time.Now().UnixNano())
	euQueue := createQueue(t, c, name)
	t.Cleanup(func() { c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(euQueue)}) })
	pub, err := cachesync.NewPublisher(c, []string{euQueue}, cachesync.PublisherOptions{Buffer: 2000, PublishTimeout: 5 * time.Millisecond,
		SpillDir: t.TempDir(), ResendWindow: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pub.Close(cctx)
	})
	us, err := cachesync.NewClient(memcached(e.USMemcached), pub, cachesync.ClientOptions{Region: "us-east-1",
		Rules: cachesync.Rules{Default: cachesync.Replicate}})
	if err != nil {
		t.Fatal(err)
	}
	euMC := memcached(e.EUMemcached)
	actx, stopAgent := context.WithCancel(ctx)
	agent, err := cachesync.NewAgent(c, euQueue, euMC, cachesync.AgentOptions{WaitSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan struct{})
	go func() { agent.Run(actx); close(agentDone) }()
	defer func() { stopAgent(); <-agentDone }()
	eu, _ := cachesync.NewClient(euMC, readOnly{}, cachesync.ClientOptions{Region: "eu-west-1"})

	run := time.Now().UnixNano()
	const nkeys, rate, writers = 3000, 1000, 16
	const outageFor = 15 * time.Second
	var mu sync.Mutex
	type write struct {
		v   cachesync.Version
		val string
	}
	newest := map[string]write{}
	var outageLat, normalLat []time.Duration
	var outage sync.Mutex // held by the writers' bookkeeping while the state flips
	inOutage := false
	var writeErrs int
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			tick := time.NewTicker(time.Second * writers / rate)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				key := fmt.Sprintf("profile:%d:%d", run, rng.IntN(nkeys))
				val := fmt.Sprintf("g%d-%d", g, i)
				t0 := time.Now()
				v, err := us.Set(ctx, &cachesync.Item{Key: key, Value: []byte(val)})
				d := time.Since(t0)
				outage.Lock()
				down := inOutage
				outage.Unlock()
				mu.Lock()
				if err == nil {
					if cur, ok := newest[key]; !ok || cur.v.Less(v) {
						newest[key] = write{v, val}
					}
				} else if !errors.Is(err, cachesync.ErrNotApplied) {
					writeErrs++
				}
				if down {
					outageLat = append(outageLat, d)
				} else {
					normalLat = append(normalLat, d)
				}
				mu.Unlock()
			}
		}(g)
	}
	time.Sleep(5 * time.Second)
	outage.Lock()
	inOutage = true
	outage.Unlock()
	fault(t, e, "kill", "elasticmq")
	time.Sleep(outageFor)
	fault(t, e, "restart", "elasticmq")
	outage.Lock()
	inOutage = false
	outage.Unlock()
	createQueue(t, c, name) // a restarted ElasticMQ has only the queues of its configuration
	time.Sleep(5 * time.Second)
	stopWriters()
	wg.Wait()
	writeTime := time.Since(start)

	// Everything spilled goes out, then the queue drains.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, pending := pub.Spilled(); pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			total, pending := pub.Spilled()
			t.Fatalf("spill not sent within 90 s: %d of %d pending", pending, total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitDrained(t, e, 90*time.Second, euQueue)
	mu.Lock()
	defer mu.Unlock()
	stale, missing := 0, 0
	var samples []string
	for key, w := range newest {
		val := w.val
		it, err := eu.Get(ctx, key)
		switch {
		case err != nil:
			missing++
		case string(it.Value) != val:
			stale++
			if len(samples) < 5 {
				samples = append(samples, fmt.Sprintf("%s=%q want %q", key, it.Value, val))
			}
		}
	}
	slices.Sort(outageLat)
	slices.Sort(normalLat)
	pct := func(l []time.Duration, p int) time.Duration {
		if len(l) == 0 {
			return 0
		}
		return l[min(len(l)-1, len(l)*p/100)]
	}
	spilled, _ := pub.Spilled()
	t.Logf("FIGURES writes=%d in %s; write p50/p99 before+after the outage %s/%s, during the %s outage %s/%s (max %s); spilled=%d resent=%d dropped=%d; keys=%d stale=%d missing=%d write_errors=%d",
		len(outageLat)+len(normalLat), writeTime.Round(time.Second), pct(normalLat, 50), pct(normalLat, 99), outageFor, pct(outageLat, 50), pct(outageLat, 99),
		pct(outageLat, 100), spilled, pub.Resent(), pub.Dropped(), len(newest), stale, missing, writeErrs)
	if pub.Dropped() != 0 || writeErrs != 0 {
		t.Fatalf("dropped %d events, %d write errors", pub.Dropped(), writeErrs)
	}
	if spilled == 0 {
		t.Fatal("nothing was spilled: the outage did not reach the publisher")
	}
	if stale > 0 {
		t.Fatalf("%d keys stale in eu-west-1 after the restart: %v", stale, samples)
	}
	if p99 := pct(outageLat, 99); p99 > 250*time.Millisecond {
		t.Fatalf("application write p99 during the outage %s: Publish must not wait on SQS", p99)
	}
}

func createQueue(t *testing.T, c *sqs.Client, name string) string {
	t.Helper()
	var lastErr error
	for i := 0; i < 30; i++ {
		q, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err == nil {
			return *q.QueueUrl
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	t.Fatalf("create queue %s: %v", name, lastErr)
	return ""
}

// TestCachesyncCloseRacesPublish: Close while 8 goroutines Publish, 30 times, on the real
// ElasticMQ, under -race: no panic, Close returns by its deadline, no goroutine left behind.
func TestCachesyncCloseRacesPublish(t *testing.T) {
	e := needServices(t)
	c := sqsClient(e)
	queue, _ := smokeQueue(t, c, "cachesync-close", 5)
	before := runtime.NumGoroutine()
	for round := 0; round < 30; round++ {
		pub, err := cachesync.NewPublisher(c, []string{queue}, cachesync.PublisherOptions{Buffer: 16, PublishTimeout: time.Millisecond,
			SpillDir: t.TempDir(), SecondInvalidation: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var closedErrs atomic.Int64
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					err := pub.Publish(context.Background(), &cachesync.Event{Format: cachesync.EventFormat, ID: fmt.Sprint(i),
						Op: cachesync.OpInvalidate, Key: fmt.Sprintf("close:%d", i), Version: cachesync.Version{Micros: int64(i + 1), Origin: "us"}})
					if errors.Is(err, cachesync.ErrClosed) {
						closedErrs.Add(1)
					} else if err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t0 := time.Now()
		pub.Close(ctx)
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("round %d: Close took %s with a 50 ms deadline", round, d)
		}
		cancel()
		wg.Wait()
		// With a spill, the only events lost are those published after Close, and each said so.
		if pub.Dropped() != 2*closedErrs.Load() { // an event and its second invalidation
			t.Fatalf("round %d: %d dropped, %d publishes told ErrClosed", round, pub.Dropped(), closedErrs.Load())
		}
	}
	// No goroutine of a Publisher is left (the SQS client's idle keep-alive connections are the
	// client's, shared by all rounds, not the publishers').
	time.Sleep(200 * time.Millisecond)
	buf := make([]byte, 1<<20)
	stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	left := 0
	for _, st := range stacks {
		if strings.Contains(st, "cachesync.(*Publisher)") {
			left++
			if left <= 3 {
				t.Logf("left running:\n%s", st)
			}
		}
	}
	t.Logf("goroutines: %d before, %d after 30 publishers closed; %d of them publishers'", before, runtime.NumGoroutine(), left)
	if left > 0 {
		t.Fatalf("%d publisher goroutines still running after Close returned", left)
	}
}
