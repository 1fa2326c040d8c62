package cachesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The model-based test of cachesync's consistency rules. Two or three regions, each with its own
// memcached (in memory), database replica, client and agent, run a random interleaving of:
// application writes (set/delete: database first, then the cache through the Client), cache-aside
// fills whose database read sees a lagging replica, deliveries of events (duplicated, reordered,
// delayed past the tombstone lifetime), the delayed second invalidation, replication of database
// writes between regions, memcached evictions, and time passing on clocks skewed per region.
// After quiescence (every fill finished, every write replicated, every event delivered) every
// region's cache must hold the database's newest value of each key, or nothing.
//
// The only timing assumption is the one the second invalidation rests on: a region's database
// replica has a write before that write's second invalidation reaches the region.

const (
	modelSecondDelay = 10 * time.Second // SecondInvalidation
	modelTombstone   = 4 * time.Second  // TombstoneTTL: below SecondDelay - 2*maxSkew (see the package doc)
	modelMaxSkew     = time.Second
)

var modelKeys = []string{"p:1", "p:2", "i:1", "i:2"} // p: replicate, i: invalidate
var modelRules = Rules{Default: Invalidate, Rules: []Rule{{Prefix: "p:", Mode: Replicate}}}

type dbWrite struct {
	key     string
	value   string
	deleted bool
	version Version
}

type mRegion struct {
	i      int
	name   string
	skew   time.Duration
	w      *world
	mc     *fakeMemcache
	client *Client
	agent  *Agent
}

func (r *mRegion) now() time.Time { return r.w.now.Add(r.skew) }

type inFlight struct {
	to        int
	ev        Event
	notBefore time.Time
	needs     int // a write that the target replica must hold first (second invalidations), or -1
}

type fill struct {
	r     *mRegion
	key   string
	read  bool
	value string
	found bool
	tok   any
}

type world struct {
	t        *testing.T
	rnd      *rand.Rand
	now      time.Time
	regions  []*mRegion
	writes   []dbWrite
	visible  []map[int]bool // per region, the writes its replica holds
	flight   []*inFlight
	fills    []*fill
	history  []string
	curWrite int
	from     int
}

func (w *world) logf(format string, args ...any) {
	w.history = append(w.history, fmt.Sprintf("%8.3fs ", w.now.Sub(time.Unix(1_700_000_000, 0)).Seconds())+fmt.Sprintf(format, args...))
}

// sink receives a region's published events and puts them in flight to every other region.
type sink struct{ r *mRegion }

func (s sink) Publish(ctx context.Context, ev *Event) error {
	w := s.r.w
	for _, o := range w.regions {
		if o != s.r {
			w.flight = append(w.flight, &inFlight{to: o.i, ev: *ev, needs: -1})
		}
		// The second event goes to every region, the origin's own queue included
		// (PublisherOptions.OwnQueue): there too an eviction can let an older event in.
		if sec := modelSecond(ev, s.r); sec != nil {
			w.flight = append(w.flight, &inFlight{to: o.i, ev: *sec, needs: w.curWrite, notBefore: w.now.Add(modelSecondDelay)})
		}
	}
	w.logf("%s publishes %s %s v=%d", s.r.name, ev.Op, ev.Key, ev.Version.Micros%1e8)
	return nil
}

func newWorld(t *testing.T, seed uint64) *world {
	rnd := rand.New(rand.NewPCG(seed, 0x13))
	w := &world{t: t, rnd: rnd, now: time.Unix(1_700_000_000, 0)}
	n := 2 + rnd.IntN(2)
	for i := 0; i < n; i++ {
		r := &mRegion{i: i, name: fmt.Sprintf("r%d", i), w: w, skew: time.Duration(rnd.Int64N(int64(2*modelMaxSkew))) - modelMaxSkew}
		r.mc = newFakeMemcache(r.now)
		r.client, r.agent = newModelNodes(t, r)
		w.regions = append(w.regions, r)
		w.visible = append(w.visible, map[int]bool{})
	}
	return w
}

// newest returns the database's newest write of key among those visible (all when vis is nil).
func (w *world) newest(key string, vis map[int]bool) (dbWrite, bool) {
	var best dbWrite
	found := false
	for i, d := range w.writes {
		if d.key != key || (vis != nil && !vis[i]) {
			continue
		}
		if !found || best.version.Less(d.version) {
			best, found = d, true
		}
	}
	return best, found
}

func (w *world) step() {
	ctx := context.Background()
	r := w.regions[w.rnd.IntN(len(w.regions))]
	key := modelKeys[w.rnd.IntN(len(modelKeys))]
	switch op := w.rnd.IntN(100); {
	case op < 15: // application write
		del := w.rnd.IntN(4) == 0
		val := fmt.Sprintf("%s@%s#%d", key, r.name, len(w.writes))
		w.curWrite = len(w.writes)
		v, err := modelWrite(ctx, r, key, val, del)
		w.logf("%s writes %s=%q del=%v v=%d: %v", r.name, key, val, del, v.Micros%1e8, err)
	case op < 30: // a reader misses and begins a fill
		if _, err := r.client.Get(ctx, key); errors.Is(err, memcache.ErrCacheMiss) {
			f := &fill{r: r, key: key}
			f.tok = modelBeginFill(ctx, r, key)
			w.fills = append(w.fills, f)
			w.logf("%s begins fill of %s", r.name, key)
		}
	case op < 40: // a fill reads its (maybe lagging) replica
		w.fillRead()
	case op < 50: // a fill stores what it read
		w.fillEnd()
	case op < 72: // an event is delivered (sometimes duplicated)
		w.deliver(w.rnd.IntN(5) != 0)
	case op < 82: // the database replicates a write to a region
		w.replicate()
	case op < 88: // memcached evicts
		r.mc.evict(key)
		w.logf("%s evicts %s", r.name, key)
	case op < 97:
		w.now = w.now.Add(time.Duration(w.rnd.IntN(300)) * time.Millisecond)
	default:
		w.now = w.now.Add(time.Duration(w.rnd.IntN(20)) * time.Second)
		w.logf("time jumps")
	}
}

