package dualwrite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/handoff"
	"github.com/globalcloud/islands/migration"
)

// The hand-off (WithHandoff): a session's replay backlog never depends on its own disk alone. The
// local FileLog stays the first level (an fsync, no network); a shared, durable store in Cassandra
// (package internal/handoff: the migration's control keyspace, or a keyspace of the cluster that
// accepted the write) is the second, from which any live instance of the same migration (scope)
// adopts what an instance left.
//
// Invariants (with internal/handoff's 1–6):
//
//	H1. Close passes an entry of the local log without it having landed only once it is durable
//	    in the shared store (Put returned), or in the local dead-letter log when it cannot be
//	    decoded (deadLetterUnread: by the replayer, or by the hand-off before its frontier, in
//	    the background as at Close, passes it): the local log is empty after a successful
//	    hand-off, and holds everything after a failed one (then the next session on the directory
//	    drains it; closeHandoff reports the failure, as it does for a dead letter or uncertain
//	    write it could not store: owed.go). Then Close hands the dead letters and uncertain writes off too (batches of
//	    their kind, invariant 6) and drops them locally; in the background they are copied every
//	    adoptEvery, held like H2's copies, the copies kept in step with the local ones (copyAside).
//	H2. In the background, every entry logged more than copyAfter ago is copied to the shared store
//	    by the copy loop (copyStep: its own, every tick; adoption, whose claims may take a lease
//	    TTL each, runs in another and never holds it back), in a batch held by this instance's
//	    liveness lease (renewed in a loop of its own, renewLiveness, so nobody adopts it while
//	    this instance replays it itself), unless its leader has not
//	    answered yet (held: skipped, not stopped at, and copied by a later pass once it has; what
//	    was copied after it is kept in ahead, beyond the contiguous frontier copied) or it was
//	    withdrawn (never copied nor handed off: durably, or in memory only, a void the replayer
//	    may have consumed already: holds.peek). Adopted entries (old)
//	    are copied at the next pass even behind a younger own entry (adoptedEnd), and UnsharedAge
//	    counts them until then. So a crash that also loses the disk loses at most the entries
//	    logged in the last copyAfter + one tick + the time a copy takes: Handoff().UnsharedAge and
//	    islands_dualwrite_handoff_unshared_age_seconds show that window as it is when read
//	    (measured from the log at each read, so a copy that hangs shows as a growing age).
//	H3. A copy batch is deleted by its origin only once the local cursor passed every entry in it
//	    (each landed or was dead-lettered locally); at Close the origin drops its liveness lease
//	    instead, and the batches left are adopted by others.
//	H4. Adopting a batch appends its entries to the local replay log (durable) before the batch is
//	    deleted (an entry this version cannot decode goes to the local dead-letter log, durably;
//	    a batch of dead letters or uncertain writes goes to those local stores, never replayed):
//	    from then on they are this instance's backlog, replayed, copied and handed off
//	    like its own. Entries keep their Side, original Timestamp, absolute TTL expiry and Logged
//	    time (the bytes of the entry codec travel unchanged), so a replay anywhere, once or twice,
//	    writes the same cells with the same writetime and no longer TTL.
//	    Except for the side this session's phase makes authoritative (the side it reads): an
//	    entry owed to it is landed on that side first (a replay, synchronous) and is never
//	    appended to the local log while that side is authoritative (checked under the phase
//	    gate, as a write is). An instance that applied the phase counts as having applied it (its
//	    heartbeat), and the fleet's Wait counts the store's backlog for the new authority: an
//	    entry moved from the store into the log of an instance already reading that side would
//	    be counted by neither. An entry owed to it that does not land — for now or for good,
//	    and every dead letter, uncertain write or undecodable entry owed to it, which an adopter
//	    never replays — leaves its whole batch in the store (the claim fails; the batch is left
//	    to the others for a lease): one path for every kind of batch (handoff_take.go, T1–T3).
//	H5. The shared backlog of a side counts against its authority (pendingFor, and Open's check,
//	    which lists the store first, bounded by refreshTimeout; for the primary, its replay
//	    batches only, waited for as its local backlog is: primaryOwedAtOpen): SetPhase and the migration
//	    watcher wait while a batch for it was listed at the last listing (listed every adoptEvery
//	    in a loop of its own, never with the phase gate held, so a slow adoption never leaves it
//	    stale); a listing that failed, or older than maxListingAge, counts as one. Adoption's
//	    claims are bounded by the lease TTL each, and a batch this instance failed on is left to
//	    the others for one lease (internal/handoff's 7 and 8). The fleet's `islands migration set --wait`
//	    reads the store itself when authority moves.
//	H6. Each store stands alone (HandoffKeyspace: the store of a side lives in the other side's
//	    cluster). A held batch is protected by its holder's liveness lease in the store that keeps
//	    it, and only there: a copy renews the lease only in the store it writes to (putHeld), the
//	    liveness loop renews each store on its own, and the two sides' batches are stored at once;
//	    a side whose store fails leaves its entries behind the frontier for a later pass while the
//	    other side's are copied (share's down). Adoption and listing run per store, at once; a
//	    store that cannot be listed makes unknown only the side it keeps (owedErr). Every store
//	    call of the copy loop (Beat, Put, Delete: share, cleanup, copyAside) is bounded
//	    (callBound) and runs in a call of its store's own (launch): a pass waits for a store at
//	    most the patience (await), a store with a call outstanding is skipped until it returns,
//	    a late answer is recorded when it comes (own, ahead, asides), and Close cancels and waits
//	    for such calls (calls). An aside copy is recorded per side (asideCopy.sd): an entry owed
//	    to both sides (undecodable) is copied, and handed off, only once each side's store holds
//	    it.

// HandoffOption tunes WithHandoff.
type HandoffOption func(*handoffConfig)

type handoffConfig struct {
	copyAfter  time.Duration
	drain      time.Duration
	timeout    time.Duration
	lease      time.Duration
	adoptEvery time.Duration
	batch      int
	keyspace   string
	instance   string
	scope      string
	store      handoff.Store // tests: one store for both sides
	onClaim    func(ctx context.Context, batch string)
}

// Defaults of WithHandoff.
const (
	DefaultHandoffCopyAfter = 2 * time.Second
	DefaultHandoffDrain     = 5 * time.Second
	DefaultHandoffTimeout   = 30 * time.Second
	DefaultHandoffLease     = 15 * time.Second
	defaultHandoffBatch     = 500
)

// ErrHandoff: the hand-off is misconfigured (no FileLog, no keyspace to keep it in).
var ErrHandoff = errors.New("dualwrite: hand-off")

// WithHandoff keeps the replay backlog in a shared store too, so that an acknowledged write kept
// for a side survives the loss of this instance and its disk (a rescheduled pod):
//
//   - in the background, entries logged more than HandoffCopyAfter ago (default 2 s) are copied to
//     the store; a crash that loses the disk too loses at most the last seconds' entries;
//   - Close drains the backlog for at most HandoffDrain (default 5 s), then hands what is left to
//     the store and empties the local log (logged with counts);
//   - any live instance of the same migration (scope) adopts what an instance left, one claimer
//     per batch under a lease (HandoffLease, default 15 s) that expires if the claimer dies.
//
// With WithMigration the store is the migration's control keyspace (tables created by `islands
// migration set`) and the scope the migration's name; otherwise HandoffKeyspace names a keyspace
// holding the tables (handoff.Schema) in both clusters, an entry being kept in the cluster of the
// side that accepted the write (the other side from the one it must land on), and the scope is
// WithName's. It needs WithReplayDir.
func WithHandoff(opts ...HandoffOption) Option {
	hc := &handoffConfig{copyAfter: DefaultHandoffCopyAfter, drain: DefaultHandoffDrain, timeout: DefaultHandoffTimeout,
		lease: DefaultHandoffLease, adoptEvery: time.Second, batch: defaultHandoffBatch}
	for _, o := range opts {
		o(hc)
	}
	return func(c *config) { c.handoff = hc }
}

