// Command bench/cachesync measures cachesync end to end on the real local services: a Client in
// us-east-1 writes to its memcached and publishes to a queue; an Agent in eu-west-1 applies the
// events to its memcached. It reports events/s region to region and the lag from local write to
// visible in the other region (p50/p99), at a paced 1k events/s and at the maximum rate, with
// batching on (SendMessageBatch of 10) and off (one SendMessage per event), and once more paced
// with cache-aside fills in the mix (readers in eu-west-1 missing, BeginFill, Fill on the same 1 000
// keys the writer writes), all in one run.
//
// Those loopback runs use one ElasticMQ directly. With -rtt, the paced runs are made again across
// the world's WAN (Toxiproxy), as production is: the queue on eu-west-1's ElasticMQ, the publisher
// sending to it through the WAN, the agent receiving from it locally; once with the WAN's delay
// removed (0 ms) and once at -rtt, side by side, and the WAN is set back as it was.
//
// After every paced run it prints where the time goes, per percentile of the lag: the events
// ranked by lag, and for those around p50, p90, p99 the mean of each stage (write; batch wait;
// send, from the call's start to SQS's SentTimestamp, one way across the WAN; queue wait and long
// poll, from there to the receive's return; hand-off to an applier; apply), then each stage's own
// p50/p99, the send calls' full round trip, the delete calls' (both off the sum), and how many
// connections the agent's memcache client dialled.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
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
	Path         string  `json:"path"`
	Events       int     `json:"events"`
	EventsPerSec float64 `json:"events_per_sec"`
	SentPerSec   float64 `json:"sent_per_sec"` // accepted by SQS, the publishing side alone
	LagP50ms     float64 `json:"lag_p50_ms"`
	LagP99ms     float64 `json:"lag_p99_ms"`
	Fills        int64   `json:"fills,omitempty"`        // fills stored (the fills run)
	FillsVoided  int64   `json:"fills_voided,omitempty"` // fills voided by an event since BeginFill
	Stages       []row   `json:"stages,omitempty"`
	trace        *tracer
}

// path is where the run's queue is and how each side reaches it.
type path struct {
	name         string
	send, recv   *sqs.Client
	rtt          time.Duration
	viaWAN       bool
	queueCreator *sqs.Client
}

var restoreWAN = func() {}

func fatal(format string, args ...any) {
	restoreWAN()
	log.Fatalf(format, args...)
}

