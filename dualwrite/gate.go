package dualwrite

import (
	"context"
	"sync"
	"sync/atomic"
)

// phaseGate is the phase barrier: writes hold its read side from the moment they read the phase
// until they have finished or been kept; SetPhase and Close hold its write side. Unlike a
// sync.RWMutex, both sides are acquired under a context.
//
// Invariants:
//   - state counts the readers inside, plus writerBit while a writer holds the gate or waits for
//     the readers inside to leave. A reader enters only by a CAS that sees no writerBit, so once a
//     writer has set it the count only falls.
//   - writerBit is set and cleared under mu together with open and drained: under mu, writerBit
//     set means open is the current writer's and not closed, and state == writerBit means no
//     reader is inside that writer's gate (the reader that sees it closes drained, once).
//   - A reader that finds writerBit set waits on open (closed when that writer leaves) or its
//     context: a write that cannot start by its deadline fails with its context's error and is
//     sent nowhere. Writers queue on wmu (one token), also under their context.
type phaseGate struct {
	state atomic.Int64
	wmu   chan struct{} // holds a token while a writer owns (or waits for) the gate

	mu            sync.Mutex
	open          chan struct{} // closed when the current writer leaves
	drained       chan struct{} // closed when no reader is inside the current writer's gate
	drainedClosed bool
}

const writerBit = int64(1) << 62

func newPhaseGate() *phaseGate { return &phaseGate{wmu: make(chan struct{}, 1)} }

// rlock enters as a reader, or returns ctx's error if a writer holds the gate until ctx ends.
func (g *phaseGate) rlock(ctx context.Context) error {
	for {
		st := g.state.Load()
		if st&writerBit == 0 {
			if g.state.CompareAndSwap(st, st+1) {
				return nil
			}
			continue
		}
		g.mu.Lock()
		if g.state.Load()&writerBit == 0 {
			g.mu.Unlock()
			continue
		}
		open := g.open
		g.mu.Unlock()
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runlock leaves as a reader.
func (g *phaseGate) runlock() {
	if st := g.state.Add(-1); st == writerBit {
		g.mu.Lock()
		if g.state.Load() == writerBit && !g.drainedClosed {
			close(g.drained)
			g.drainedClosed = true
		}
		g.mu.Unlock()
	}
}

// lock takes the gate as the writer: new readers wait, and it returns once the readers inside
// have left, or with ctx's error (the gate then reopens).
func (g *phaseGate) lock(ctx context.Context) error {
	select {
	case g.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.open, g.drained, g.drainedClosed = make(chan struct{}), make(chan struct{}), false
	drained := g.drained
	st := g.state.Add(writerBit)
	g.mu.Unlock()
	if st == writerBit {
		return nil // no reader inside
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		g.unlock()
		return ctx.Err()
	}
}

// unlock releases the writer's hold: waiting readers enter.
func (g *phaseGate) unlock() {
	g.mu.Lock()
	g.state.Add(-writerBit)
	close(g.open)
	g.mu.Unlock()
	<-g.wmu
}