// HandoffCopyAfter sets the age after which an entry of the local log is copied to the shared
// store (default DefaultHandoffCopyAfter): the loss window of a crash that also loses the disk.
func HandoffCopyAfter(d time.Duration) HandoffOption {
	return func(h *handoffConfig) { h.copyAfter = d }
}

// HandoffDrain bounds how long Close waits for the backlog to drain before handing it off, and
// HandoffTimeout how long the hand-off itself may take (defaults DefaultHandoffDrain,
// DefaultHandoffTimeout): Close returns within about their sum.
func HandoffDrain(drain, timeout time.Duration) HandoffOption {
	return func(h *handoffConfig) { h.drain, h.timeout = drain, timeout }
}

// HandoffLease sets the TTL of a claimer's lease on a batch and of this instance's liveness lease
// on its background copies (default DefaultHandoffLease): how long a dead instance's backlog waits
// before another adopts it.
func HandoffLease(ttl time.Duration) HandoffOption { return func(h *handoffConfig) { h.lease = ttl } }

// HandoffKeyspace names the keyspace of the hand-off tables without WithMigration (with it, the
// control keyspace is used and this is ignored).
func HandoffKeyspace(ks string) HandoffOption { return func(h *handoffConfig) { h.keyspace = ks } }

// HandoffInstance names this instance as a lease owner (default: WithMigration's instance, else
// host name and process id).
func HandoffInstance(name string) HandoffOption { return func(h *handoffConfig) { h.instance = name } }

// HandoffOnClaim calls f with a batch's lease held, before its entries are read: an observation
// point for tests (a claimer paused there lets its lease expire).
func HandoffOnClaim(f func(ctx context.Context, batch string)) HandoffOption {
	return func(h *handoffConfig) { h.onClaim = f }
}

func handoffStore(st handoff.Store) HandoffOption { return func(h *handoffConfig) { h.store = st } }

// HandoffStats is what the hand-off did.
type HandoffStats struct {
	Copied    int64 // entries copied in the background (H2)
	HandedOff int64 // entries handed off at Close (H1)
	Adopted   int64 // entries adopted from the store (H4)
	Writes    int64 // CQL writes to the store (entries, batch rows, leases, deletes)
	// UnsharedAge is the age of the oldest entry only on this instance's disk (0: none), and
	// MaxUnsharedAge the largest seen: the loss window of a crash that also loses the disk.
	UnsharedAge, MaxUnsharedAge time.Duration
	// Owed is the shared backlog per side (last read), this instance's copies included.
	Owed map[string]int64
}

type ownBatch struct {
	id    string
	sd    side
	st    handoff.Store
	last  Pos
	count int
}

// asideCopy is a held copy of local dead letters or uncertain writes (their aside IDs).
type asideCopy struct {
	id   string
	st   handoff.Store
	sd   side // the side whose store keeps it (an undecodable entry has a copy per side)
	kind string
	ids  []int
}

type handoffState struct {
	s      *Session
	cfg    *handoffConfig
	fl     *FileLog
	scope  string
	owner  string
	origin string           // this session's liveness lease
	stores [2]handoff.Store // for entries of side i
	closer func()

	mu      sync.Mutex
	copied  Pos          // every entry up to it is shared (or needs not be)
	ahead   map[Pos]bool // entries after copied shared already (a held entry before them waits)
	own     []ownBatch
	asides  []asideCopy      // this instance's held copies of its dead letters and uncertain writes
	beatAt  [2]time.Time     // per store (storeOf): when this instance's liveness lease was last renewed there
	owed    map[string]int64 // the shared backlog per side, as last listed (refresh)
	owedErr [2]error         // per side: the last listing's failure of the store keeping it (nil: owed is current)
	owedAt  time.Time        // when the last listing ended

	listEvery time.Duration      // the listing's period (adoptEvery at Open)
	closing   atomic.Bool        // Close began: adopt nothing more
	claimers  []*handoff.Adopter // adopters(): the adoption loop's only

	copiedN, handedN, adoptedN, writes atomic.Int64
	unshared, maxUnshared              atomic.Int64 // ns
	final                              atomic.Bool  // Close's hand-off is over: noteUnshared reads the log no more

	// Guarded by mu: owedReplay is owed's replay batches only (no dead letters, no uncertain
	// writes); adoptedEnd the last adopted entry's position (sink): up to it, share passes over
	// a young entry instead of stopping at it, so that adopted (old) entries behind it are
	// shared (H2).
	owedReplay map[string]int64
	adoptedEnd Pos

	// busy (guarded by mu): per distinct store, a background call (launch) has not returned yet;
	// the copy loop skips that store until it has (H6). calls counts those calls (Close waits).
	busy  [2]bool
	calls sync.WaitGroup

	stop chan struct{}
	wg   sync.WaitGroup
}

// setupHandoff is newSession's first step for WithHandoff: it builds the hand-off and lists the
// shared backlog (bounded by refreshTimeout), before Open's authority check counts it (H5).
func (s *Session) setupHandoff() error {
	hc := s.cfg.handoff
	if hc == nil {
		return nil
	}
	fl, ok := s.log.(*FileLog)
	if !ok {
		return fmt.Errorf("%w: WithHandoff needs the file replay log (WithReplayDir)", ErrHandoff)
	}
	h := &handoffState{s: s, cfg: hc, fl: fl, closer: func() {}, stop: make(chan struct{}), ahead: map[Pos]bool{}}
	s.holds.mu.Lock()
	s.holds.keepGone = true // the hand-off honours the voids the replayer consumed (peek)
	s.holds.mu.Unlock()
	h.owner = hc.instance
	mc := s.cfg.migration
	if h.owner == "" && mc != nil {
		h.owner = mc.instance
	}
	if h.owner == "" {
		host, _ := os.Hostname()
		h.owner = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	h.origin = "origin/" + h.owner + "/" + hex.EncodeToString(rnd[:])
	switch {
	case hc.store != nil:
		h.scope = s.cfg.name
		if mc != nil {
			h.scope = mc.name
		}
		h.stores = [2]handoff.Store{hc.store, hc.store}
	case mc != nil:
		ks := mc.keyspace
		if ks == "" {
			ks = migration.DefaultKeyspace
		}
		lz := &lazySession{cluster: mc.cluster}
		st := &handoff.CQLStore{Session: lz.get, Keyspace: ks}
		h.scope, h.stores, h.closer = mc.name, [2]handoff.Store{st, st}, lz.close
	default:
		if hc.keyspace == "" {
			return fmt.Errorf("%w: WithHandoff without WithMigration needs HandoffKeyspace (a keyspace with the tables of handoff.Schema in both clusters)", ErrHandoff)
		}
		h.scope = s.cfg.name
		for sd := range h.stores {
			keeper := s.sides[1-sd] // the side that accepted the write keeps it
			h.stores[sd] = &handoff.CQLStore{Keyspace: hc.keyspace, Session: func() (*gocql.Session, func()) {
				if keeper == nil {
					return nil, func() {}
				}
				g := keeper.acquire()
				return g.sess, g.release
			}}
		}
	}
	if hc.batch <= 0 {
		hc.batch = defaultHandoffBatch
	}
	h.listEvery = hc.adoptEvery
	s.ho = h
	h.refresh(context.Background()) // before Open's check and the first phase switch count it (H5)
	return nil
}

// startHandoff starts the hand-off's background loops, before the migration starts: the copy
// (share, cleanup, the asides' copies), the adoption, the listing and the liveness lease, each in
// a loop of its own so that none waits behind another (a claim may take a lease TTL, a pass many
// claims: H2, H5).
func (s *Session) startHandoff() {
	h := s.ho
	if h == nil {
		return
	}
	h.registerMetrics()
	h.wg.Add(4)
	go h.every(h.tick(), h.copyStep())
	go h.every(h.tick(), h.adoptStep())
	go h.every(h.listEvery, h.refresh) // a slow adoption or copy never leaves the listing stale (H5)
	go h.every(max(h.cfg.lease/6, time.Millisecond), h.renewLiveness)
}

// every runs step every d until the hand-off stops, under a context cancelled at the stop (each
// of the hand-off's background loops).
func (h *handoffState) every(d time.Duration, step func(ctx context.Context)) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-h.stop; cancel() }()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		step(ctx)
	}
}

