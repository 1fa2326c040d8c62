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

// Control is what the campaign tells its writers and agents while they run, through a small JSON
// file they poll (a file survives a writer's kill -9: the restarted writer starts with the same
// skew). The migration's phase is not in it: the EU writers take it from the control plane.
type Control struct {
	Skew map[string]int64 `json:"skew,omitempty"` // region -> clock offset in ms
	Stop bool             `json:"stop,omitempty"` // stop the workload, drain, exit
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

// QueueRoute is a region's cachesync queue as a writer reaches it: the SQS server's endpoint from
// the writer's region (through the WAN for another region) and the queue's URL.
type QueueRoute struct {
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	URL      string `json:"url"`
}

// WriterConfig is one writer process of the workload.
type WriterConfig struct {
	Name        string // us, usw, eu, eub: the prefix of its operation ids, unique in the run
	Region      string
	Incarnation int // how many times this writer was started before (kill -9 and restart)
	Seed        uint64
	GlobalCQL   string // this region's node of the global cluster: its writes (LOCAL_QUORUM) and fills
	// IslandCQL is the EU island, which a migrating writer dual-writes ("" for the others).
	IslandCQL string
	Keyspace  string // in the global cluster and the island
	// Migration names the migration a migrating writer is an instance of (its instance name is
	// writer-<Name>, the same across incarnations), in ControlKeyspace of the global cluster;
	// MigrationTTL is its heartbeat TTL, longer than any pause the nemesis holds it in.
	Migration       string
	ControlKeyspace string
	MigrationTTL    time.Duration
	Memcached       string       // this region's memcached
	Destinations    []QueueRoute // every other region's queue
	Own             QueueRoute   // this region's own queue: the second events go there too
	ReplayDir       string
	History         string
	ControlPath     string
	Rate            int // operations per second
	Keys            int // rows of kv (and cache-only keys) the workload touches
	TombstoneTTL    time.Duration
	// SecondInvalidation of the writers' publishers: the campaign sets it from the schedule's
	// largest composed skew, within the library's contract (SecondInvalidationFor).
	SecondInvalidation time.Duration
	DrainTimeout       time.Duration
	Out                io.Writer `json:"-"` // progress and errors (stderr)
}

// skewClock is a process's clock: the machine's, plus the skew the campaign sets for its region.
// Every dualwrite and CQL timestamp and cachesync version of a writer, and an agent's clock, come
// from it.
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
// role (its credentials and TLS from the ISLANDS_CQL_* variables the campaign passed down), at
// LOCAL_QUORUM.
func writerCluster(addr, ks string) (*gocql.ClusterConfig, cqlconn.Access, error) {
	c := gocql.NewCluster(addr)
	c.Keyspace = ks
	c.Timeout = 3 * time.Second
	c.WriteTimeout = 3 * time.Second
	c.ConnectTimeout = 5 * time.Second
	c.DisableInitialHostLookup = true
	// Its region's node only, as an application's local session: a node of the global cluster
	// announces its peers, and gocql would then coordinate writes in another region, through the
	// WAN.
	c.HostFilter = gocql.WhiteListHostFilter(addr)
	c.Consistency = gocql.LocalQuorum
	c.Logger = log.New(io.Discard, "", 0)
	a, err := cqlconn.RoleApp.Apply(c)
	return c, a, err
}

// RunWriter is the writer process: writes and cache operations at a steady rate until the control
// file says stop, then it waits for its replay log to drain and records the outcome. A migrating
// writer (an EU writer) dual-writes the island and the global keyspace through a dualwrite session
// WithMigration; the others write the global keyspace.
func RunWriter(ctx context.Context, cfg WriterConfig) error {
	if cfg.Out == nil {
		cfg.Out = os.Stderr
	}
	rec, err := NewRecorder(cfg.History)
	if err != nil {
		return err
	}
	defer rec.Close()
	proc := fmt.Sprintf("writer-%s#%d", cfg.Name, cfg.Incarnation)
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
	global, err := connect(cfg.GlobalCQL)
	if err != nil {
		return err
	}
	defer global.Close()

	clk := &skewClock{}
	ctl, _ := ReadControl(cfg.ControlPath)
	clk.skew.Store(ctl.Skew[cfg.Region] * int64(time.Millisecond))
	var dw *dualwrite.Session
	for cfg.IslandCQL != "" {
		// Open owns its gocql sessions and rebuilds a side whose pool emptied (issue 12). The
		// configs name the keyspace, so Open checks the role's grants there before any write.
		// The phase is the migration's: Open registers the instance and applies it first.
		island, _, err := writerCluster(cfg.IslandCQL, cfg.Keyspace)
		if err != nil {
			return fmt.Errorf("%s: %w", proc, err)
		}
		gc, _, err := writerCluster(cfg.GlobalCQL, cfg.Keyspace)
		if err != nil {
			return fmt.Errorf("%s: %w", proc, err)
		}
		control, _, err := writerCluster(cfg.GlobalCQL, "")
		if err != nil {
			return fmt.Errorf("%s: %w", proc, err)
		}
		dw, err = dualwrite.Open(ctx, island, gc,
			dualwrite.WithReplayDir(cfg.ReplayDir), dualwrite.WithClock(clk.now), dualwrite.WithName(proc),
			dualwrite.WithMigration(control, cfg.Migration, "writer-"+cfg.Name, dualwrite.MigrationKeyspace(cfg.ControlKeyspace),
				dualwrite.MigrationRegion(cfg.Region), dualwrite.MigrationHeartbeat(dualwrite.DefaultMigrationHeartbeat, cmp.Or(cfg.MigrationTTL, dualwrite.DefaultMigrationTTL))),
			// The backlog never depends on this process's disk alone (kill-disk): entries older than
			// WriterHandoffCopyAfter are in the control keyspace too, and the other writer (or this
			// one's next incarnation) adopts them once this incarnation's lease expired.
			dualwrite.WithHandoff(dualwrite.HandoffCopyAfter(WriterHandoffCopyAfter), dualwrite.HandoffLease(WriterHandoffLease)))
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
	pub, err := openWriterPublisher(ctx, cfg)
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

	w := &writer{cfg: cfg, rec: rec, proc: proc, dw: dw, global: global, cache: cache, clk: clk}
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
	var phase dualwrite.Phase
	if dw != nil {
		phase = dw.Phase()
		rec.Record(Op{Type: Stats, Process: proc, Region: cfg.Region, F: "phase", Phase: phase.String(), Epoch: dw.Migration().Epoch})
	}
	for stop := false; !stop; {
		select {
		case <-ctx.Done():
			stop = true
		case <-tick.C:
		}
		if c, err := ReadControl(cfg.ControlPath); err == nil {
			clk.skew.Store(c.Skew[cfg.Region] * int64(time.Millisecond))
			if c.Stop {
				stop = true
			}
		}
		if dw != nil && dw.Phase() != phase { // the control plane flipped it
			phase = dw.Phase()
			rec.Record(Op{Type: Stats, Process: proc, Region: cfg.Region, F: "phase", Phase: phase.String(), Epoch: dw.Migration().Epoch})
		}
		if dw != nil && time.Since(lastStats) >= time.Second {
			n, _ := dw.Backlog()
			ho := dw.Handoff()
			rec.Record(Op{Type: Stats, Process: proc, Region: cfg.Region, Backlog: n, Copied: ho.Copied, HandedOff: ho.HandedOff, Adopted: ho.Adopted})
			lastStats = time.Now()
		}
	}
	stopWork()
	wg.Wait()
	end := Op{Type: Drained, Process: proc, Region: cfg.Region}
	if dw != nil {
		dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
		derr := dw.WaitReplayed(dctx)
		// And what the shared store still owes (a lost disk's entries, adopted by a live writer):
		// this writer keeps adopting and replaying until it owes nothing, within the same bound.
		owed := sharedOwed(dw)
		for ; derr == nil && owed > 0; owed = sharedOwed(dw) {
			select {
			case <-dctx.Done():
				derr = dctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if derr == nil {
				derr = dw.WaitReplayed(dctx)
			}
		}
		cancel()
		end.Backlog, _ = dw.Backlog() // (count, age of the oldest): it has no error to lose
		end.Backlog += owed
		if derr != nil {
			end.Err = derr.Error()
		}
		if owed > 0 {
			end.Err = strings.TrimSpace(end.Err + fmt.Sprintf(" (the hand-off's shared store still owes %d entries)", owed))
		}
		ho := dw.Handoff()
		end.Copied, end.HandedOff, end.Adopted = ho.Copied, ho.HandedOff, ho.Adopted
		dw.Close()
	}
	// Close sends what is buffered and what a broker restart left to resend (ResendWindow: after
	// an ElasticMQ restart near the end, thousands of events through a 130 ms WAN path). What it
	// cannot send in time stays in the spill for a next start, which a campaign's writer never
	// has: the checker would rightly find it there (spill) and stale in the caches.
	cctx, cancel := context.WithTimeout(context.Background(), publisherCloseTimeout)
	defer cancel()
	if err := pub.Close(cctx); err != nil {
		fmt.Fprintf(cfg.Out, "%s: cachesync publisher close: %v\n", proc, err)
	}
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

// The migrating writers' hand-off (dualwrite.WithHandoff): entries older than
// WriterHandoffCopyAfter are copied to the control keyspace; an incarnation's copies wait
// WriterHandoffLease after it died (kill, kill-disk) before the other writer adopts them.
const (
	WriterHandoffCopyAfter = 500 * time.Millisecond
	WriterHandoffLease     = 5 * time.Second
)

// sharedOwed is what the hand-off's shared store owes either side (as last listed, this
// writer's own copies included).
func sharedOwed(dw *dualwrite.Session) int64 {
	var n int64
	for _, v := range dw.Handoff().Owed {
		n += v
	}
	return n
}

// openWriterPublisher opens the cachesync Publisher of the writer cfg: its destinations (the
// other regions' queues through the WAN, its own region's queue) and its spill (ReplayDir-spill).
// The campaign opens the same after the writers exited, as a restarted writer would, to send what
// they left in their spills (drainWriterSpills).
func openWriterPublisher(ctx context.Context, cfg WriterConfig) (*cachesync.Publisher, error) {
	var dests []cachesync.Destination
	for _, d := range cfg.Destinations {
		c, err := world.SQSClient(ctx, d.Region, d.Endpoint)
		if err != nil {
			return nil, err
		}
		dests = append(dests, cachesync.Destination{Region: d.Region, Client: c, Queue: d.URL})
	}
	var own *cachesync.Destination
	if cfg.Own.URL != "" {
		c, err := world.SQSClient(ctx, cfg.Own.Region, cfg.Own.Endpoint)
		if err != nil {
			return nil, err
		}
		own = &cachesync.Destination{Region: cfg.Own.Region, Client: c, Queue: cfg.Own.URL}
	}
	return cachesync.NewPublisherTo(ctx, dests, own, cachesync.PublisherOptions{
		SecondInvalidation: cmp.Or(cfg.SecondInvalidation, SecondInvalidationFor(cfg.TombstoneTTL, 3*time.Second)), // ≥ TombstoneTTL + 2 × skew, as the option asks
		SpillDir:           SpillDir(cfg), ResendWindow: CampaignResendWindow})
}

// CampaignResendWindow is the writers' publishers' ResendWindow: the events SQS accepted during
// this long before it refuses sends are sent again once it takes them (the checker's broker-kill
// excuse covers only what falls outside it).
const CampaignResendWindow = 30 * time.Second

// SpillDir is the cachesync spill directory of the writer cfg.
func SpillDir(cfg WriterConfig) string { return cfg.ReplayDir + "-spill" }

// publisherCloseTimeout bounds a writer's cachesync Publisher.Close at the end of a run.
const publisherCloseTimeout = 2 * time.Minute

// CacheRules: cache-only keys (chaos-c:) are replicated to the other region, row keys (chaos-row:) are
// invalidated there.
var CacheRules = cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "chaos-c:", Mode: cachesync.Replicate}}}

// RowKey is the cache key of kv row k.
func RowKey(k int) string { return "chaos-row:" + strconv.Itoa(k) }

// CacheOnlyKey is a key that lives in the caches only.
func CacheOnlyKey(k int) string { return "chaos-c:" + strconv.Itoa(k) }

type writer struct {
	cfg    WriterConfig
	rec    *Recorder
	proc   string
	dw     *dualwrite.Session // a migrating writer's: the island and the global keyspace
	global *gocql.Session     // this region's node of the global cluster: the others' writes, every fill
	cache  *cachesync.Client
	clk    *skewClock
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

// Plan returns operation op of worker in writer (name, incarnation) of seed, over keys keys. name
// is the writer's (us, eu, usw, eub: no name is another's followed by digits).
func Plan(seed uint64, name string, incarnation, worker, op, keys int) Planned {
	id := fmt.Sprintf("%s%d-%d-%d", name, incarnation, worker, op)
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
		w.one(ctx, Plan(w.cfg.Seed, w.cfg.Name, w.cfg.Incarnation, worker, op, w.cfg.Keys))
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

// write runs one write (a batch over two keys) — through dualwrite for a migrating writer, on the
// global keyspace for the others —, then invalidates the rows' cache entries in every region. A
// migrating writer records the epoch and phase its session had when the write began: the invoke's
// time is taken before they are read, so a write that began after `set --wait` returned shows
// the epoch that set made (migration invariant 3), unless the control plane broke it.
func (w *writer) write(ctx context.Context, p Planned) {
	id, muts, f := p.ID, p.Muts, p.F
	ts := w.clk.next()
	inv := Op{Time: time.Now().UnixNano(), Type: Invoke, Process: w.proc, ID: id, F: f, Region: w.cfg.Region, Muts: muts, TS: ts}
	if w.dw != nil {
		inv.Epoch = w.dw.Migration().Epoch
		inv.Phase = w.dw.Phase().String()
	}
	w.rec.Record(inv)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	switch {
	case w.dw != nil && len(muts) == 1:
		stmt, vals := mutCQL(muts[0])
		err = w.dw.Query(stmt, vals...).WithContext(cctx).WithTimestamp(ts).Exec()
	case w.dw != nil:
		b := w.dw.NewBatch(gocql.LoggedBatch).WithContext(cctx).WithTimestamp(ts)
		for _, m := range muts {
			stmt, vals := mutCQL(m)
			b.Query(stmt, vals...)
		}
		err = w.dw.ExecuteBatch(b)
	case len(muts) == 1:
		stmt, vals := mutCQL(muts[0])
		err = w.global.Query(stmt, vals...).WithContext(cctx).WithTimestamp(ts).Exec()
	default:
		b := w.global.NewBatch(gocql.LoggedBatch).WithContext(cctx).WithTimestamp(ts)
		for _, m := range muts {
			stmt, vals := mutCQL(m)
			b.Query(stmt, vals...)
		}
		err = w.global.ExecuteBatch(b)
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

// read is cache-aside: a hit is recorded with its value; a miss reads the global keyspace in this
// region's datacenter (LOCAL_QUORUM) and fills the local cache with what it found.
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
	err = w.global.Query("SELECT v FROM kv WHERE k = ?", k).WithContext(rctx).Consistency(gocql.LocalQuorum).Scan(&v)
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

// cacheSet writes a cache-only key, replicated to the other regions.
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

// cacheDelete deletes key here and in the other regions; cause is the id of the write it follows
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

func hash(s string) uint64 {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}