func (w *world) fillRead() {
	for _, i := range w.rnd.Perm(len(w.fills)) {
		f := w.fills[i]
		if f.read {
			continue
		}
		d, ok := w.newest(f.key, w.visible[f.r.i])
		f.read, f.found, f.value = true, ok && !d.deleted, d.value
		w.logf("%s fill of %s reads %q (found %v)", f.r.name, f.key, f.value, f.found)
		return
	}
}

func (w *world) fillEnd() {
	for _, i := range w.rnd.Perm(len(w.fills)) {
		f := w.fills[i]
		if !f.read {
			continue
		}
		w.fills = append(w.fills[:i], w.fills[i+1:]...)
		if f.found {
			err := modelFill(context.Background(), f.r, f.key, f.value, f.tok)
			w.logf("%s fills %s=%q: %v", f.r.name, f.key, f.value, err)
		}
		return
	}
}

func (w *world) deliver(remove bool) bool {
	for _, i := range w.rnd.Perm(len(w.flight)) {
		e := w.flight[i]
		if w.now.Before(e.notBefore) || (e.needs >= 0 && !w.visible[e.to][e.needs]) {
			continue
		}
		if remove {
			w.flight = append(w.flight[:i], w.flight[i+1:]...)
		}
		r := w.regions[e.to]
		ev := e.ev
		applied, err := modelApply(r, &ev)
		w.logf("%s applies %s %s v=%d: applied=%v err=%v", r.name, ev.Op, ev.Key, ev.Version.Micros%1e8, applied, err)
		if err != nil && remove {
			w.flight = append(w.flight, e) // comes back, as SQS would
		}
		return true
	}
	return false
}

func (w *world) replicate() bool {
	for _, ri := range w.rnd.Perm(len(w.regions)) {
		for _, i := range w.rnd.Perm(len(w.writes)) {
			if !w.visible[ri][i] {
				w.visible[ri][i] = true
				w.logf("%s replica gets write #%d (%s)", w.regions[ri].name, i, w.writes[i].key)
				return true
			}
		}
	}
	return false
}

// quiesce finishes everything in flight, in random order.
func (w *world) quiesce() {
	for guard := 0; guard < 100000; guard++ {
		switch w.rnd.IntN(4) {
		case 0:
			w.fillRead()
			continue
		case 1:
			w.fillEnd()
			continue
		case 2:
			w.replicate()
			continue
		}
		if w.deliver(true) {
			continue
		}
		if len(w.fills) == 0 && len(w.flight) == 0 && !w.replicate() {
			return
		}
		w.now = w.now.Add(time.Second)
	}
	w.t.Fatal("model did not quiesce")
}

// check returns the first region and key whose cache holds something other than the database's
// newest value.
func (w *world) check() error {
	for _, r := range w.regions {
		for _, key := range modelKeys {
			it, err := r.client.Get(context.Background(), key)
			if errors.Is(err, memcache.ErrCacheMiss) {
				continue
			}
			d, ok := w.newest(key, nil)
			if err != nil {
				return fmt.Errorf("%s: get %s: %v", r.name, key, err)
			}
			if !ok || d.deleted || string(it.Value) != d.value {
				return fmt.Errorf("%s holds %s=%q (v=%d) but the database's newest is %q (deleted %v, v=%d)",
					r.name, key, it.Value, it.Version.Micros%1e8, d.value, d.deleted, d.version.Micros%1e8)
			}
		}
	}
	return nil
}

func runModel(t *testing.T, seed uint64, steps int) error {
	w := newWorld(t, seed)
	for i := 0; i < steps; i++ {
		w.step()
	}
	w.quiesce()
	if err := w.check(); err != nil {
		tail := w.history
		if len(tail) > 60 {
			tail = tail[len(tail)-60:]
		}
		return fmt.Errorf("seed %d: %v\nlast steps:\n%s", seed, err, strings.Join(tail, "\n"))
	}
	return nil
}

// TestModelRegressionSeeds replays the seeds that found violations in earlier code.
func TestModelRegressionSeeds(t *testing.T) {
	for _, seed := range modelRegressionSeeds {
		if err := runModel(t, seed, 200); err != nil {
			t.Fatal(err)
		}
	}
}

// TestModelRandom runs many random interleavings.
func TestModelRandom(t *testing.T) {
	n := uint64(3000)
	if testing.Short() {
		n = 300
	}
	for seed := uint64(1); seed <= n; seed++ {
		if err := runModel(t, seed, 200); err != nil {
			t.Fatal(err)
		}
	}
}

var discard = slog.New(slog.DiscardHandler)