// renewLiveness renews this instance's liveness lease while it holds copies (H2) once a third of the
// lease's TTL has passed (beat), looked at every sixth, in a loop of its own: the copy loop's copies and
// cleanups and the adoption loop's claims (each bounded by one TTL, several in a row) never let it lapse
// while this instance lives. Each store's lease is renewed on its own, at once with the other's and
// under a timeout of its own (a third of the TTL): a store that fails or hangs (its cluster is down)
// never holds back the other's renewal (H6), so between two renewals in a store that answers in
// time at most 1/3 + 1/6 + 1/3 of the TTL passes.
func (h *handoffState) renewLiveness(ctx context.Context) {
	h.mu.Lock()
	held := len(h.own) > 0 || len(h.asides) > 0
	h.mu.Unlock()
	if !held {
		return
	}
	if err := h.beatEach(ctx, false, h.callBound()); err != nil && ctx.Err() == nil {
		h.s.logger.Warn("dualwrite: hand-off", "err", err)
	}
}

// lazySession connects to the control cluster on first use and again after a failure (at most
// every 5 s), so a control cluster down at Open does not fail Open.
type lazySession struct {
	cluster *gocql.ClusterConfig
	mu      sync.Mutex
	sess    *gocql.Session
	tried   time.Time
}

func (l *lazySession) get() (*gocql.Session, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess == nil && l.cluster != nil && time.Since(l.tried) >= 5*time.Second {
		l.tried = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l.sess, _ = connect(ctx, l.cluster)
		cancel()
	}
	return l.sess, func() {}
}

func (l *lazySession) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess != nil {
		l.sess.Close()
		l.sess = nil
	}
	l.cluster = nil
}

func (h *handoffState) tick() time.Duration {
	return min(max(h.cfg.copyAfter/4, 50*time.Millisecond), 500*time.Millisecond)
}

// copyStep is the copy loop's step (H2): copy the local backlog to the shared store, delete the
// copies whose entries landed, and every adoptEvery bring the copies of the dead letters and
// uncertain writes up to date. It shares nothing with adoption but h.mu (never held across I/O)
// and the log's own locks, so a slow claim never holds back a copy: the loss window stays
// copyAfter + one tick + the time a copy takes.
func (h *handoffState) copyStep() func(ctx context.Context) {
	var asideAt time.Time
	return func(ctx context.Context) {
		if _, err := h.share(ctx, false); err != nil && ctx.Err() == nil {
			h.s.logger.Warn("dualwrite: copying the replay backlog to the shared store", "err", err)
		}
		h.cleanup(ctx)
		if time.Since(asideAt) >= h.cfg.adoptEvery {
			asideAt = time.Now()
			if err := h.copyAside(ctx); err != nil && ctx.Err() == nil {
				h.s.logger.Warn("dualwrite: hand-off: copying dead letters and uncertain writes to the shared store", "err", err)
			}
		}
	}
}

// adoptStep is the adoption loop's step: every adoptEvery, adopt what others left (H4). One pass
// may take a lease TTL per claim; only this loop waits for it.
func (h *handoffState) adoptStep() func(ctx context.Context) {
	var adoptedAt time.Time
	return func(ctx context.Context) {
		if time.Since(adoptedAt) >= h.cfg.adoptEvery {
			adoptedAt = time.Now()
			h.adopt(ctx)
		}
	}
}

// shareRec is one record of the local log read for sharing.
type shareRec struct {
	pos Pos
	raw []byte
	e   Entry
	bad bool // cannot be decoded
}

// readAfter reads up to max records after from (the cursor at least), leaving the replayer's
// read position alone.
func (l *FileLog) readAfter(from Pos, max int) ([]shareRec, error) {
	recs, _, err := l.log.ReadFrom(from, max)
	out := make([]shareRec, 0, len(recs))
	for _, r := range recs {
		e, derr := decodeEntry(r.Payload)
		out = append(out, shareRec{pos: r.Pos, raw: append([]byte(nil), r.Payload...), e: e, bad: derr != nil})
	}
	return out, err
}

// readPast says whether the replayer's reads (Pending) already handed out the record at p (and
// so dead-lettered it if it could not be decoded).
func (l *FileLog) readPast(p Pos) bool {
	return passed(l.log.ReadPos(), p)
}

// deadLetterUnread dead-letters the undecodable entry at p, durably, unless the replayer's reads
// (Pending) already handed it out (and so dead-lettered it) or this did already: the hand-off
// calls it before its frontier passes such an entry (H1, H2), so that no Done passes it with
// nobody having taken care of it. Serialised with Pending (pendMu): an entry is dead-lettered
// once per process (a crash before Done passes it may dead-letter it again at the next open).
func (l *FileLog) deadLetterUnread(p Pos, raw []byte, cause string) error {
	l.voids.pendMu.Lock()
	defer l.voids.pendMu.Unlock()
	if l.readPast(p) || l.deadAhead[p] || l.dead == nil {
		return nil
	}
	if err := l.asideRaw(l.dead, cause, raw); err != nil {
		return err
	}
	l.logger.Error("dualwrite: hand-off: a replay log entry cannot be decoded; dead-lettered", "dir", l.dir, "pos", p.String())
	if l.deadAhead == nil {
		l.deadAhead = map[Pos]bool{}
	}
	l.deadAhead[p] = true
	return nil
}

// cursorPos is the position every entry up to which is Done.
func (l *FileLog) cursorPos() Pos { return l.log.Cursor() }

// passed: every record up to p is Done.
func passed(cursor, p Pos) bool {
	return !(cursor.Segment < p.Segment || (cursor.Segment == p.Segment && cursor.Offset < p.Offset))
}

// peek says whether the entry of side sd and timestamp ts, found at at, waits for its leader
// (held) or was withdrawn in memory (void: an unnamed void of its side and timestamp, one naming
// at, as check would honour it, or one naming at that check consumed already: gone), without
// consuming anything (check, the replayer's, consumes a void).
func (h *holds) peek(sd side, ts int64, at Pos) (held, void bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if at != (Pos{}) && h.gone[at] {
		return false, true // withdrawn, and the replayer passed it already
	}
	st := h.m[holdKey{sd, ts}]
	if st == nil {
		return false, false
	}
	void = st.void > 0
	for _, p := range st.voidAt {
		if at != (Pos{}) && p.Segment == at.Segment && p.Offset == at.Offset {
			void = true
		}
	}
	return st.held > 0, void
}

// forget drops the consumed voids (gone) of the entries the cursor passed: nobody reads them again.
func (h *holds) forget(cursor Pos) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p := range h.gone {
		if passed(cursor, p) {
			delete(h.gone, p)
		}
	}
}

