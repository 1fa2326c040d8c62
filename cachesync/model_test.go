package cachesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The model-based test of cachesync's consistency rules. Two or three regions, each with its own
// memcached (fakeMemcache: memcached's one-second clock, item size limit, cas semantics,
// timeouts), database replica, client and agent, run a random interleaving of:
//   - application writes through the Client: Set (with or without an expiry, relative, absolute
//     or already past; now and then a value over memcached's item size; now and then memcached
//     timing out), DeleteAt, Add, CompareAndSwap, Touch, Increment — the database written at the
//     same version (for Add, CompareAndSwap and Increment, once the cache took the write);
//   - reads: Get and GetMulti (they must agree);
//   - cache-aside fills whose database read sees a lagging replica;
//   - deliveries of events through the JSON envelope (keys that are not UTF-8 among them):
//     duplicated, reordered, delayed past the tombstone lifetime, delayed much longer (the
//     publisher's spill after an outage), sent again (ResendWindow); Publish now and then fails;
//   - the delayed second event, at a random delay the doc allows (at least TombstoneTTL + 2 ×
//     MaxClockSkew: modelSecondDelay), sometimes late, sometimes missing;
//   - replication of database writes between regions, memcached evictions, time passing on
//     clocks skewed per region, stepped within ±2 s and now and then up to MaxDrift ahead (so
//     past MaxDrift from the regions behind: "far ahead" events).
//
// After every step, in every region, for every key: the cache never holds a value older than
// a version it held before (a value or a tombstone), unless memcached evicted the key in
// between — "never older over newer". After quiescence (every fill finished, every write
// replicated, every event delivered) every region's cache holds the database's newest live
// value of each key, or nothing (keys whose second event went missing excepted: the second
// event is what heals an eviction or a lagging fill).
//
// The only timing assumptions are the ones the second event rests on (the doc's): a region's
// database replica has a write before that write's second event reaches the region, and the
// second event is delayed at least TombstoneTTL + 2 × MaxClockSkew (CheckSecondInvalidation).

const (
	modelTombstone = 4 * time.Second // TombstoneTTL
	modelMaxSkew   = 2 * time.Second
	modelMaxDrift  = 5 * time.Second // MaxDrift of the clients and agents: a step to +10 s passes it
	// modelSecondDelay is the least delay of a second event: the doc's own rule for it,
	// SecondInvalidation ≥ TombstoneTTL + 2 × MaxClockSkew (CheckSecondInvalidation, checked in
	// newWorld), rounded up as SQS delays it. The model never draws a delay the doc forbids
	// (it drew 1..12 s, and seed 9020964 failed on a 3.4 s second event: below the rule, an
	// eviction of a tombstone lets an older duplicate set back in before the second event, as the
	// doc says it may); "late" second events come on top of it.
	modelSecondDelay = 8 * time.Second
)

// p: replicate, i: invalidate, n: a counter (invalidate); two keys are not UTF-8.
var modelKeys = []string{"p:1", "p:2", "p:\xff", "i:1", "i:\xfe\x80", "n:1"}
var modelRules = Rules{Default: Invalidate, Rules: []Rule{{Prefix: "p:", Mode: Replicate}}}

type dbWrite struct {
	key     string
	value   string
	deleted bool
	expires int64 // unix s, 0 = never
	version Version
}

// liveAt reports whether the write is a live value at t.
func (d dbWrite) liveAt(t time.Time) bool {
	return !d.deleted && (d.expires == 0 || t.Unix() < d.expires)
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
	body      string // the event as the queue carries it
	notBefore time.Time
	needs     int // a write that the target replica must hold first (second events), or -1
}

type fill struct {
	r       *mRegion
	key     string
	read    bool
	value   string
	expires int64
	found   bool
	tok     any
}

type world struct {
	t         *testing.T
	rnd       *rand.Rand
	now       time.Time
	regions   []*mRegion
	writes    []dbWrite
	visible   []map[int]bool // per region, the writes its replica holds
	flight    []*inFlight
	fills     []*fill
	history   []string
	curWrite  int
	unguarded map[string]bool      // keys whose second event went missing
	held      []map[string]Version // per region and key: the newest version its cache held
	failure   error                // the first "older over newer" seen
}

