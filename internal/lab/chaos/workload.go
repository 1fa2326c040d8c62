package chaos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/lab/world"
	"github.com/globalcloud/islands/internal/private"
)

// Control is what the campaign tells its writers while they run, through a small JSON file they
// poll (a file survives a writer's kill -9: the restarted writer starts in the same phase).
type Control struct {
	Phase string           `json:"phase"`          // dualwrite phase name
	Skew  map[string]int64 `json:"skew,omitempty"` // region -> clock offset in ms
	Stop  bool             `json:"stop,omitempty"` // stop the workload, drain, exit
}

// ReadControl reads a control file (a missing file is the zero Control).
func ReadControl(path string) (Control, error) {
	var c Control
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// WriteControl replaces the control file atomically.
func WriteControl(path string, c Control) error {
	b, _ := json.Marshal(c)
	tmp := path + ".tmp"
	if err := private.WriteFile(tmp, b); err != nil {
		return fmt.Errorf("chaos: write control: %w", err)
	}
	return os.Rename(tmp, path)
}

// WriterConfig is one region's writer process: the workload of that region.
type WriterConfig struct {
	Region       string // us-east-1 or eu-west-1
	Incarnation  int    // how many times this writer was started before (kill -9 and restart)
	Seed         uint64
	PrimaryCQL   string // the primary keyspace's cluster (us-east-1's)
	SecondaryCQL string // the secondary keyspace's cluster (eu-west-1's)
	LocalCQL     string // this region's cluster: where its cache fills read
	Keyspace     string // in both clusters
	Memcached    string // this region's memcached
	SQSEndpoint  string // the SQS server of OtherQueue, as this region reaches it (through the WAN)
	OtherQueue   string // URL of the other region's queue
	OwnQueue     string // URL of this region's queue (second events go there too)
	ReplayDir    string
	History      string
	ControlPath  string
	Rate         int // operations per second
	Keys         int // rows of kv (and cache-only keys) the workload touches
	TombstoneTTL time.Duration
	// SecondInvalidation of the writers' publishers: the campaign sets it from the schedule's
	// largest composed skew, within the library's contract (SecondInvalidationFor).
	SecondInvalidation time.Duration
	DrainTimeout       time.Duration
	Out                io.Writer // progress and errors (stderr)
}

// skewClock is the writer's clock: the machine's, plus the skew the campaign sets for its region.
// Every dualwrite timestamp and cachesync version of the writer comes from it.
type skewClock struct {
	skew atomic.Int64 // ns
	mu   sync.Mutex
	last int64
}

func (c *skewClock) now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// next returns a strictly increasing timestamp in µs, as dualwrite's own clock does.
func (c *skewClock) next() int64 {
	t := c.now().UnixMicro()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t <= c.last {
		t = c.last + 1
	}
	c.last = t
	return t
}

// writerCluster is the gocql configuration the workload runs with: the demo's (short timeouts,
// initial host lookup disabled as every loopback user of islands sets it), as the application
// role (its credentials and TLS from the ISLANDS_CQL_* variables the campaign passed down).
func writerCluster(addr, ks string) (*gocql.ClusterConfig, cqlconn.Access, error) {
	c := gocql.NewCluster(addr)
	c.Keyspace = ks
	c.Timeout = 3 * time.Second
	c.WriteTimeout = 3 * time.Second
	c.ConnectTimeout = 5 * time.Second
	c.DisableInitialHostLookup = true
	// Its region's node only, as an application's local session: a node of the two-datacenter
	// global cluster announces its peer after a pause, and gocql would then coordinate writes in
	// the other region, through the WAN.
	c.HostFilter = gocql.WhiteListHostFilter(addr)
	c.Consistency = gocql.One
	c.Logger = log.New(io.Discard, "", 0)
	a, err := cqlconn.RoleApp.Apply(c)
	return c, a, err
}

// RunWriter is the writer process: dual writes and cache operations at a steady rate until the
// control file says stop, then it waits for its replay log to drain and records the outcome.
func RunWriter(ctx context.Context, cfg WriterConfig) error {
	if cfg.Out == nil {
		cfg.Out = os.Stderr
	}
	rec, err := NewRecorder(cfg.History)
	if err != nil {
		return err
	}
	defer rec.Close()
	proc := fmt.Sprintf("writer-%s#%d", short(cfg.Region), cfg.Incarnation)
	// An access failure that retrying cannot cure (a missing grant, a wrong CA…) ends the writer
	// with its explanation: retried, it would leave the campaign judging a run that wrote nothing.
	connect := func(addr string) (*gocql.Session, error) {
		for {
			c, a, err := writerCluster(addr, cfg.Keyspace)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", proc, err)
			}
			s, err := c.CreateSession()
			if err == nil {
				return s, nil
			}
			if err = cqlconn.Explain(err, a, addr); permanent(err) {
				return nil, fmt.Errorf("%s: connect %s: %w", proc, addr, err)
			}
			fmt.Fprintf(cfg.Out, "%s: connect %s: %v (retrying)\n", proc, addr, err)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	local, err := connect(cfg.LocalCQL)
	if err != nil {
		return err
	}
	defer local.Close()

	clk := &skewClock{}
	ctl, _ := ReadControl(cfg.ControlPath)
	phase, err := dualwrite.ParsePhase(orDefault(ctl.Phase, "dual"))
	if err != nil {
		return err
	}
	clk.skew.Store(ctl.Skew[cfg.Region] * int64(time.Millisecond))
	var dw *dualwrite.Session
	for {
		// Open owns its gocql sessions and rebuilds a side whose pool emptied (issue 12). The
		// configs name the keyspace, so Open checks the role's grants there before any write.
		primary, _, err := writerCluster(cfg.PrimaryCQL, cfg.Keyspace)
		if err != nil {
			return fmt.Errorf("%s: %w", proc, err)
		}
		secondary, _, err := writerCluster(cfg.SecondaryCQL, cfg.Keyspace)
		if err != nil {
			return fmt.Errorf("%s: %w", proc, err)
		}
		dw, err = dualwrite.Open(ctx, primary, secondary,
			dualwrite.WithPhase(phase), dualwrite.WithReplayDir(cfg.ReplayDir), dualwrite.WithClock(clk.now), dualwrite.WithName(proc))
		if err == nil {
			break
		}
		if permanent(err) {
			return fmt.Errorf("%s: dualwrite.Open: %w", proc, err)
		}
		fmt.Fprintf(cfg.Out, "%s: dualwrite.Open: %v (retrying)\n", proc, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	sqsc, err := world.SQSClient(ctx, cfg.Region, cfg.SQSEndpoint)
	if err != nil {
		return err
	}
	pub, err := cachesync.NewPublisher(sqsc, []string{cfg.OtherQueue}, cachesync.PublisherOptions{
		SecondInvalidation: cmp.Or(cfg.SecondInvalidation, SecondInvalidationFor(cfg.TombstoneTTL, 3*time.Second)), // ≥ TombstoneTTL + 2 × skew, as the option asks
		SpillDir:           cfg.ReplayDir + "-spill", ResendWindow: 30 * time.Second, OwnQueue: cfg.OwnQueue})
	if err != nil {
		return err
	}
	mc := memcache.New(cfg.Memcached)
	mc.Timeout = time.Second
	cache, err := cachesync.NewClient(mc, pub, cachesync.ClientOptions{Region: cfg.Region, Rules: CacheRules,
		TombstoneTTL: cfg.TombstoneTTL, Now: clk.now})
	if err != nil {
		return err
	}

	w := &writer{cfg: cfg, rec: rec, proc: proc, dw: dw, local: local, cache: cache, clk: clk}
	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	workers := 4
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(wctx, i, workers)
		}()
	}
	// Control and stats.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastStats := time.Now()
	for stop := false; !stop; {
		select {
		case <-ctx.Done():
			stop = true
		case <-tick.C:
		}
		if c, err := ReadControl(cfg.ControlPath); err == nil {
			if p, err := dualwrite.ParsePhase(orDefault(c.Phase, "dual")); err == nil && p != dw.Phase() {
				setPhase(dw, p)
				if dw.Phase() == p {
					rec.Record(Op{Type: Stats, Process: proc, Region: cfg.Region, F: "phase", Phase: p.String()})
				}
			}
			clk.skew.Store(c.Skew[cfg.Region] * int64(time.Millisecond))
			if c.Stop {
				stop = true
			}
		}
		if time.Since(lastStats) >= time.Second {
			n, _ := dw.Backlog()
			rec.Record(Op{Type: Stats, Process: proc, Region: cfg.Region, Backlog: n})
			lastStats = time.Now()
		}
	}
	stopWork()
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	derr := dw.WaitReplayed(dctx)
	cancel()
	n, _ := dw.Backlog() // (count, age of the oldest): it has no error to lose
	end := Op{Type: Drained, Process: proc, Region: cfg.Region, Backlog: n}
	if derr != nil {
		end.Err = derr.Error()
	}
	dw.Close()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub.Close(cctx)
	// Goroutines of dualwrite or cachesync still running after Close (a second of grace).
	var left []string
	for i := 0; i < 10; i++ {
		if left = libraryGoroutines(); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		end.Leaked = len(left)
		fmt.Fprintf(cfg.Out, "%s: %d dualwrite/cachesync goroutines still running after Close:\n%s\n", proc, len(left), strings.Join(left, "\n\n"))
	}
	rec.Record(end)
	return nil
}

// setPhase switches the session's phase (the flip is retried at the next poll if it did not
// happen).
func setPhase(dw *dualwrite.Session, p dualwrite.Phase) { dw.SetPhase(p) } // refused while the side gaining authority has a backlog

// CacheRules: cache-only keys (chaos-c:) are replicated to the other region, row keys (chaos-row:) are
// invalidated there.
var CacheRules = cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "chaos-c:", Mode: cachesync.Replicate}}}