// share copies the entries after the last shared one to the store: those logged copyAfter ago
// or more (H2), or all of them (final, at Close: no holder, adoptable at once). It returns the
// position of the last record it covered (shared, withdrawn or undecodable) and stops at the
// first entry too young, or at a failure (then nothing after the last stored batch counts as
// shared: it is tried again). A held entry is skipped, not stopped at: the entries after it are
// shared and remembered (ahead), the frontier (copied) stays before it, and the next pass shares
// it once its leader answered.
func (h *handoffState) share(ctx context.Context, final bool) (Pos, error) {
	h.s.holds.forget(h.fl.cursorPos())
	h.mu.Lock()
	from := h.copied
	h.mu.Unlock()
	if c := h.fl.cursorPos(); !passed(from, c) {
		from = c
		h.mu.Lock()
		if passed(c, h.copied) {
			h.copied = c
		}
		h.mu.Unlock()
	}
	front := from                       // the frontier this pass reaches
	gap := false                        // a held entry was skipped in this pass: what follows it is shared "ahead"
	defer func() { h.noteUnshared() }() // on every path: a store that cannot be reached lets the window grow, and the metric says so
	cutoff := time.Now().Add(-h.cfg.copyAfter)
	holder := h.origin
	if final {
		holder = ""
	}
	// down: a side whose store failed in this pass; its entries are left for a later pass
	// (the frontier stays before the first of them) while the other side's are still copied (H6).
	var down [2]error
	for ctx.Err() == nil && (down[0] == nil || down[1] == nil) {
		recs, err := h.fl.readAfter(from, h.cfg.batch)
		if err != nil && len(recs) == 0 {
			return front, err
		}
		h.mu.Lock()
		ahead := make(map[Pos]bool, len(h.ahead))
		for p := range h.ahead {
			ahead[p] = true
		}
		adoptedEnd := h.adoptedEnd
		h.mu.Unlock()
		const (
			covered = iota // shared earlier, or needs not be
			taken          // to share now
			left           // held: shared by a later pass
		)
		var take []shareRec
		var at []int // take[j] is recs[at[j]]
		kind := make([]int, 0, len(recs))
		stopped := false
		for _, r := range recs {
			switch {
			case ahead[r.pos]:
				kind = append(kind, covered)
				continue
			case !r.bad && !final && r.e.Logged.After(cutoff) && !passed(r.pos, adoptedEnd):
				kind = append(kind, left) // young, but adopted entries follow it: passed over, not stopped at
				continue
			case !r.bad && !final && r.e.Logged.After(cutoff):
				stopped = true
			case !r.bad && !final:
				if held, _ := h.s.holds.peek(entrySide(&r.e), r.e.Timestamp, r.pos); held {
					kind = append(kind, left) // its leader has not answered: skipped, not stopped at
					continue
				}
			}
			if stopped {
				break
			}
			if !r.bad && down[entrySide(&r.e)] != nil {
				kind = append(kind, left) // its side's store failed in this pass: a later pass copies it (H6)
				continue
			}
			kind = append(kind, taken)
			take = append(take, r)
			at = append(at, len(kind)-1)
		}
		if len(take) > 0 {
			failed, err := h.put(ctx, take, holder, final)
			if err != nil {
				return front, err
			}
			for j, r := range take {
				if !r.bad && failed[entrySide(&r.e)] != nil {
					kind[at[j]] = left // not stored: behind the frontier, tried again by a later pass
				}
			}
			for sd, err := range failed {
				for o := range down {
					if err != nil && h.storeOf(side(o)) == h.storeOf(side(sd)) {
						down[o] = err
					}
				}
			}
		}
		// The frontier moves over the records covered up to the first one left behind; what is
		// shared after that one is remembered in ahead.
		h.mu.Lock()
		for i, k := range kind {
			switch {
			case k == left:
				gap = true
			case !gap:
				front = recs[i].pos
			case k == taken:
				h.ahead[recs[i].pos] = true
			}
		}
		if passed(front, h.copied) {
			h.copied = front
			for p := range h.ahead {
				if passed(front, p) {
					delete(h.ahead, p)
				}
			}
		}
		h.mu.Unlock()
		if len(kind) > 0 {
			from = recs[len(kind)-1].pos
		}
		if stopped || len(recs) < h.cfg.batch {
			break
		}
	}
	if h.storeOf(primarySide) == h.storeOf(secondarySide) {
		down[1] = nil // one store: one failure
	}
	for sd := range down {
		if errors.Is(down[sd], errStoreBusy) {
			down[sd] = nil // its outstanding call reports its own outcome
		}
	}
	return front, errors.Join(down[0], down[1], ctx.Err())
}

// put stores recs as one batch per side (H2: held by this instance's liveness lease unless final).
// Each side is stored on its own (H6): the lease is renewed only in the store the batch goes to,
// and a side whose store fails is returned in failed (its entries not stored) while the other
// side's batch is still stored. err is a failure that concerns every side (the local disk).
func (h *handoffState) put(ctx context.Context, recs []shareRec, holder string, final bool) (failed [2]error, err error) {
	var per [2][]shareRec
	for _, r := range recs {
		if r.bad {
			// An undecodable entry the replayer has not read yet is dead-lettered here, durably,
			// before the frontier (copied, or Close's Done) passes it (H1, H2): past the frontier
			// nobody would read it again. Its dead letter is copied with the others (copyAside).
			if err := h.fl.deadLetterUnread(r.pos, r.raw, "cannot be decoded (set aside by the hand-off)"); err != nil {
				return failed, fmt.Errorf("dualwrite: hand-off: dead-lettering an undecodable entry: %w", err)
			}
			continue
		}
		sd := entrySide(&r.e)
		if _, void := h.s.holds.peek(sd, r.e.Timestamp, r.pos); void || h.fl.voids.has(r.pos) {
			continue // withdrawn (in memory, or durably in DIR/withdrawn): its leader refused the write; never replayed anywhere
		}
		per[sd] = append(per[sd], r)
	}
	if final { // Close: no loop runs any more; each side at once, under Close's timeout
		var wg sync.WaitGroup
		for sd, rs := range per {
			if len(rs) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				failed[sd] = h.putSide(ctx, side(sd), rs, holder, final)
			}()
		}
		wg.Wait()
		return failed, nil
	}
	// In the background, each store on its own (launch): a store with a call outstanding is
	// skipped, and one that does not answer within the patience is left to go on alone (its
	// entries stay behind the frontier; stored late, they are remembered in ahead by putSide).
	var chs []<-chan error
	var of [][]side
	for i := range h.distinct() {
		var mine []side
		for sd, rs := range per {
			if len(rs) > 0 && h.storeOf(side(sd)) == i {
				mine = append(mine, side(sd))
			}
		}
		if len(mine) == 0 {
			continue
		}
		chs = append(chs, h.launch(ctx, i, func(ctx context.Context) error {
			var errs []error
			for _, sd := range mine {
				errs = append(errs, h.putSide(ctx, sd, per[sd], holder, false))
			}
			return errors.Join(errs...)
		}))
		of = append(of, mine)
	}
	for j, err := range h.await(chs) {
		for _, sd := range of[j] {
			failed[sd] = err
		}
	}
	return failed, nil
}

// putSide stores the entries rs, all owed to side sd, as one batch (put).
func (h *handoffState) putSide(ctx context.Context, sd side, rs []shareRec, holder string, final bool) error {
	raws := make([][]byte, len(rs))
	for i, r := range rs {
		raws[i] = r.raw
	}
	st := h.stores[sd]
	b, err := h.putHeld(ctx, sd, raws, holder, handoff.KindReplay)
	if err != nil {
		return err
	}
	if final {
		h.handedN.Add(int64(len(rs)))
	} else {
		h.copiedN.Add(int64(len(rs)))
		h.mu.Lock()
		h.own = append(h.own, ownBatch{id: b.ID, sd: sd, st: st, last: rs[len(rs)-1].pos, count: len(rs)})
		for _, r := range rs { // shared: covered by the next pass even if this one gave up waiting (launch)
			if !passed(h.copied, r.pos) {
				h.ahead[r.pos] = true
			}
		}
		h.mu.Unlock()
	}
	if h.s.hm != nil {
		h.s.hm.entries.WithLabelValues(map[bool]string{true: "handed_off", false: "copied"}[final]).Add(float64(len(rs)))
	}
	return nil
}