func (w *world) logf(format string, args ...any) {
	w.history = append(w.history, fmt.Sprintf("%8.3fs ", w.now.Sub(time.Unix(1_700_000_000, 0)).Seconds())+fmt.Sprintf(format, args...))
}

// sink receives a region's published events and puts them in flight to every other region, as
// the Publisher and SQS would: encoded, sometimes much later (spilled during an outage), sometimes
// twice (ResendWindow); and now and then Publish fails although the event was spilled.
type sink struct{ r *mRegion }

func (s sink) Publish(ctx context.Context, ev *Event) error {
	w := s.r.w
	body, err := ev.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, o := range w.regions {
		if o != s.r {
			f := &inFlight{to: o.i, body: string(body), needs: -1}
			if w.rnd.IntN(20) == 0 { // spilled during an outage, sent when SQS is back
				f.notBefore = w.now.Add(time.Duration(w.rnd.IntN(30)) * time.Second)
			}
			w.flight = append(w.flight, f)
			if w.rnd.IntN(20) == 0 { // sent again after an outage (ResendWindow)
				w.flight = append(w.flight, &inFlight{to: o.i, body: string(body), needs: -1, notBefore: w.now.Add(time.Duration(10+w.rnd.IntN(10)) * time.Second)})
			}
		}
		// The second event goes to every region, the origin's own queue included
		// (PublisherOptions.OwnQueue): there too an eviction can let an older event in.
		if sec := modelSecond(ev, s.r); sec != nil {
			if w.rnd.IntN(40) == 0 {
				w.unguarded[ev.Key] = true
				w.logf("second event of %s v=%d to r%d goes missing", ev.Key, ev.Version.Micros%1e8, o.i)
				continue
			}
			b, err := sec.Marshal()
			if err != nil {
				w.t.Fatal(err)
			}
			// SQS delivers a delayed message at its delay or later, never earlier: the least
			// delay the doc allows (modelSecondDelay), plus a queue's latency.
			delay := modelSecondDelay + time.Duration(w.rnd.IntN(5))*time.Second
			if w.rnd.IntN(10) == 0 {
				delay += time.Duration(w.rnd.IntN(20)) * time.Second // late
			}
			needs := w.curWrite
			if ev.Op == OpTouch {
				needs = -1 // a touch's second event: a cache-only change, no database write to wait for
			}
			w.flight = append(w.flight, &inFlight{to: o.i, body: string(b), needs: needs, notBefore: w.now.Add(delay)})
		}
	}
	w.logf("%s publishes %s %q v=%d", s.r.name, ev.Op, ev.Key, ev.Version.Micros%1e8)
	if w.rnd.IntN(30) == 0 {
		return errModelPublish
	}
	return nil
}

// errModelPublish: Publish failed, but the event was spilled and goes out all the same.
var errModelPublish = errors.New("model: publish failed (the event was spilled all the same)")

// published reports whether a write's error is only the sink's: the write was made.
func published(err error) bool { return err == nil || errors.Is(err, errModelPublish) }

