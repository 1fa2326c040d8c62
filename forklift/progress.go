package forklift

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Progress is a snapshot of a run (or verify) for a caller to draw: totals over every table.
type Progress struct {
	Phase       string        `json:"phase"` // "run", "verify", "repair"
	Rows        int64         `json:"rows"`
	RowsPerSec  float64       `json:"rows_per_sec"` // over the last interval
	RangesDone  int           `json:"ranges_done"`
	RangesTotal int           `json:"ranges_total"`
	Fraction    float64       `json:"fraction"` // of the token space of this shard's ranges, 0..1
	Elapsed     time.Duration `json:"elapsed"`
	ETA         time.Duration `json:"eta"` // 0 when unknown
}

// tracker accumulates progress from all workers.
type tracker struct {
	phase   string
	start   time.Time
	rows    atomic.Int64
	done    atomic.Int64
	total   int
	mu      sync.Mutex
	covered map[*rangeState]float64 // fraction of each range done, weighted by its ring share
	startFr float64                 // fraction already done when a resumed run started

	lastRows int64
	lastAt   time.Time
}

type rangeState struct{ weight float64 }

func newTracker(phase string, total int) *tracker {
	now := time.Now()
	return &tracker{phase: phase, start: now, total: total, covered: map[*rangeState]float64{}, lastAt: now}
}

// ringShare is the fraction of the whole ring that r covers.
func ringShare(r TokenRange) float64 {
	return (float64(r.End) - float64(r.Start)) / math.Exp2(64)
}

// advance records that rs has been done up to token last of r.
func (t *tracker) advance(rs *rangeState, r TokenRange, last int64) {
	f := 1.0
	if last < r.End {
		f = (float64(last) - float64(r.Start)) / (float64(r.End) - float64(r.Start))
	}
	t.mu.Lock()
	t.covered[rs] = f * rs.weight
	t.mu.Unlock()
}

func (t *tracker) snapshot() Progress {
	now := time.Now()
	t.mu.Lock()
	var covered, weight float64
	for rs, c := range t.covered {
		covered += c
		weight += rs.weight
	}
	rows := t.rows.Load()
	dt := now.Sub(t.lastAt).Seconds()
	var rate float64
	if dt > 0 {
		rate = float64(rows-t.lastRows) / dt
	}
	t.lastRows, t.lastAt = rows, now
	t.mu.Unlock()
	p := Progress{Phase: t.phase, Rows: rows, RowsPerSec: rate, RangesDone: int(t.done.Load()),
		RangesTotal: t.total, Elapsed: now.Sub(t.start)}
	if weight > 0 {
		p.Fraction = covered / weight
	}
	if doneNow := p.Fraction - t.startFr; doneNow > 0.001 && p.Fraction < 1 {
		p.ETA = time.Duration(float64(p.Elapsed) / doneNow * (1 - p.Fraction))
	}
	return p
}

// progressOptions say whom to tell of progress, and how often (default every second).
type progressOptions struct {
	fn    func(Progress)
	every time.Duration
}

// start calls o.fn with tr's snapshot every interval until the returned stop is called, then once
// more with the final figures.
func (o progressOptions) start(tr *tracker) (stop func()) {
	if o.fn == nil {
		return func() {}
	}
	every := o.every
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				o.fn(tr.snapshot())
				return
			case <-tick.C:
				o.fn(tr.snapshot())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