// putHeld stores one batch of side sd's entries of kind in that side's store, held by holder
// ("" at Close: adoptable at once). A held batch is protected by holder's liveness lease in the
// store that keeps it, and only there (internal/handoff's liveness is per store): so the lease is
// renewed in that store first, and only in that one (H6). The one path of every background copy
// (put, putAside).
func (h *handoffState) putHeld(ctx context.Context, sd side, raws [][]byte, holder, kind string) (handoff.Batch, error) {
	if holder == "" {
		return h.putBatch(ctx, sd, raws, holder, kind)
	}
	// A background copy: each call bounded (callBound).
	if err := h.storeCall(ctx, func(ctx context.Context) error { return h.beatStore(ctx, h.storeOf(sd), true) }); err != nil {
		return handoff.Batch{}, err
	}
	var b handoff.Batch
	err := h.storeCall(ctx, func(ctx context.Context) (err error) {
		b, err = h.putBatch(ctx, sd, raws, holder, kind)
		return err
	})
	return b, err
}

// beatEach renews the liveness lease in every distinct store at once, each under a timeout of its
// own (none when 0): a store that fails or hangs never keeps the others' renewal from happening,
// nor from counting (H6). It returns the failures, joined.
func (h *handoffState) beatEach(ctx context.Context, force bool, timeout time.Duration) error {
	n := len(h.distinct())
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bctx, cancel := ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				bctx, cancel = context.WithTimeout(ctx, timeout)
			}
			defer cancel()
			errs[i] = h.beatStore(bctx, i, force)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// beatStore renews this instance's liveness lease in distinct()[i] alone, when a third of its TTL
// has passed since the last renewal there (or force).
func (h *handoffState) beatStore(ctx context.Context, i int, force bool) error {
	h.mu.Lock()
	due := time.Since(h.beatAt[i]) >= h.cfg.lease/3
	h.mu.Unlock()
	if !due && !force {
		return nil
	}
	err := h.distinct()[i].Beat(ctx, h.scope, h.origin, h.owner, h.cfg.lease)
	h.writes.Add(1)
	if err != nil {
		where := "the shared store"
		if len(h.distinct()) > 1 {
			where = "the store of the " + side(i).String() + " side"
		}
		return fmt.Errorf("dualwrite: hand-off: renewing this instance's liveness lease in %s: %w", where, err)
	}
	h.mu.Lock()
	h.beatAt[i] = time.Now()
	h.mu.Unlock()
	return nil
}

// storeOf returns the index in distinct() of the store keeping side sd's entries.
func (h *handoffState) storeOf(sd side) int {
	if h.stores[0] == h.stores[1] {
		return 0
	}
	return int(sd)
}

func (h *handoffState) distinct() []handoff.Store {
	if h.stores[0] == h.stores[1] {
		return h.stores[:1]
	}
	return h.stores[:]
}

// noteUnshared measures the unshared age (H2): that of the first record after the last shared
// one, or of an adopted entry not yet shared behind it if older (adoptedEnd), read from the log
// at the moment it is called, so that a copy that hangs or a loop that waits lets the age grow
// where it is read. Called by every copy pass, by Handoff() and by the gauge's scrape; once Close's
// hand-off is over (the log may be closed), it returns the last measure.
func (h *handoffState) noteUnshared() time.Duration {
	if h.final.Load() {
		return time.Duration(h.unshared.Load())
	}
	h.mu.Lock()
	from := h.copied
	end := h.adoptedEnd
	ahead := make(map[Pos]bool, len(h.ahead)) // a snapshot: a copy pass moving on meanwhile only makes the age larger
	for p := range h.ahead {
		ahead[p] = true
	}
	h.mu.Unlock()
	n := 1 + len(ahead)
	var age time.Duration
	first := false // the first unshared record was seen
	for {
		recs, _ := h.fl.readAfter(from, n)
		for _, r := range recs {
			if first && passed(r.pos, end) && r.pos != end {
				break
			}
			if ahead[r.pos] {
				continue
			}
			if !r.bad {
				age = max(age, time.Since(r.e.Logged))
			}
			first = true
		}
		if len(recs) < n || (first && passed(recs[len(recs)-1].pos, end)) {
			break
		}
		from = recs[len(recs)-1].pos
	}
	h.unshared.Store(int64(age))
	for {
		m := h.maxUnshared.Load()
		if int64(age) <= m || h.maxUnshared.CompareAndSwap(m, int64(age)) {
			break
		}
	}
	return age
}

// cleanup deletes this instance's copy batches whose every entry the local cursor passed (H3),
// and keeps the liveness lease of the others alive. Each store on its own (launch, H6): a store
// with a call outstanding is skipped this time (its batches tried again next tick), and one that
// hangs holds back nothing of the other's.
func (h *handoffState) cleanup(ctx context.Context) {
	cur := h.fl.cursorPos()
	h.mu.Lock()
	var done, keep []ownBatch
	for _, b := range h.own {
		if passed(cur, b.last) {
			done = append(done, b)
		} else {
			keep = append(keep, b)
		}
	}
	h.own = keep
	held := len(keep) > 0 || len(h.asides) > 0
	h.mu.Unlock()
	requeue := func(bs []ownBatch) {
		h.mu.Lock()
		h.own = append(h.own, bs...) // tried again next tick
		h.mu.Unlock()
	}
	var chs []<-chan error
	for i := range h.distinct() {
		var mine []ownBatch
		for _, b := range done {
			if h.storeOf(b.sd) == i {
				mine = append(mine, b)
			}
		}
		if len(mine) == 0 && !held {
			continue
		}
		ch := h.launch(ctx, i, func(ctx context.Context) error {
			for j, b := range mine {
				if err := h.storeCall(ctx, func(ctx context.Context) error { return b.st.Delete(ctx, h.scope, b.id) }); err != nil {
					requeue(mine[j:])
					return fmt.Errorf("dualwrite: hand-off: deleting a copy whose entries landed (batch %s): %w", b.id, err)
				}
				h.writes.Add(2)
			}
			if !held {
				return nil
			}
			return h.storeCall(ctx, func(ctx context.Context) error { return h.beatStore(ctx, i, false) })
		})
		if ch == nil {
			requeue(mine)
		}
		chs = append(chs, ch)
	}
	for _, err := range h.await(chs) {
		if err != nil && ctx.Err() == nil && !errors.Is(err, errStoreBusy) {
			h.s.logger.Warn("dualwrite: hand-off", "err", err)
		}
	}
}

// adopt claims the batches other instances left (H4), unless this instance's own backlog is
// already high or the batch's side is down here. Each claim is bounded by its lease, and a batch
// this instance failed on (its claim ran out: a pause, a slow disk or replica) is left to the
// others for one lease (internal/handoff's invariants 7 and 8): the lease moves. Each store's
// claimer runs at once with the other's (H6): a store that fails or hangs (a listing may wait a
// lease TTL) never holds back the adoption of what the other keeps.
func (h *handoffState) adopt(ctx context.Context) {
	if h.closing.Load() {
		return
	}
	var wg sync.WaitGroup
	for _, a := range h.adopters() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.Once(ctx, 0)
			h.writes.Add(int64(3 * res.Batches))
			if err != nil && ctx.Err() == nil && !errors.Is(err, handoff.ErrShort) {
				h.s.logger.Warn("dualwrite: hand-off: adopting backlog other instances left", "err", err)
			}
			if res.Batches > 0 {
				h.s.logger.Info("dualwrite: hand-off: adopted backlog another instance left", "batches", res.Batches, "entries", res.Entries)
			}
		}()
	}
	wg.Wait()
}

