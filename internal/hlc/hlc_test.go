package hlc

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fakeWall is a wall clock the test steps at will, backwards and forwards.
type fakeWall struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeWall) now() time.Time       { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeWall) step(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }

// TestClockProperties drives random interleavings of Now, Observe and wall-clock steps
// (backwards and forwards, small and huge) and checks every invariant of the package doc.
func TestClockProperties(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		w := &fakeWall{t: time.Unix(1_700_000_000, 0)}
		drift := time.Duration(1+r.IntN(5000)) * time.Millisecond
		c := New(w.now, drift)
		var last int64 // greatest timestamp issued or accepted
		sinceMove := int64(0)
		prevPhys := w.now().UnixMicro()
		for i := 0; i < 400; i++ {
			switch r.IntN(6) {
			case 0: // small step forward
				w.step(time.Duration(r.IntN(2000)) * time.Microsecond)
			case 1: // step backwards, up to twice the drift
				w.step(-time.Duration(r.Int64N(int64(2 * drift))))
			case 2: // huge step forward, now and then
				if r.IntN(10) == 0 {
					w.step(time.Duration(r.Int64N(int64(10 * drift))))
				}
			case 3: // observe a timestamp near or far from the wall clock
				phys := w.now().UnixMicro()
				ts := phys + r.Int64N(3*drift.Microseconds()) - drift.Microseconds()
				err := c.Observe(ts)
				if ts-phys > drift.Microseconds() {
					if !errors.Is(err, ErrTooFarAhead) {
						t.Fatalf("seed %d: Observe(%d) %d µs ahead: want ErrTooFarAhead, got %v", seed, ts, ts-phys, err)
					}
					if c.Last() != last {
						t.Fatalf("seed %d: a refused Observe moved the clock", seed)
					}
					continue
				}
				if err != nil {
					t.Fatalf("seed %d: Observe within drift: %v", seed, err)
				}
				if c.Now() <= ts {
					t.Fatalf("seed %d: Now after Observe(%d) is not greater", seed, ts)
				}
				last = c.Last()
				continue
			}
			phys := w.now().UnixMicro()
			if phys > prevPhys {
				sinceMove = 0
			}
			prevPhys = max(prevPhys, phys)
			n := c.Now()
			sinceMove++
			if n <= last {
				t.Fatalf("seed %d step %d: Now %d not after %d", seed, i, n, last)
			}
			// Bounded drift: ahead of the physical clock by at most MaxDrift (from observed
			// timestamps) plus the ticks borrowed since the clock last moved, plus any backwards step.
			if ahead := n - phys; ahead > drift.Microseconds()+sinceMove+(prevPhys-phys) {
				t.Fatalf("seed %d step %d: %d µs ahead of the physical clock (drift %s, %d ticks)", seed, i, ahead, drift, sinceMove)
			}
			last = n
		}
	}
}

func TestWallClockSteps(t *testing.T) {
	w := &fakeWall{t: time.Unix(1_700_000_000, 0)}
	c := New(w.now, time.Second)
	a := c.Now()
	w.step(-time.Hour)
	b := c.Now()
	if b != a+1 || c.Stats().Backwards != 1 {
		t.Fatalf("backwards step: %d after %d, stats %+v", b, a, c.Stats())
	}
	w.step(2 * time.Hour)
	d := c.Now()
	if d != w.now().UnixMicro() || c.Stats().Forwards != 1 {
		t.Fatalf("forward step: %d, wall %d, stats %+v", d, w.now().UnixMicro(), c.Stats())
	}
}

func TestConcurrentNowIsUnique(t *testing.T) {
	c := New(nil, 0)
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				n := c.Now()
				mu.Lock()
				if seen[n] {
					t.Errorf("timestamp %d issued twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// An idle gap longer than MaxDrift (no Now call for a while, the wall clock running as usual) is
// not a forward step of the wall clock: only a wall clock that moves more than the monotonic
// clock by MaxDrift is.
func TestIdleGapIsNotAForwardStep(t *testing.T) {
	base := time.Now() // carries a monotonic reading; Add moves both, as time passing does
	at := base
	c := New(func() time.Time { return at }, time.Second)
	c.Now()
	at = base.Add(time.Hour)
	c.Now()
	if got := c.Stats().Forwards; got != 0 {
		t.Fatalf("an idle hour was counted as %d forward steps", got)
	}
}