func newWorld(t *testing.T, seed uint64) *world {
	rnd := rand.New(rand.NewPCG(seed, 0x13))
	w := &world{t: t, rnd: rnd, now: time.Unix(1_700_000_000, 0), unguarded: map[string]bool{}}
	if err := CheckSecondInvalidation(modelSecondDelay, modelTombstone, modelMaxSkew); err != nil {
		t.Fatalf("the model's second events must be delayed as the doc allows: %v", err)
	}
	n := 2 + rnd.IntN(2)
	for i := 0; i < n; i++ {
		r := &mRegion{i: i, name: fmt.Sprintf("r%d", i), w: w, skew: time.Duration(rnd.Int64N(int64(2*modelMaxSkew))) - modelMaxSkew}
		r.mc = newFakeMemcacheMono(r.now, func() time.Time { return w.now })
		r.client, r.agent = newModelNodes(t, r)
		w.regions = append(w.regions, r)
		w.visible = append(w.visible, map[int]bool{})
		w.held = append(w.held, map[string]Version{})
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

// byVersion returns the database write of key at v.
func (w *world) byVersion(key string, v Version) (int, bool) {
	for i, d := range w.writes {
		if d.key == key && d.version == v {
			return i, true
		}
	}
	return 0, false
}

// raw returns what region r's memcached holds for key, as cachesync reads it now.
func (r *mRegion) raw(key string) (Stored, bool) {
	r.mc.mu.Lock()
	it := r.mc.live(key)
	var b []byte
	var flags uint32
	if it != nil {
		b, flags = it.value, it.flags
	}
	r.mc.mu.Unlock()
	if it == nil {
		return Stored{}, false
	}
	s, err := DecodeItem(&memcache.Item{Value: b, Flags: flags})
	if err != nil {
		return Stored{}, false
	}
	return s.At(r.now()), true
}

// checkStep is "never older over newer", checked after every step.
func (w *world) checkStep(what string) {
	if w.failure != nil {
		return
	}
	for _, r := range w.regions {
		for _, key := range modelKeys {
			s, ok := r.raw(key)
			if !ok || s.Kind == KindFill || s.Version.IsZero() {
				continue
			}
			h := w.held[r.i][key]
			if s.Kind == KindValue && s.Version.Less(h) {
				w.failure = fmt.Errorf("after %s: %s holds %q=%q at v=%d, older than v=%d it held before (no eviction since)",
					what, r.name, key, s.Value, s.Version.Micros%1e8, h.Micros%1e8)
				return
			}
			if h.Less(s.Version) {
				w.held[r.i][key] = s.Version
			}
		}
	}
}

func (w *world) step() {
	ctx := context.Background()
	r := w.regions[w.rnd.IntN(len(w.regions))]
	key := modelKeys[w.rnd.IntN(len(modelKeys))]
	switch op := w.rnd.IntN(100); {
	case op < 18: // application write
		w.write(ctx, r, key)
	case op < 22: // reads: Get and GetMulti agree
		one := map[string]string{}
		for _, k := range modelKeys {
			if it, err := r.client.Get(ctx, k); err == nil {
				one[k] = string(it.Value)
			}
		}
		many, err := r.client.GetMulti(ctx, modelKeys)
		if err != nil {
			w.t.Fatal(err)
		}
		for k, it := range many {
			if one[k] != string(it.Value) {
				w.failure = fmt.Errorf("%s: GetMulti gives %q=%q, Get %q", r.name, k, it.Value, one[k])
			}
		}
		if len(many) != len(one) {
			w.failure = fmt.Errorf("%s: GetMulti found %d keys, Get %d", r.name, len(many), len(one))
		}
	case op < 33: // a reader misses and begins a fill
		if _, err := r.client.Get(ctx, key); errors.Is(err, memcache.ErrCacheMiss) {
			f := &fill{r: r, key: key}
			f.tok = modelBeginFill(ctx, r, key)
			w.fills = append(w.fills, f)
			w.logf("%s begins fill of %q", r.name, key)
		}
	case op < 41: // a fill reads its (maybe lagging) replica
		w.fillRead()
	case op < 49: // a fill stores what it read
		w.fillEnd()
	case op < 71: // an event is delivered (sometimes duplicated)
		w.deliver(w.rnd.IntN(5) != 0)
	case op < 81: // the database replicates a write to a region
		w.replicate()
	case op < 87: // memcached evicts
		r.mc.evict(key)
		w.held[r.i][key] = Version{}
		w.logf("%s evicts %q", r.name, key)
	case op < 94:
		w.now = w.now.Add(time.Duration(w.rnd.IntN(300)) * time.Millisecond)
	case op < 96: // the region's wall clock is stepped, backwards or forwards, within the skew bound
		r.skew = time.Duration(w.rnd.Int64N(int64(2*modelMaxSkew))) - modelMaxSkew
		w.logf("%s clock stepped to skew %s", r.name, r.skew)
	case op < 97 && w.rnd.IntN(3) == 0: // or far ahead: up to MaxDrift, so past it for the regions behind
		r.skew = modelMaxDrift - time.Duration(w.rnd.IntN(1000))*time.Millisecond
		w.logf("%s clock stepped far ahead, skew %s", r.name, r.skew)
	default:
		w.now = w.now.Add(time.Duration(w.rnd.IntN(20)) * time.Second)
		w.logf("time jumps")
	}
}

// modelExpiration draws an item expiration as applications give them.
func (w *world) modelExpiration(r *mRegion) int32 {
	switch x := w.rnd.IntN(100); {
	case x < 65:
		return 0
	case x < 80:
		return int32(1 + w.rnd.IntN(3))
	case x < 84:
		return -1
	case x < 90:
		return int32(r.now().Unix() + 2) // absolute
	default:
		return 30
	}
}

func (w *world) write(ctx context.Context, r *mRegion, key string) {
	if w.rnd.IntN(30) == 0 {
		r.mc.fail(1) // memcached times out on the write's first call
		w.logf("%s memcached times out once", r.name)
		defer r.mc.fail(0)
	}
	val := fmt.Sprintf("%s@%s#%d", key, r.name, len(w.writes))
	if strings.HasPrefix(key, "n:") {
		val = strconv.Itoa(w.rnd.IntN(100))
	}
	w.curWrite = len(w.writes)
	exp := w.modelExpiration(r)
	switch x := w.rnd.IntN(100); {
	case x < 45 || (x < 50 && key[0] == 'n'): // Set (now and then larger than memcached takes)
		if w.rnd.IntN(50) == 0 {
			val += string(bytes.Repeat([]byte("x"), 1<<20))
		}
		v, err := modelWrite(ctx, r, key, val, false, exp)
		w.logf("%s sets %q (%d bytes) exp=%d v=%d: %v", r.name, key, len(val), exp, v.Micros%1e8, err)
	case x < 60: // DeleteAt
		v, err := modelWrite(ctx, r, key, "", true, 0)
		w.logf("%s deletes %q v=%d: %v", r.name, key, v.Micros%1e8, err)
	case x < 70: // Add: the database is written if the cache took it
		v, err := r.client.Add(ctx, &Item{Key: key, Value: []byte(val), Expiration: exp})
		if published(err) || !definite(errors.Unwrap(err)) && !errors.Is(err, memcache.ErrNotStored) {
			w.dbWrite(r, dbWrite{key: key, value: val, version: v, expires: absExpiry(exp, r.now())})
		}
		w.logf("%s adds %q exp=%d v=%d: %v", r.name, key, exp, v.Micros%1e8, err)
	case x < 80: // CompareAndSwap after a Get
		it, err := r.client.Get(ctx, key)
		if err != nil {
			return
		}
		it.Value, it.Expiration = []byte(val), 0
		v, err := r.client.CompareAndSwap(ctx, it)
		if published(err) || (!errors.Is(err, memcache.ErrCASConflict) && !errors.Is(err, memcache.ErrCacheMiss) && !errors.Is(err, memcache.ErrNotStored)) {
			w.dbWrite(r, dbWrite{key: key, value: val, version: v})
		}
		w.logf("%s cas %q v=%d: %v", r.name, key, v.Micros%1e8, err)
	case x < 90: // Touch: a cache-only expiry (memcached's touch; the database has none to change)
		// given to a value without one, so that a region where it never applies (the touch
		// reordered before its value) holds it longer, never past the database's expiry.
		s, ok := r.raw(key)
		if !ok || s.Kind == KindTombstone {
			return
		}
		if i, ok := w.byVersion(key, s.Version); s.Kind == KindValue && (!ok || w.writes[i].expires != 0) {
			return
		}
		if s.Kind == KindFill && s.Expires != 0 {
			return
		}
		secs := []int32{2, 30}[w.rnd.IntN(2)]
		err := r.client.Touch(ctx, key, secs)
		w.logf("%s touches %q kind=%d v=%d secs=%d: %v", r.name, key, s.Kind, s.Version.Micros%1e8, secs, err)
	default: // Increment a counter: the database gets the new count at the cache's version
		if key[0] != 'n' {
			return
		}
		before, ok := r.raw(key)
		if !ok || before.Kind == KindTombstone {
			return
		}
		n, err := r.client.Increment(ctx, key, 1)
		if published(err) {
			after, _ := r.raw(key)
			w.dbWrite(r, dbWrite{key: key, value: strconv.FormatUint(n, 10), version: after.Version, expires: before.Expires})
		}
		w.logf("%s increments %q to %d: %v", r.name, key, n, err)
	}
}

func (w *world) dbWrite(r *mRegion, d dbWrite) {
	w.writes = append(w.writes, d)
	w.visible[r.i][len(w.writes)-1] = true
}

func (w *world) fillRead() {
	for _, i := range w.rnd.Perm(len(w.fills)) {
		f := w.fills[i]
		if f.read {
			continue
		}
		d, ok := w.newest(f.key, w.visible[f.r.i])
		f.read, f.found, f.value, f.expires = true, ok && d.liveAt(f.r.now()), d.value, d.expires
		w.logf("%s fill of %q reads %q (found %v)", f.r.name, f.key, f.value, f.found)
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
			err := modelFill(context.Background(), f.r, f.key, f.value, f.expires, f.tok)
			w.logf("%s fills %q=%q: %v", f.r.name, f.key, f.value, err)
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
		ev, err := ParseEvent(e.body)
		if err != nil {
			w.failure = fmt.Errorf("%s: an event the client sent is poison: %v: %s", r.name, err, e.body)
			return true
		}
		applied, err := modelApply(r, ev)
		w.logf("%s applies %s %q v=%d: applied=%v err=%v", r.name, ev.Op, ev.Key, ev.Version.Micros%1e8, applied, err)
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
				w.logf("%s replica gets write #%d (%q)", w.regions[ri].name, i, w.writes[i].key)
				return true
			}
		}
	}
	return false
}