// adopters returns the session's claimers, one per distinct store, made once: each remembers
// the batches it failed on (left to the others for a lease), so it lives as long as the session.
// Only the adoption loop (adoptStep) calls it.
func (h *handoffState) adopters() []*handoff.Adopter {
	if h.claimers != nil {
		return h.claimers
	}
	for _, st := range h.distinct() {
		// The claimer's name is unique to this session (h.origin): two sessions of one process
		// with the same instance name never take or release each other's leases.
		a := &handoff.Adopter{Store: st, Scope: h.scope, Owner: h.origin, TTL: h.cfg.lease,
			Skip: func(b handoff.Batch) bool {
				if h.closing.Load() || b.Holder == h.origin || h.lacksHere(b) {
					return true
				}
				sd := primarySide
				if b.Side == secondarySide.String() {
					sd = secondarySide
				}
				if sc := h.s.sides[sd]; sc != nil && sc.down() {
					return true
				}
				n, _ := h.s.log.Backlog()
				return n > int64(4*h.cfg.batch)
			},
			Sink: h.sink}
		if h.cfg.onClaim != nil {
			a.Claimed = func(ctx context.Context, b handoff.Batch) { h.cfg.onClaim(ctx, b.ID) }
		}
		h.claimers = append(h.claimers, a)
	}
	return h.claimers
}

// refresh lists the shared backlog per side (H5), for owedTo and Handoff().Owed. Each store is
// listed on its own, at once with the other and under a timeout of its own (H6): a store that
// fails or hangs makes unknown only the side it keeps (counted as one there), never the other's.
func (h *handoffState) refresh(ctx context.Context) {
	st := h.distinct()
	lists := make([][]handoff.Batch, len(st))
	errs := make([]error, len(st))
	var wg sync.WaitGroup
	for i := range st {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, refreshTimeout)
			defer cancel()
			lists[i], errs[i] = st[i].Batches(lctx, h.scope)
		}()
	}
	wg.Wait()
	owed, replay := map[string]int64{}, map[string]int64{}
	for _, bs := range lists {
		for _, b := range bs { // handoff.Backlog, and its replay batches apart
			owed[b.Side] += int64(b.Entries)
			if b.Kind() == handoff.KindReplay {
				replay[b.Side] += int64(b.Entries)
			}
		}
	}
	var owedErr [2]error
	for sd := range owedErr {
		owedErr[sd] = errs[h.storeOf(side(sd))]
	}
	h.mu.Lock()
	h.owed, h.owedReplay, h.owedErr, h.owedAt = owed, replay, owedErr, time.Now()
	h.mu.Unlock()
}

// replayOwedTo counts the replay batches of the shared backlog for side sd as last listed (no
// dead letters or uncertain writes), for Open's check of the primary in dual (openAuthority,
// H5), which counts the local log's the same way. A listing that failed counts nothing here
// (logged): the primary's entries are kept in the secondary's cluster, often the side that is
// down when a session opens in dual; refusing then would stop dual where it is needed most.
func (h *handoffState) replayOwedTo(sd side) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.owedErr[sd]; err != nil {
		h.s.logger.Warn("dualwrite: the shared replay backlog could not be read; Open counts what it listed", "side", sd.String(), "err", err)
	}
	return h.owedReplay[sd.String()]
}

// refreshTimeout bounds one listing of the shared backlog.
const refreshTimeout = 2 * time.Second

// maxListingAge is how old the last listing may be before the shared backlog counts as unknown
// (one, as a failed listing): two listing periods plus one listing's time.
func (h *handoffState) maxListingAge() time.Duration { return 2*h.listEvery + refreshTimeout }

// errRefusedForGood marks an entry landOwedToAuthority could not land because its side refuses it
// for good: it is owed to this session's authority and did not land, so its batch stays in the
// store (sink, handoff_take.go).
var errRefusedForGood = errors.New("refused for good")

