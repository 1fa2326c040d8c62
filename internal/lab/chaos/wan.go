package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/globalcloud/islands/internal/lab/world"
)

// WANPartitioner is the local world's WAN (Toxiproxy on every cross-region path, internal/lab/world)
// as a Partitioner: Partition and Latency act on every cross-region path (a and b are not used),
// Isolate on one region's. Heal
// restores the link with the delay it had before the first fault, so a campaign leaves the WAN
// as it found it.
type WANPartitioner struct {
	W *world.WAN
	// API is the Toxiproxy API (ISLANDS_WAN), for one-path cuts (CutSQS); "" offers none.
	API string

	mu    sync.Mutex
	base  world.Link
	saved bool
}

// NewWANPartitioner wraps w.
func NewWANPartitioner(w *world.WAN) *WANPartitioner { return &WANPartitioner{W: w} }

func (p *WANPartitioner) save(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.saved {
		return nil
	}
	l, err := p.W.Link(ctx)
	if err != nil {
		return err
	}
	l.Partitioned, l.Isolated = false, world.Link{}.Isolated
	p.base, p.saved = l, true
	return nil
}

// Partition implements Partitioner: every cross-region path is cut.
func (p *WANPartitioner) Partition(ctx context.Context, _, _ string) error {
	if err := p.save(ctx); err != nil {
		return err
	}
	return p.W.Partition(ctx)
}

// Isolate implements Isolator: every path reaching or leaving region is cut (world.WAN.Isolate).
func (p *WANPartitioner) Isolate(ctx context.Context, region string) error {
	if err := p.save(ctx); err != nil {
		return err
	}
	return p.W.Isolate(ctx, world.Region(region))
}

// Latency implements Partitioner: every cross-region path gets d each way.
func (p *WANPartitioner) Latency(ctx context.Context, _, _ string, d time.Duration) error {
	if err := p.save(ctx); err != nil {
		return err
	}
	return p.W.Set(ctx, d, 0)
}

// CutsSQS implements SQSCutter: one-path cuts need the Toxiproxy API.
func (p *WANPartitioner) CutsSQS() bool { return p.API != "" }

// CutSQS implements SQSCutter: the path to region to's SQS server from region from is cut (the
// WAN's proxy "<to>-sqs-from-<from>"); every other path stays up.
func (p *WANPartitioner) CutSQS(ctx context.Context, to, from string) error {
	if p.API == "" {
		return fmt.Errorf("chaos: cut %s-sqs: no WAN API", to)
	}
	if err := p.save(ctx); err != nil {
		return err
	}
	body := strings.NewReader(`{"enabled":false}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.API, "/")+"/proxies/"+to+"-sqs-from-"+from, body)
	if err != nil {
		return fmt.Errorf("chaos: cut %s-sqs: %w", to, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("chaos: cut %s-sqs: %w", to, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("chaos: cut %s-sqs: %s: %s", to, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// Heal implements Partitioner: the paths are restored with their delay from before the faults.
func (p *WANPartitioner) Heal(ctx context.Context) error {
	if err := p.W.Heal(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	base, saved := p.base, p.saved
	p.mu.Unlock()
	if !saved {
		return nil
	}
	return p.W.Apply(ctx, base)
}

// NewWANPartitionerAt returns a WANPartitioner on the Toxiproxy API at api (ISLANDS_WAN), able to
// cut one path (CutSQS) as well.
func NewWANPartitionerAt(api string) *WANPartitioner {
	p := NewWANPartitioner(world.NewWAN(api))
	p.API = api
	return p
}