func main() {
	paced := flag.Duration("paced", 10*time.Second, "length of the 1k events/s run")
	rate := flag.Int("rate", 1000, "events/s of the paced run")
	maxEvents := flag.Int("max-events", 20000, "events of the maximum-rate run")
	writers := flag.Int("writers", 32, "concurrent writers in the maximum-rate run")
	rtt := flag.Duration("rtt", 0, "also run the paced runs across the WAN, at 0 ms and at this round-trip time (e.g. 70ms)")
	wanOnly := flag.Bool("wan-only", false, "with -rtt: only the WAN runs")
	pool := flag.Bool("pool", true, "first, the paced run with the agent's memcached pool at gomemcache's default (2) and at 64, side by side")
	out := flag.String("out", "bench/results/cachesync.json", "JSON output")
	flag.Parse()
	ctx := context.Background()
	env, err := world.FromEnv()
	if err != nil {
		fatal("%v", err)
	}
	client, err := sqsClient(ctx, "us-east-1", env.SQSEndpoint)
	if err != nil {
		fatal("%v", err)
	}
	usMC, euMC := memcache.New(env.Memcached(world.USEast1)), memcache.New(env.Memcached(world.EUWest1))
	euMC.MaxIdleConns = 64 // the agent's 32 appliers at once (see AgentOptions.Appliers)
	loop := path{name: "loopback", send: client, recv: client, queueCreator: client}
	var results []result
	report := func(r result) {
		results = append(results, r)
		fmt.Printf("%-9s %-38s %-13s events %6d  end to end %6.0f/s  sent %6.0f/s  lag p50 %7.1f ms  p99 %7.1f ms",
			r.Path, r.Mode, r.Load, r.Events, r.EventsPerSec, r.SentPerSec, r.LagP50ms, r.LagP99ms)
		if r.Fills+r.FillsVoided > 0 {
			fmt.Printf("  fills %d stored, %d voided", r.Fills, r.FillsVoided)
		}
		fmt.Println()
		if r.trace != nil {
			results[len(results)-1].Stages = r.trace.breakdown()
		}
	}
	modes := []struct {
		name  string
		batch int
	}{{"batching on (10 per SendMessageBatch)", 10}, {"batching off (SendMessage per event)", 1}}
	if !*wanOnly {
		if *pool {
			// The regression of issue 23: the agent's appliers on gomemcache's default pool of 2
			// idle connections, side by side with the pool sized to them.
			small := memcache.New(env.Memcached(world.EUWest1))
			for _, c := range []*memcache.Client{small, euMC} {
				r := runOnce(loop, usMC, c, 10, "paced", *paced, *rate, *maxEvents, *writers, false)
				r.Mode = fmt.Sprintf("batching on, agent's memcached pool %d", max(c.MaxIdleConns, memcache.DefaultMaxIdleConns))
				report(r)
			}
			fmt.Println()
		}
		base := len(results)
		for _, mode := range modes {
			for _, load := range []string{"paced", "max"} {
				r := runOnce(loop, usMC, euMC, mode.batch, load, *paced, *rate, *maxEvents, *writers, false)
				r.Mode = mode.name
				report(r)
			}
		}
		r := runOnce(loop, usMC, euMC, 10, "paced", *paced, *rate, *maxEvents, *writers, true)
		r.Mode = "batching on, fills in the mix"
		report(r)
		ratio := results[base+1].EventsPerSec / results[base+3].EventsPerSec
		sendRatio := results[base+1].SentPerSec / results[base+3].SentPerSec
		fmt.Printf("\nbatching speed-up at max rate, end to end = %.1fx (target >= 5x)\n", ratio)
		fmt.Printf("batching speed-up at max rate, sending   = %.1fx\n", sendRatio)
		fmt.Printf("p99 lag at %d events/s with batching = %.1f ms, without = %.1f ms (target <= 30 ms); with fills in the mix = %.1f ms\n\n",
			*rate, results[base+0].LagP99ms, results[base+2].LagP99ms, results[base+4].LagP99ms)
	}
	if *rtt > 0 {
		wan := env.WAN()
		was, err := wan.Link(ctx)
		if err != nil {
			fatal("read the WAN: %v", err)
		}
		restoreWAN = func() {
			if err := wan.Set(context.Background(), was.OneWay, was.Jitter); err != nil {
				log.Printf("could not set the WAN back to %v: %v", was, err)
			}
		}
		defer restoreWAN()
		euDirect, euWAN := env.SQS(world.EUWest1, world.EUWest1), env.SQS(world.USEast1, world.EUWest1)
		if euDirect == "" || euWAN == "" {
			fatal("ISLANDS_EU_SQS_ENDPOINT and ISLANDS_EU_SQS_ENDPOINT_WAN unset")
		}
		recv, err := sqsClient(ctx, "eu-west-1", euDirect)
		if err != nil {
			fatal("%v", err)
		}
		send, err := sqsClient(ctx, "eu-west-1", euWAN)
		if err != nil {
			fatal("%v", err)
		}
		var wanRes []result
		for _, d := range []time.Duration{0, *rtt} {
			jitter := min(was.Jitter, d/2)
			if err := wan.Set(ctx, d/2, jitter); err != nil {
				fatal("set the WAN: %v", err)
			}
			p := path{name: fmt.Sprintf("wan %v", d), send: send, recv: recv, rtt: d, viaWAN: true, queueCreator: recv}
			for _, mode := range modes {
				r := runOnce(p, usMC, euMC, mode.batch, "paced", *paced, *rate, *maxEvents, *writers, false)
				r.Mode = mode.name
				report(r)
				wanRes = append(wanRes, r)
			}
		}
		restoreWAN()
		fmt.Printf("\nacross the WAN at %d events/s, batching on: p50/p99 %.1f/%.1f ms at 0 ms, %.1f/%.1f ms at %v (targets: p50 <= RTT+20 ms, p99 <= RTT+50 ms)\n",
			*rate, wanRes[0].LagP50ms, wanRes[0].LagP99ms, wanRes[2].LagP50ms, wanRes[2].LagP99ms, *rtt)
		results = append(results, wanRes...)
	}
	b, _ := json.MarshalIndent(map[string]any{"results": results, "at": time.Now().UTC()}, "", "  ")
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fatal("%v", err)
	}
}