// landOwedToAuthority replays, on the side the session's phase makes authoritative, the entries of
// es owed to it (H4), and returns the outcome of each entry tried by index: nil when it landed,
// errRefusedForGood when its side refuses it for good. A transient failure stops it with an error: the
// batch stays in the store.
func (h *handoffState) landOwedToAuthority(ctx context.Context, b handoff.Batch, es []Entry) (map[int]error, error) {
	auth := h.s.Phase().leader()
	out := map[int]error{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64) // as many at once as the appends: the claim's lease bounds the whole batch
	for i := range es {
		if entrySide(&es[i]) != auth {
			continue
		}
		g.Go(func() error {
			err := h.s.applyReplay(gctx, &es[i])
			switch {
			case err == nil:
			case replayPermanent(err) && gctx.Err() == nil:
				err = errRefusedForGood
			default:
				return err
			}
			mu.Lock()
			out[i] = err
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("dualwrite: hand-off: batch %s holds writes owed to the %s side, authoritative in this "+
			"session's phase: landing them before adopting the batch: %w", b.ID, auth, err)
	}
	return out, nil
}

// asideKinds are the local stores of entries set aside, by batch kind.
func (h *handoffState) asideKinds() []asideKind {
	return []asideKind{{handoff.KindDeadLetter, h.fl.DeadLetters, h.fl.DropDeadLetters},
		{handoff.KindUncertain, h.fl.UncertainEntries, h.fl.DropUncertain}}
}

type asideKind struct {
	kind string
	list func() ([]Aside, error)
	drop func(context.Context, []int) (int, error)
}

// copyAside keeps the shared store's copies of this instance's dead letters and uncertain writes
// in step with the local ones (invariant 6), in the background: a copy holding an entry no longer
// here (retried or dropped by an operator) is deleted, and what no copy holds is copied, held by
// this instance's liveness lease (nobody adopts it while this instance lives; at Close or when it
// dies, they are adopted like its replay copies). So a crash that loses the disk loses none set
// aside more than adoptEvery + a copy's time ago.
//
// Copies are kept per side (asideCopy.sd): an entry is copied to the store of every side it is
// owed to (asideSides: both for one that cannot be decoded), and is copied there only when that
// side's store holds no copy of it yet. Each store is worked on its own, at once with the other
// (H6), and every kind is attempted in each: one kind's or one store's failure keeps back none of
// the others' copies; the failures are returned joined.
func (h *handoffState) copyAside(ctx context.Context) error {
	var errs []error
	var lists []asideList
	for _, k := range h.asideKinds() {
		as, err := k.list()
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the local %s entries: %w", k.kind, err))
			continue
		}
		lists = append(lists, asideList{kind: k.kind, as: as})
	}
	h.mu.Lock()
	snapshot := append([]asideCopy(nil), h.asides...)
	h.mu.Unlock()
	var chs []<-chan error
	for i := range h.distinct() { // each store on its own (launch, H6)
		chs = append(chs, h.launch(ctx, i, func(ctx context.Context) error { return h.copyAsideStore(ctx, i, lists, snapshot) }))
	}
	for _, err := range h.await(chs) {
		if !errors.Is(err, errStoreBusy) { // a store with a call outstanding: its copies are brought up to date next pass
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// asideList is one kind's local entries set aside, as listed by copyAside.
type asideList struct {
	kind string
	as   []Aside
}

// asideKey names one copy of one aside entry: its kind, its ID and the side whose store keeps it.
type asideKey struct {
	kind string
	id   int
	sd   side
}

// asideSides returns the sides an aside entry is owed to: its own, or both when it cannot be
// decoded (no side known; counted locally for both, DeadLettersFor).
func asideSides(a *Aside) []side {
	if a.Raw != nil {
		return []side{primarySide, secondarySide}
	}
	return []side{entrySide(&a.Entry)}
}

// asideRaw returns the bytes of an aside entry as the store keeps them.
func asideRaw(a *Aside) ([]byte, error) {
	if a.Raw != nil {
		return a.Raw, nil
	}
	return encodeEntry(&a.Entry)
}

// copyAsideStore is copyAside's work on distinct store i: delete the copies it keeps holding an
// entry no longer here, then copy, kind by kind and side by side, what it keeps no copy of. Every
// kind and side is attempted; the failures are returned joined.
func (h *handoffState) copyAsideStore(ctx context.Context, i int, lists []asideList, snapshot []asideCopy) error {
	var errs []error
	here := map[string]map[int]bool{}
	for _, l := range lists {
		m := make(map[int]bool, len(l.as))
		for _, a := range l.as {
			m[a.ID] = true
		}
		here[l.kind] = m
	}
	copied := map[asideKey]bool{}
	for _, c := range snapshot {
		if h.storeOf(c.sd) != i {
			continue
		}
		if m, listed := here[c.kind]; listed {
			whole := true
			for _, id := range c.ids {
				whole = whole && m[id]
			}
			if !whole {
				if err := h.storeCall(ctx, func(ctx context.Context) error { return c.st.Delete(ctx, h.scope, c.id) }); err != nil {
					errs = append(errs, fmt.Errorf("deleting the stale %s copy %s: %w", c.kind, c.id, err))
				} else {
					h.writes.Add(2)
					h.dropAsideCopy(c.id)
					continue // its entries still here are copied again below
				}
			}
		}
		for _, id := range c.ids {
			copied[asideKey{c.kind, id, c.sd}] = true
		}
	}
	for _, l := range lists {
		for sd := range h.stores {
			if h.storeOf(side(sd)) != i {
				continue
			}
			var todo []Aside
			for _, a := range l.as {
				for _, o := range asideSides(&a) {
					if o == side(sd) && !copied[asideKey{l.kind, a.ID, o}] {
						todo = append(todo, a)
					}
				}
			}
			if len(todo) == 0 {
				continue
			}
			if err := h.putAsideSide(ctx, side(sd), l.kind, todo, h.origin); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// dropAsideCopy forgets the held aside copy id (deleted from its store).
func (h *handoffState) dropAsideCopy(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := h.asides[:0]
	for _, c := range h.asides {
		if c.id != id {
			keep = append(keep, c)
		}
	}
	h.asides = keep
}

// putAsideSide stores aside entries of kind owed to side sd as one batch in that side's store,
// held by holder (putHeld: the lease renewed in that store alone; "" at Close: adoptable at once),
// and remembers the copy (held) per side.
func (h *handoffState) putAsideSide(ctx context.Context, sd side, kind string, as []Aside, holder string) error {
	raws := make([][]byte, 0, len(as))
	ids := make([]int, 0, len(as))
	for i := range as {
		raw, err := asideRaw(&as[i])
		if err != nil {
			return fmt.Errorf("encoding a %s entry: %w", kind, err)
		}
		raws = append(raws, raw)
		ids = append(ids, as[i].ID)
	}
	b, err := h.putHeld(ctx, sd, raws, holder, kind)
	if err != nil {
		return err
	}
	if holder == "" {
		h.handedN.Add(int64(len(raws)))
		return nil
	}
	h.copiedN.Add(int64(len(raws)))
	h.mu.Lock()
	h.asides = append(h.asides, asideCopy{id: b.ID, st: h.stores[sd], sd: sd, kind: kind, ids: ids})
	h.mu.Unlock()
	return nil
}

// handAside hands this instance's dead letters and uncertain writes to the store at Close
// (invariant 6), then drops them locally: they count against their side's authority there, and
// an adopter keeps them for the operator. A copy already held in a side's store (copyAside) is
// not put there again: it becomes adoptable when Close drops the liveness lease. An entry is
// dropped locally only once the store of every side it is owed to holds it (asideSides): a kind
// of which one side's batch failed stays here whole (the next session on the directory hands it
// off; what was stored meanwhile counts twice against its side, the safe side).
func (h *handoffState) handAside(ctx context.Context) (int, error) {
	total := 0
	var errs []error
	for _, k := range h.asideKinds() {
		as, err := k.list()
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the local %s entries: %w", k.kind, err))
			continue
		}
		if len(as) == 0 {
			continue
		}
		copied := map[asideKey]bool{}
		h.mu.Lock()
		for _, c := range h.asides {
			if c.kind == k.kind {
				for _, id := range c.ids {
					copied[asideKey{c.kind, id, c.sd}] = true
				}
			}
		}
		h.mu.Unlock()
		var todo [2][]Aside
		ids := make([]int, 0, len(as))
		for _, a := range as {
			ids = append(ids, a.ID)
			for _, sd := range asideSides(&a) {
				if !copied[asideKey{k.kind, a.ID, sd}] {
					todo[sd] = append(todo[sd], a)
				}
			}
		}
		var perr [2]error
		var wg sync.WaitGroup // each side's store at once (H6)
		for sd := range todo {
			if len(todo[sd]) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				perr[sd] = h.putAsideSide(ctx, side(sd), k.kind, todo[sd], "")
			}()
		}
		wg.Wait()
		if err := errors.Join(perr[0], perr[1]); err != nil {
			errs = append(errs, err)
			continue // not held by every side it is owed to: kept here
		}
		if _, err := k.drop(ctx, ids); err != nil {
			// In the store and still here: counted twice against the side (the safe side).
			h.s.logger.Error("dualwrite: hand-off at Close: dropping handed-off "+k.kind+" entries locally", "err", err)
		}
		total += len(as)
	}
	return total, errors.Join(errs...)
}

// putBatch stores raws as one batch of kind for side sd, held by holder ("" = adoptable at once).
func (h *handoffState) putBatch(ctx context.Context, sd side, raws [][]byte, holder, kind string) (handoff.Batch, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b := handoff.Batch{ID: fmt.Sprintf("%016x-%s-%s%s", time.Now().UnixNano(), h.owner, hex.EncodeToString(rnd[:]), handoff.KindSuffix(kind)),
		Side: sd.String(), Entries: len(raws), Origin: h.owner, Holder: holder, Created: time.Now()}
	if err := h.stores[sd].Put(ctx, h.scope, b, raws); err != nil {
		return b, err
	}
	h.writes.Add(int64(len(raws) + 1))
	return b, nil
}

// owedTo counts the shared backlog for side sd (H5) as last listed (at most adoptEvery ago, 1 s:
// never read with the phase gate held), this instance's copies included; a listing that failed
// counts as one.
func (h *handoffState) owedTo(sd side) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.owedErr[sd]; err != nil {
		h.s.logger.Warn("dualwrite: the shared replay backlog could not be read (counted as one)", "side", sd.String(), "err", err)
		return h.owed[sd.String()] + 1
	}
	if age := time.Since(h.owedAt); age > h.maxListingAge() {
		h.s.logger.Warn("dualwrite: the last listing of the shared replay backlog is too old (counted as one)", "age", age.Round(time.Millisecond).String())
		return h.owed[sd.String()] + 1
	}
	return h.owed[sd.String()]
}

// drainBeforeClose gives the replayer up to the drain deadline to empty the log (Close, before
// the replayer stops).
func (h *handoffState) drainBeforeClose() {
	h.closing.Store(true)
	if n, _ := h.s.log.Backlog(); n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.drain)
	defer cancel()
	_ = h.s.WaitReplayed(ctx)
}

// closeHandoff is Close's hand-off, once the replayer has stopped: what the log still holds goes
// to the store (H1), this instance's copies are released to the others (H3), and the log is
// emptied. It returns the error that kept something owed on this instance only — the backlog in
// the local log, dead letters or uncertain writes it could not store, uncertain writes kept in
// memory only (owed.go) — and nil only once everything owed is in the store.
func (h *handoffState) closeHandoff() error {
	close(h.stop)
	h.wg.Wait()    // every loop stopped: the final copy below races no background copy or adoption
	h.calls.Wait() // nor a store call a loop left going on (launch; its context is cancelled)
	defer h.closer()
	defer h.final.Store(true) // after the final copy's measure: the log may be closed from here on
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout)
	defer cancel()
	start := time.Now()
	h.cleanup(ctx)
	h.calls.Wait() // a cleanup that gave up waiting (launch) is over before the final copy
	n, _ := h.s.log.Backlog()
	if n > 0 {
		last, err := h.share(ctx, true)
		if err != nil {
			h.s.logger.Error("dualwrite: hand-off at Close failed: the backlog stays in the local replay log for the next session on this directory",
				"backlog", n, "handed_off", h.handedN.Load(), "err", err)
			return fmt.Errorf("the hand-off at Close failed: %w", err)
		}
		if err := h.fl.Done(last); err != nil {
			h.s.logger.Error("dualwrite: hand-off at Close: emptying the local log (its entries are in the shared store too: replaying them twice is harmless)", "err", err)
		}
	}
	if err := h.copyAside(ctx); err != nil { // first: no held copy of an entry an operator dropped since
		h.s.logger.Warn("dualwrite: hand-off at Close: bringing the copies of dead letters and uncertain writes up to date", "err", err)
	}
	h.calls.Wait() // the copies are up to date (launch) before handAside reads them
	aside, asideErr := h.handAside(ctx)
	if asideErr != nil {
		h.s.logger.Error("dualwrite: hand-off at Close: dead letters or uncertain writes stay on this disk only", "err", asideErr)
		asideErr = fmt.Errorf("the hand-off at Close could not store the dead letters or uncertain writes: %w", asideErr)
	}
	h.mu.Lock()
	left := 0
	for _, b := range h.own {
		left += b.count
	}
	h.own = nil
	for _, c := range h.asides {
		left += len(c.ids)
	}
	h.asides = nil
	h.mu.Unlock()
	var wg sync.WaitGroup // each store at once: one that hangs delays nothing of the other's (H6)
	for _, st := range h.distinct() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = st.Drop(ctx, h.scope, h.origin) // its copies become adoptable at once (H3)
		}()
	}
	wg.Wait()
	if n > 0 || left > 0 || aside > 0 {
		h.s.logger.Info("dualwrite: hand-off at Close: the replay backlog is in the shared store for another instance to adopt",
			"scope", h.scope, "backlog", n, "handed_off", h.handedN.Load(), "copies_released", left, "dead_letters_and_uncertain", aside,
			"took", time.Since(start).Round(time.Millisecond).String())
	}
	// Success only when everything owed is in the store (owed.go): what it could not store fails it.
	return errors.Join(asideErr, h.s.unstorable())
}