// quiesce finishes everything in flight, in random order, checking every step.
func (w *world) quiesce() {
	for guard := 0; guard < 100000; guard++ {
		switch w.rnd.IntN(4) {
		case 0:
			w.fillRead()
			w.checkStep("a fill's read")
			continue
		case 1:
			w.fillEnd()
			w.checkStep("a fill")
			continue
		case 2:
			w.replicate()
			continue
		}
		if w.deliver(true) {
			w.checkStep("a delivery")
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
// newest live value.
func (w *world) check() error {
	for _, r := range w.regions {
		for _, key := range modelKeys {
			if w.unguarded[key] {
				continue
			}
			it, err := r.client.Get(context.Background(), key)
			if errors.Is(err, memcache.ErrCacheMiss) {
				continue
			}
			d, ok := w.newest(key, nil)
			if err != nil {
				return fmt.Errorf("%s: get %q: %v", r.name, key, err)
			}
			if !ok || !d.liveAt(r.now()) || string(it.Value) != d.value {
				return fmt.Errorf("%s holds %q=%.40q (v=%d) but the database's newest is %.40q (deleted %v, expires %d, v=%d)",
					r.name, key, it.Value, it.Version.Micros%1e8, d.value, d.deleted, d.expires, d.version.Micros%1e8)
			}
		}
	}
	return nil
}

func runModel(t *testing.T, seed uint64, steps int) error {
	w := newWorld(t, seed)
	fail := func(err error) error {
		tail := w.history
		if len(tail) > 60 {
			tail = tail[len(tail)-60:]
		}
		return fmt.Errorf("seed %d: %v\nlast steps:\n%s", seed, err, strings.Join(tail, "\n"))
	}
	for i := 0; i < steps && w.failure == nil; i++ {
		w.step()
		w.checkStep("a step")
	}
	if w.failure == nil {
		for _, r := range w.regions { // clocks back within the skew bound
			r.skew = time.Duration(w.rnd.Int64N(int64(2*modelMaxSkew))) - modelMaxSkew
		}
		w.quiesce()
	}
	if w.failure != nil {
		return fail(w.failure)
	}
	// Past every expiry the caches' clocks (skew, memcached's tick) may still see as ahead.
	w.now = w.now.Add(2*modelMaxSkew + 2*time.Second)
	if err := w.check(); err != nil {
		return fail(err)
	}
	return nil
}

// TestModelRegressionSeeds replays the seeds that found violations in earlier code.
func TestModelRegressionSeeds(t *testing.T) {
	for _, seed := range modelRegressionSeeds {
		for _, steps := range []int{200, 300} {
			if err := runModel(t, seed, steps); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestModelRandom runs many random interleavings: 1 000 seeds (300 with -short; more with
// CACHESYNC_MODEL_SEEDS=N).
func TestModelRandom(t *testing.T) {
	n := uint64(1000)
	if testing.Short() {
		n = 300
	}
	if v, err := strconv.ParseUint(os.Getenv("CACHESYNC_MODEL_SEEDS"), 10, 64); err == nil && v > 0 {
		n = v
	}
	first := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("CACHESYNC_MODEL_FIRST"), 10, 64); err == nil && v > 0 {
		first = v
	}
	for seed := first; seed < first+n; seed++ {
		if err := runModel(t, seed, 200); err != nil {
			t.Fatal(err)
		}
	}
}

var discard = slog.New(slog.DiscardHandler)