// RowKey is the cache key of kv row k.
func RowKey(k int) string { return "chaos-row:" + strconv.Itoa(k) }

// CacheOnlyKey is a key that lives in the caches only.
func CacheOnlyKey(k int) string { return "chaos-c:" + strconv.Itoa(k) }

type writer struct {
	cfg   WriterConfig
	rec   *Recorder
	proc  string
	dw    *dualwrite.Session
	local *gocql.Session
	cache *cachesync.Client
	clk   *skewClock
}

// Planned is one operation of a worker as decided before it runs, from (seed, region,
// incarnation, worker, op index) alone: never from a service's answer, another worker's progress
// or the time, so a seed replays the same operation sequence per worker whatever the services do.
type Planned struct {
	ID   string        `json:"id"` // region, incarnation, worker, op index: unique in the run
	F    string        `json:"f"`  // a write (FInsert … FBatch), FCacheGet (a read, filled on a miss), FCacheSet, FCacheDel
	K    int           `json:"k"`
	Muts []Mut         `json:"muts,omitempty"` // writes
	Work time.Duration `json:"work,omitempty"` // reads: the work between a fill's read and its fill
}

// Plan returns operation op of worker in writer (region, incarnation) of seed, over keys keys.
func Plan(seed uint64, region string, incarnation, worker, op, keys int) Planned {
	id := fmt.Sprintf("%s%d-%d-%d", short(region), incarnation, worker, op)
	r := rand.New(rand.NewPCG(seed, hash(id)))
	p := Planned{ID: id, K: r.IntN(keys)}
	write := func(ks ...int) {
		for i, k := range ks {
			m := Mut{K: k}
			switch n := r.IntN(100); {
			case n < 30:
				m.F, m.V = FInsert, valueOf(id)+"-"+strconv.Itoa(i)
			case n < 60:
				m.F, m.V = FUpdate, valueOf(id)+"-"+strconv.Itoa(i)
			case n < 72:
				m.F = FDelete
			case n < 90:
				m.F, m.Elem = FAdd, "e"+strconv.Itoa(r.IntN(6))
			default:
				m.F, m.Elem = FRemove, "e"+strconv.Itoa(r.IntN(6))
			}
			p.Muts = append(p.Muts, m)
		}
		p.F = p.Muts[0].F
		if len(p.Muts) > 1 {
			p.F = FBatch
		}
	}
	switch n := r.IntN(100); {
	case n < 50:
		write(p.K)
	case n < 58:
		write(p.K, (p.K+1+r.IntN(keys-1))%keys)
	case n < 85:
		p.F = FCacheGet
		// An application does work between its read and its fill; so does a GC pause.
		p.Work = time.Duration(r.IntN(30)) * time.Millisecond
	case n < 95:
		p.F = FCacheSet
	default:
		p.F = FCacheDel
	}
	return p
}

