// Command bench/cachesync measures cachesync end to end on the real local services: a Client in
// us-east-1 writes to its memcached and publishes through ElasticMQ; an Agent in eu-west-1 applies
// the events to its memcached. It reports events/s region to region and the lag from local write
// to visible in the other region (p50/p99), at a paced 1k events/s and at the maximum rate, with
// batching on (SendMessageBatch of 10) and off (one SendMessage per event), and once more paced
// with cache-aside fills in the mix (readers in eu-west-1 missing, BeginFill, Fill on the same 1 000
// keys the writer writes), all in one run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/internal/lab/world"
)

type result struct {
	Mode         string  `json:"mode"`
	Load         string  `json:"load"`
	Events       int     `json:"events"`
	EventsPerSec float64 `json:"events_per_sec"`
	SentPerSec   float64 `json:"sent_per_sec"` // accepted by SQS, the publishing side alone
	LagP50ms     float64 `json:"lag_p50_ms"`
	LagP99ms     float64 `json:"lag_p99_ms"`
	Fills        int64   `json:"fills,omitempty"`        // fills stored (the fills run)
	FillsVoided  int64   `json:"fills_voided,omitempty"` // fills voided by an event since BeginFill
}

func main() {
	paced := flag.Duration("paced", 10*time.Second, "length of the 1k events/s run")
	rate := flag.Int("rate", 1000, "events/s of the paced run")
	maxEvents := flag.Int("max-events", 20000, "events of the maximum-rate run")
	writers := flag.Int("writers", 32, "concurrent writers in the maximum-rate run")
	out := flag.String("out", "bench/results/cachesync.json", "JSON output")
	flag.Parse()
	env, err := world.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	client, err := world.SQSClient(context.Background(), "us-east-1", env.SQSEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	usMC, euMC := memcache.New(env.Memcached(world.USEast1)), memcache.New(env.Memcached(world.EUWest1))
	var results []result
	for _, mode := range []struct {
		name  string
		batch int
	}{{"batching on (10 per SendMessageBatch)", 10}, {"batching off (SendMessage per event)", 1}} {
		for _, load := range []string{"paced", "max"} {
			r := runOnce(client, usMC, euMC, mode.batch, load, *paced, *rate, *maxEvents, *writers, false)
			r.Mode = mode.name
			results = append(results, r)
			fmt.Printf("%-40s %-13s events %6d  end to end %6.0f/s  sent %6.0f/s  lag p50 %7.1f ms  p99 %7.1f ms\n",
				r.Mode, r.Load, r.Events, r.EventsPerSec, r.SentPerSec, r.LagP50ms, r.LagP99ms)
		}
	}
	r := runOnce(client, usMC, euMC, 10, "paced", *paced, *rate, *maxEvents, *writers, true)
	r.Mode = "batching on, fills in the mix"
	results = append(results, r)
	fmt.Printf("%-40s %-13s events %6d  end to end %6.0f/s  sent %6.0f/s  lag p50 %7.1f ms  p99 %7.1f ms  fills %d stored, %d voided\n",
		r.Mode, r.Load, r.Events, r.EventsPerSec, r.SentPerSec, r.LagP50ms, r.LagP99ms, r.Fills, r.FillsVoided)
	ratio := results[1].EventsPerSec / results[3].EventsPerSec
	sendRatio := results[1].SentPerSec / results[3].SentPerSec
	fmt.Printf("\nbatching speed-up at max rate, end to end = %.1fx (target >= 5x)\n", ratio)
	fmt.Printf("batching speed-up at max rate, sending   = %.1fx\n", sendRatio)
	fmt.Printf("p99 lag at %d events/s with batching = %.1f ms (target < 100 ms); with fills in the mix = %.1f ms\n", *rate, results[0].LagP99ms, results[4].LagP99ms)
	b, _ := json.MarshalIndent(map[string]any{"results": results, "batching_speedup": ratio, "batching_send_speedup": sendRatio, "at": time.Now().UTC()}, "", "  ")
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func runOnce(c *sqs.Client, usMC, euMC *memcache.Client, batch int, load string, paced time.Duration, rate, maxEvents, writers int, withFills bool) result {
	ctx := context.Background()
	name := fmt.Sprintf("cachesync-bench-%d", time.Now().UnixNano())
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	pub, err := cachesync.NewPublisher(c, []string{*q.QueueUrl}, cachesync.PublisherOptions{BatchSize: batch, Buffer: 100000})
	if err != nil {
		log.Fatal(err)
	}
	cl, _ := cachesync.NewClient(usMC, pub, cachesync.ClientOptions{Region: "us-east-1",
		Rules: cachesync.Rules{Default: cachesync.Replicate}})
	var mu sync.Mutex
	var lags []time.Duration
	done := make(chan struct{})
	want := maxEvents
	if load == "paced" {
		want = int(paced.Seconds() * float64(rate))
	}
	var last time.Time
	agent, _ := cachesync.NewAgent(c, *q.QueueUrl, euMC, cachesync.AgentOptions{Receivers: 8, WaitSeconds: 1,
		OnApplied: func(ev *cachesync.Event, applied bool, lag time.Duration) {
			mu.Lock()
			lags = append(lags, lag)
			if len(lags) == want {
				last = time.Now()
				close(done)
			}
			mu.Unlock()
		}})
	actx, cancel := context.WithCancel(ctx)
	go agent.Run(actx)
	defer cancel()
	start := time.Now()
	run := start.UnixNano()
	var fills, voided atomic.Int64
	stopFills := make(chan struct{})
	var fillers sync.WaitGroup
	if withFills {
		// eu-west-1 readers: cache-aside on the 1 000 keys the writer cycles through; the "database
		// read" is a 1 ms pause (the value filled is a constant: only the contention matters here).
		eu, _ := cachesync.NewClient(euMC, nopSink{}, cachesync.ClientOptions{Region: "eu-west-1"})
		for g := 0; g < 8; g++ {
			fillers.Add(1)
			go func(g int) {
				defer fillers.Done()
				for i := g; ; i += 7 {
					select {
					case <-stopFills:
						return
					default:
					}
					key := fmt.Sprintf("bench:%d:%d", run, i%1000)
					if _, err := eu.Get(ctx, key); err == nil {
						continue
					}
					tok, err := eu.BeginFill(ctx, key)
					if err != nil {
						continue
					}
					time.Sleep(time.Millisecond)
					if eu.Fill(ctx, tok, &cachesync.Item{Key: key, Value: []byte("filled")}) == nil {
						fills.Add(1)
					} else {
						voided.Add(1)
					}
				}
			}(g)
		}
	}
	keyOf := func(i int) string {
		if withFills {
			return fmt.Sprintf("bench:%d:%d", run, i%1000)
		}
		return fmt.Sprintf("bench:%d:%d", run, i)
	}
	if load == "paced" {
		for i := 0; i < want; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			cl.Set(ctx, &cachesync.Item{Key: keyOf(i), Value: []byte("0123456789abcdef0123456789abcdef")})
		}
	} else {
		var wg sync.WaitGroup
		for g := 0; g < writers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < want; i += writers {
					cl.Set(ctx, &cachesync.Item{Key: fmt.Sprintf("bench:%d:%d", run, i), Value: []byte("0123456789abcdef0123456789abcdef")})
				}
			}(g)
		}
		wg.Wait()
	}
	for pub.Sent() < int64(want) {
		time.Sleep(time.Millisecond)
	}
	sent := time.Since(start)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		log.Fatalf("only %d of %d events arrived", len(lags), want)
	}
	close(stopFills)
	fillers.Wait()
	pub.Close(ctx)
	slices.Sort(lags)
	label := "max rate"
	if load == "paced" {
		label = fmt.Sprintf("paced %d/s", rate)
	}
	return result{Load: label, Events: want, EventsPerSec: float64(want) / last.Sub(start).Seconds(), SentPerSec: float64(want) / sent.Seconds(),
		LagP50ms: float64(lags[len(lags)/2].Microseconds()) / 1000, LagP99ms: float64(lags[len(lags)*99/100].Microseconds()) / 1000,
		Fills: fills.Load(), FillsVoided: voided.Load()}
}

// nopSink is the event sink of the readers' client, which only fills (fills publish nothing).
type nopSink struct{}

func (nopSink) Publish(context.Context, *cachesync.Event) error { return nil }
