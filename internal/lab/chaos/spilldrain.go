package chaos

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// The end-of-run spill drain. A writer's cachesync Publisher.Close sends only its buffer: what is
// in its spill (events that found a destination's SQS down, e.g. an ElasticMQ killed near the
// end) is sent by the next Publisher opened on that spill directory, as cachesync documents. A
// campaign's writer has no next start, so after the writers exited and the world is healed the
// campaign does what a restarted writer would: it opens the writer's own Publisher
// (openWriterPublisher: the library's NewPublisherTo, the same destinations and spill), waits
// until its spills report nothing pending (bounded by SpillDrainTimeout), and closes it. Only
// then are the caches and the spill directories judged: what is still in a spill after that is
// a spill violation (spillLeftovers reads the directories themselves, not these figures).

// SpillDrainTimeout bounds the wait for one writer's spill to drain at the end of a run.
const SpillDrainTimeout = 60 * time.Second

// spillDrainCloseTimeout bounds the Close of a draining Publisher (its buffers are empty).
const spillDrainCloseTimeout = 15 * time.Second

// SpillDrain is what the campaign's end-of-run Publisher did with one writer's spill.
type SpillDrain struct {
	Before  int64  `json:"before"`          // events pending in the spill when the Publisher opened
	Drained int64  `json:"drained"`         // of them, sent (Before - Left)
	Left    int64  `json:"left"`            // still pending when the wait ended
	Err     string `json:"error,omitempty"` // opening, waiting or closing failed
}

// spillPublisher is what the drain needs of a cachesync Publisher.
type spillPublisher interface {
	Spilled() (total, pending int64)
	Close(ctx context.Context) error
}

// drainSpill opens a publisher with open, polls its pending spill count every poll until it is 0
// or timeout passed (or ctx ended), then closes it. Left is the pending count at the end of the
// wait; a publisher that cannot be opened drains nothing (its spill stays for the spill check).
func drainSpill(ctx context.Context, open func(context.Context) (spillPublisher, error), timeout, poll time.Duration) SpillDrain {
	var d SpillDrain
	p, err := open(ctx)
	if err != nil {
		d.Err = fmt.Sprintf("open: %v", err)
		return d
	}
	_, d.Before = p.Spilled()
	d.Left = d.Before
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	for d.Left > 0 {
		select {
		case <-wctx.Done():
			d.Err = fmt.Sprintf("%d events still pending after %s", d.Left, timeout)
		case <-t.C:
		}
		if d.Err != "" {
			break
		}
		_, d.Left = p.Spilled()
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), spillDrainCloseTimeout)
	defer ccancel()
	if err := p.Close(cctx); err != nil {
		d.Err = joinErr(d.Err, fmt.Sprintf("close: %v", err))
	}
	_, d.Left = p.Spilled() // what Close's last sends left (pending is kept after Close)
	d.Drained = d.Before - d.Left
	return d
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// drainWriterSpills drains every writer's spill at once (drainSpill on openWriterPublisher), keyed
// by spill directory.
func drainWriterSpills(ctx context.Context, cfgs []WriterConfig, timeout time.Duration) map[string]SpillDrain {
	out := map[string]SpillDrain{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := drainSpill(ctx, func(ctx context.Context) (spillPublisher, error) { return openWriterPublisher(ctx, cfg) }, timeout, 250*time.Millisecond)
			mu.Lock()
			out[SpillDir(cfg)] = d
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// sortedWriterConfigs returns the configs in a stable order (by name).
func sortedWriterConfigs(m map[string]WriterConfig) []WriterConfig {
	var out []WriterConfig
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