// valueOf returns the value operation id writes: no other operation of the run writes it.
func valueOf(id string) string { return "v" + id }

func (w *writer) loop(ctx context.Context, worker, workers int) {
	every := time.Duration(int64(time.Second) * int64(workers) / int64(max(w.cfg.Rate, 1)))
	next := time.Now()
	for op := 0; ctx.Err() == nil; {
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else if d < -time.Second {
			next = time.Now() // far behind (a fault): do not burst to catch up
		}
		w.one(ctx, Plan(w.cfg.Seed, w.cfg.Region, w.cfg.Incarnation, worker, op, w.cfg.Keys))
		op++
	}
}

func (w *writer) one(ctx context.Context, p Planned) {
	switch p.F {
	case FCacheGet:
		w.read(ctx, p)
	case FCacheSet:
		w.cacheSet(ctx, p)
	case FCacheDel:
		w.cacheDelete(ctx, CacheOnlyKey(p.K), p.ID, "")
	default:
		w.write(ctx, p)
	}
}

// write runs one write (a batch over two keys) through dualwrite, then invalidates the rows' cache
// entries in both regions.
func (w *writer) write(ctx context.Context, p Planned) {
	id, muts, f := p.ID, p.Muts, p.F
	ts := w.clk.next()
	inv := Op{Type: Invoke, Process: w.proc, ID: id, F: f, Region: w.cfg.Region, Muts: muts, TS: ts, Phase: w.dw.Phase().String()}
	w.rec.Record(inv)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	if len(muts) == 1 {
		stmt, vals := mutCQL(muts[0])
		err = w.dw.Query(stmt, vals...).WithContext(cctx).WithTimestamp(ts).Exec()
	} else {
		b := w.dw.NewBatch(gocql.LoggedBatch).WithContext(cctx).WithTimestamp(ts)
		for _, m := range muts {
			stmt, vals := mutCQL(m)
			b.Query(stmt, vals...)
		}
		err = w.dw.ExecuteBatch(b)
	}
	w.complete(inv, start, err)
	if err != nil {
		return
	}
	for i, m := range muts {
		if m.F == FInsert || m.F == FUpdate || m.F == FDelete {
			w.cacheDelete(ctx, RowKey(m.K), id+"-i"+strconv.Itoa(i), id)
		}
	}
}

