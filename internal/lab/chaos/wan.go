package chaos

import (
	"context"
	"sync"
	"time"

	"github.com/globalcloud/islands/internal/lab/world"
)

// WANPartitioner is the local world's WAN (Toxiproxy on every cross-region path, internal/lab/world)
// as a Partitioner. The world has one link between its two regions, so a and b only name it. Heal
// restores the link with the delay it had before the first fault, so a campaign leaves the WAN
// as it found it.
type WANPartitioner struct {
	W *world.WAN

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

// Latency implements Partitioner: every cross-region path gets d each way.
func (p *WANPartitioner) Latency(ctx context.Context, _, _ string, d time.Duration) error {
	if err := p.save(ctx); err != nil {
		return err
	}
	return p.W.Set(ctx, d, 0)
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