// Handoff returns what the hand-off did (the zero value without WithHandoff).
func (s *Session) Handoff() HandoffStats {
	h := s.ho
	if h == nil {
		return HandoffStats{}
	}
	unshared := h.noteUnshared() // measured now, not at the last copy pass
	h.mu.Lock()
	owed := make(map[string]int64, len(h.owed))
	for k, v := range h.owed {
		owed[k] = v
	}
	h.mu.Unlock()
	return HandoffStats{Copied: h.copiedN.Load(), HandedOff: h.handedN.Load(), Adopted: h.adoptedN.Load(), Writes: h.writes.Load(),
		UnsharedAge: unshared, MaxUnsharedAge: time.Duration(h.maxUnshared.Load()), Owed: owed}
}

// handoffMetrics are the hand-off's series (labels session).
type handoffMetrics struct {
	entries *prometheus.CounterVec // how: copied, handed_off, adopted
}

func (h *handoffState) registerMetrics() {
	reg := h.s.cfg.reg
	if reg == nil {
		return
	}
	lbl := prometheus.Labels{"session": h.s.cfg.name}
	// Measured at each scrape (noteUnshared), not at the last copy pass: a hung copy shows.
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "islands_dualwrite_handoff_unshared_age_seconds",
		Help: "Age of the oldest replay log entry kept only on this instance's disk: the loss window of a crash that also loses the disk.", ConstLabels: lbl},
		func() float64 { return h.noteUnshared().Seconds() }))
	m := &handoffMetrics{
		entries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_dualwrite_handoff_entries_total",
			Help: "Replay log entries copied to the shared store in the background, handed off at Close, and adopted from it.", ConstLabels: lbl}, []string{"how"})),
	}
	for _, how := range []string{"copied", "handed_off", "adopted"} {
		m.entries.WithLabelValues(how)
	}
	h.s.hm = m
}

// callBound bounds each store call of the background loops (a Beat, a Put, a Delete): the share
// of the liveness TTL renewLiveness gives each renewal. A store that hangs (a partitioned
// coordinator) answers no later than that.
func (h *handoffState) callBound() time.Duration { return max(h.cfg.lease/3, time.Millisecond) }

// storeCall runs one store call of the background loops under callBound.
func (h *handoffState) storeCall(ctx context.Context, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, h.callBound())
	defer cancel()
	return f(cctx)
}

// errStoreBusy: a background call to the store (launch) has not returned yet; the store is
// skipped until it has (H6).
var errStoreBusy = errors.New("dualwrite: hand-off: the store has a call outstanding (skipped until it returns)")

// errStorePending: the store did not answer within the patience (await); the call goes on alone,
// bounded by callBound, and what it stores is recorded when it returns.
var errStorePending = errors.New("dualwrite: hand-off: the store has not answered yet (the call goes on in the background)")

// patience is how long a background pass waits for a store's calls (await) before going on
// without them: a tick, at least a second, at most callBound.
func (h *handoffState) patience() time.Duration {
	return min(h.callBound(), max(h.tick(), time.Second))
}

// launch runs job, the background calls to distinct store i, in a goroutine of its own under ctx
// (the loop's: cancelled at Close, which waits for it: calls), each call bounded (storeCall). It
// returns nil without running job when a call to that store is still outstanding (busy): a store
// that hangs holds one call at a time, and the other store's calls never wait behind it (H6). The
// channel receives job's result; job records what it stored itself (a late answer counts too).
func (h *handoffState) launch(ctx context.Context, i int, job func(ctx context.Context) error) <-chan error {
	h.mu.Lock()
	if h.busy[i] {
		h.mu.Unlock()
		return nil
	}
	h.busy[i] = true
	h.mu.Unlock()
	ch := make(chan error, 1)
	h.calls.Add(1)
	go func() {
		defer h.calls.Done()
		err := job(ctx)
		h.mu.Lock()
		h.busy[i] = false
		h.mu.Unlock()
		ch <- err
	}()
	return ch
}

// await returns the results of launched calls (errStoreBusy for one not launched), waiting for
// them at most the patience: a call still outstanding then is errStorePending.
func (h *handoffState) await(chs []<-chan error) []error {
	out := make([]error, len(chs))
	t := time.NewTimer(h.patience())
	defer t.Stop()
	expired := false
	for j, ch := range chs {
		if ch == nil {
			out[j] = errStoreBusy
			continue
		}
		if !expired {
			select {
			case out[j] = <-ch:
				continue
			case <-t.C:
				expired = true
			}
		}
		select {
		case out[j] = <-ch:
		default:
			out[j] = errStorePending
		}
	}
	return out
}