func mutCQL(m Mut) (string, []any) {
	switch m.F {
	case FInsert:
		return "INSERT INTO kv (k, v) VALUES (?, ?)", []any{m.K, m.V}
	case FUpdate:
		return "UPDATE kv SET v = ? WHERE k = ?", []any{m.V, m.K}
	case FDelete:
		return "DELETE FROM kv WHERE k = ?", []any{m.K}
	case FAdd:
		return "UPDATE kv SET tags = tags + ? WHERE k = ?", []any{[]string{m.Elem}, m.K}
	default:
		return "UPDATE kv SET tags = tags - ? WHERE k = ?", []any{[]string{m.Elem}, m.K}
	}
}

// complete records the outcome of inv: ok, or info (a failed write may have applied: Cassandra's
// rule, and dualwrite's when the authoritative side timed out).
func (w *writer) complete(inv Op, start time.Time, err error) {
	end := Op{Type: OK, Process: inv.Process, ID: inv.ID, F: inv.F, Region: inv.Region, TS: inv.TS, Key: inv.Key, LatencyNs: int64(time.Since(start))}
	if err != nil {
		end.Type, end.Err = Info, err.Error()
		if errors.Is(err, cachesync.ErrNotApplied) {
			end.Type = Fail // a newer version is held: this one did not apply
		}
		if errors.Is(err, memcache.ErrCacheMiss) {
			end.Type, end.Err = OK, "miss"
		}
	}
	w.rec.Record(end)
}