// trace is one event's times, from the publisher's and the agent's hooks.
type trace struct {
	write               time.Time // the version (Client.Now at Set)
	queued, start, end  time.Time // publisher: buffered, send call began, returned
	pollStart, received time.Time // agent: receive call began, returned
	sqsSent             time.Time // SQS's SentTimestamp (ms)
	applyStart, applied time.Time
	gotSent, gotApplied bool
	lag                 time.Duration
}

type tracer struct {
	dials   atomic.Int64
	mu      sync.Mutex
	byID    map[string]*trace
	deletes []time.Duration
}

func (t *tracer) get(id string) *trace {
	tr := t.byID[id]
	if tr == nil {
		tr = &trace{}
		t.byID[id] = tr
	}
	return tr
}

// stage names, in order along the way; their durations add up to the lag.
var stageNames = []string{"write", "batch wait", "send", "queue+poll", "hand-off", "apply"}

func (tr *trace) stages() []time.Duration {
	return []time.Duration{tr.queued.Sub(tr.write), tr.start.Sub(tr.queued), tr.sqsSent.Sub(tr.start), tr.received.Sub(tr.sqsSent),
		tr.applyStart.Sub(tr.received), tr.applied.Sub(tr.applyStart)}
}

// row is the breakdown at one percentile of the lag: the mean of each stage over the events
// ranked around it.
type row struct {
	Label   string    `json:"label"`
	LagMs   float64   `json:"lag_ms"`
	StageMs []float64 `json:"stage_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// breakdown prints, and returns, where the time goes per percentile of the lag.
func (t *tracer) breakdown() []row {
	t.mu.Lock()
	defer t.mu.Unlock()
	var trs []*trace
	for _, tr := range t.byID {
		if tr.gotSent && tr.gotApplied {
			trs = append(trs, tr)
		}
	}
	if len(trs) < 100 {
		return nil
	}
	slices.SortFunc(trs, func(a, b *trace) int { return int(a.lag - b.lag) })
	fmt.Printf("    %-6s %9s", "", "lag")
	for _, n := range stageNames {
		fmt.Printf(" %11s", n)
	}
	fmt.Println("   (ms; mean of the events ranked around each percentile)")
	var rows []row
	for _, q := range []struct {
		label  string
		lo, hi float64
	}{{"p50", 0.495, 0.505}, {"p90", 0.895, 0.905}, {"p99", 0.985, 0.995}, {"max 0.5%", 0.995, 1}} {
		lo, hi := int(q.lo*float64(len(trs))), max(int(q.hi*float64(len(trs))), int(q.lo*float64(len(trs)))+1)
		hi = min(hi, len(trs))
		sums := make([]time.Duration, len(stageNames))
		var lag time.Duration
		for _, tr := range trs[lo:hi] {
			lag += tr.lag
			for i, d := range tr.stages() {
				sums[i] += d
			}
		}
		n := time.Duration(hi - lo)
		r := row{Label: q.label, LagMs: ms(lag / n)}
		fmt.Printf("    %-6s %9.1f", q.label, r.LagMs)
		for _, s := range sums {
			r.StageMs = append(r.StageMs, ms(s/n))
			fmt.Printf(" %11.1f", ms(s/n))
		}
		fmt.Println()
		rows = append(rows, r)
	}
	fmt.Printf("    %-6s %9s", "each", "")
	for i := range stageNames {
		ds := make([]time.Duration, len(trs))
		for j, tr := range trs {
			ds[j] = tr.stages()[i]
		}
		slices.Sort(ds)
		fmt.Printf(" %5.1f/%5.1f", ms(ds[len(ds)/2]), ms(ds[len(ds)*99/100]))
	}
	fmt.Println("   (each stage's own p50/p99)")
	rtts := make([]time.Duration, len(trs))
	for j, tr := range trs {
		rtts[j] = tr.end.Sub(tr.start)
	}
	slices.Sort(rtts)
	fmt.Printf("    send call RTT p50 %.1f ms, p99 %.1f ms; agent's memcached dials %d\n", ms(rtts[len(rtts)/2]), ms(rtts[len(rtts)*99/100]), t.dials.Load())
	if len(t.deletes) > 0 {
		slices.Sort(t.deletes)
		fmt.Printf("    delete RTT (off the lag path) p50 %.1f ms, p99 %.1f ms, %d calls\n",
			ms(t.deletes[len(t.deletes)/2]), ms(t.deletes[len(t.deletes)*99/100]), len(t.deletes))
	}
	return rows
}

func runOnce(p path, usMC, euMC *memcache.Client, batch int, load string, paced time.Duration, rate, maxEvents, writers int, withFills bool) result {
	ctx := context.Background()
	name := fmt.Sprintf("cachesync-bench-%d", time.Now().UnixNano())
	q, err := p.queueCreator.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		fatal("%v", err)
	}
	defer p.queueCreator.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	tr := &tracer{byID: map[string]*trace{}}
	var d net.Dialer
	euMC.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		tr.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	pub, err := cachesync.NewPublisher(p.send, []string{*q.QueueUrl}, cachesync.PublisherOptions{BatchSize: batch, Buffer: 100000,
		OnSent: func(s cachesync.Sent) {
			tr.mu.Lock()
			t := tr.get(s.ID)
			t.queued, t.start, t.end, t.gotSent = s.Queued, s.SendStart, s.SendEnd, true
			tr.mu.Unlock()
		}})
	if err != nil {
		fatal("%v", err)
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
	agent, _ := cachesync.NewAgent(p.recv, *q.QueueUrl, euMC, cachesync.AgentOptions{Receivers: 8, WaitSeconds: 1,
		OnApplied: func(ev *cachesync.Event, applied bool, lag time.Duration) {
			mu.Lock()
			lags = append(lags, lag)
			if len(lags) == want {
				last = time.Now()
				close(done)
			}
			mu.Unlock()
		},
		OnStages: func(ev *cachesync.Event, st cachesync.Stages) {
			tr.mu.Lock()
			t := tr.get(ev.ID)
			t.write = time.UnixMicro(ev.Version.Micros)
			t.pollStart, t.received, t.applyStart, t.applied, t.gotApplied = st.PollStart, st.Received, st.ApplyStart, st.Applied, true
			t.sqsSent = st.SQSSent
			t.lag = st.Applied.Sub(t.write)
			tr.mu.Unlock()
		},
		OnDeleted: func(n int, start, end time.Time) {
			tr.mu.Lock()
			tr.deletes = append(tr.deletes, end.Sub(start))
			tr.mu.Unlock()
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
		fatal("only %d of %d events arrived", len(lags), want)
	}
	close(stopFills)
	fillers.Wait()
	pub.Close(ctx)
	slices.Sort(lags)
	label := "max rate"
	if load == "paced" {
		label = fmt.Sprintf("paced %d/s", rate)
	}
	r := result{Path: p.name, Load: label, Events: want, EventsPerSec: float64(want) / last.Sub(start).Seconds(), SentPerSec: float64(want) / sent.Seconds(),
		LagP50ms: ms(lags[len(lags)/2]), LagP99ms: ms(lags[len(lags)*99/100]),
		Fills: fills.Load(), FillsVoided: voided.Load()}
	if load == "paced" {
		r.trace = tr
	}
	return r
}

// sqsClient is the world's SQS client with an idle pool for the publisher's senders and the
// agent's receivers and deleters (cachesync.SQSHTTPClient).
func sqsClient(ctx context.Context, region, endpoint string) (*sqs.Client, error) {
	c, err := world.SQSClient(ctx, region, endpoint)
	if err != nil {
		return nil, err
	}
	return sqs.New(c.Options(), func(o *sqs.Options) { o.HTTPClient = cachesync.SQSHTTPClient(64) }), nil
}

// nopSink is the event sink of the readers' client, which only fills (fills publish nothing).
type nopSink struct{}

func (nopSink) Publish(context.Context, *cachesync.Event) error { return nil }