// read is cache-aside: a hit is recorded with its value; a miss reads this region's own keyspace
// and fills the local cache with what it found.
func (w *writer) read(ctx context.Context, p Planned) {
	k := p.K
	key := RowKey(k)
	id := p.ID
	inv := Op{Type: Invoke, Process: w.proc, ID: id, F: FCacheGet, Region: w.cfg.Region, Key: key}
	w.rec.Record(inv)
	start := time.Now()
	it, err := w.cache.Get(ctx, key)
	end := Op{Type: OK, Process: w.proc, ID: id, F: FCacheGet, Region: w.cfg.Region, Key: key, LatencyNs: int64(time.Since(start))}
	switch {
	case err == nil:
		end.Value = string(it.Value)
		w.rec.Record(end)
		return
	case errors.Is(err, memcache.ErrCacheMiss):
		end.Err = "miss"
		w.rec.Record(end)
	default:
		end.Type, end.Err = Fail, err.Error()
		w.rec.Record(end)
		return
	}
	// Miss: fill from the region's database.
	id = p.ID + "-f"
	inv = Op{Type: Invoke, Process: w.proc, ID: id, F: FCacheFill, Region: w.cfg.Region, Key: key}
	w.rec.Record(inv)
	start = time.Now()
	tok, err := w.cache.BeginFill(ctx, key) // the lease, before the database read
	if err != nil {
		w.rec.Record(Op{Type: Fail, Process: w.proc, ID: id, F: FCacheFill, Region: w.cfg.Region, Key: key, Err: err.Error(), LatencyNs: int64(time.Since(start))})
		return
	}
	var v *string
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = w.local.Query("SELECT v FROM kv WHERE k = ?", k).WithContext(rctx).Consistency(gocql.One).Scan(&v)
	if errors.Is(err, gocql.ErrNotFound) || (err == nil && v == nil) {
		end = Op{Type: Fail, Process: w.proc, ID: id, F: FCacheFill, Region: w.cfg.Region, Key: key, Err: "no row", LatencyNs: int64(time.Since(start))}
		w.rec.Record(end)
		return
	}
	if err != nil {
		end = Op{Type: Fail, Process: w.proc, ID: id, F: FCacheFill, Region: w.cfg.Region, Key: key, Err: err.Error(), LatencyNs: int64(time.Since(start))}
		w.rec.Record(end)
		return
	}
	time.Sleep(p.Work) // the application's work between its read and its fill
	err = w.cache.Fill(ctx, tok, &cachesync.Item{Key: key, Value: []byte(*v)})
	end = Op{Type: OK, Process: w.proc, ID: id, F: FCacheFill, Region: w.cfg.Region, Key: key, Value: *v, LatencyNs: int64(time.Since(start))}
	switch {
	case errors.Is(err, cachesync.ErrNotApplied):
		end.Type, end.Err = Fail, err.Error() // voided by a write or an invalidation: not stored
	case err != nil:
		end.Type, end.Err = Info, err.Error()
	}
	w.rec.Record(end)
}

// cacheSet writes a cache-only key, replicated to the other region.
func (w *writer) cacheSet(ctx context.Context, p Planned) {
	key := CacheOnlyKey(p.K)
	id := p.ID
	val := valueOf(id)
	inv := Op{Type: Invoke, Process: w.proc, ID: id, F: FCacheSet, Region: w.cfg.Region, Key: key, Value: val}
	w.rec.Record(inv)
	start := time.Now()
	ver, err := w.cache.Set(ctx, &cachesync.Item{Key: key, Value: []byte(val)})
	inv.TS = ver.Micros
	w.complete(inv, start, err)
}

// cacheDelete deletes key here and in the other region; cause is the id of the write it follows
// ("" for none), recorded so the checker matches each invalidation with its write even when
// another worker of the process wrote in between.
func (w *writer) cacheDelete(ctx context.Context, key, id, cause string) {
	inv := Op{Type: Invoke, Process: w.proc, ID: id, F: FCacheDel, Region: w.cfg.Region, Key: key, Cause: cause}
	w.rec.Record(inv)
	start := time.Now()
	ver, err := w.cache.Delete(ctx, key)
	inv.TS = ver.Micros
	w.complete(inv, start, err)
}

// libraryGoroutines returns the stacks of goroutines running code of dualwrite or cachesync.
func libraryGoroutines() []string {
	buf := make([]byte, 4<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "islands/dualwrite.") || strings.Contains(g, "islands/cachesync.") {
			out = append(out, g)
		}
	}
	return out
}

func short(region string) string {
	if len(region) >= 2 {
		return region[:2]
	}
	return region
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func hash(s string) uint64 {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}
