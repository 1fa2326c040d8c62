package cachesync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/bradfitz/gomemcache/memcache"
)

// Tests for the fixes of the attack-7 defects (issue 23).

// TestSupersedesIsTheDatabasesOrder checks the one ordering rule against Cassandra's cell
// reconciliation on the time: the later time wins; at one time a delete wins over a value (or an
// invalidation) whatever the origins and writers; otherwise origin, then writer; at the very same
// version a value wins over an invalidation (cs8fix). It is a strict total order on (version, kind).
func TestSupersedesIsTheDatabasesOrder(t *testing.T) {
	type e struct {
		v Version
		k Kind
	}
	var all []e
	for _, us := range []int64{10, 11} {
		for _, o := range []string{"a", "b"} {
			for _, w := range []uint32{0, 1, 2} {
				for _, k := range []Kind{KindValue, KindTombstone, KindInvalidation} {
					all = append(all, e{Version{Micros: us, Origin: o, Writer: w}, k})
				}
			}
		}
	}
	for _, x := range all {
		for _, y := range all {
			xy, yx := Supersedes(x.v, x.k, y.v, y.k), Supersedes(y.v, y.k, x.v, x.k)
			if x == y {
				if xy {
					t.Fatalf("%+v supersedes itself (a retry must change nothing)", x)
				}
				continue
			}
			if xy == yx {
				t.Fatalf("%+v and %+v: not ordered one way (%v, %v)", x, y, xy, yx)
			}
			if x.v.Micros == y.v.Micros && x.k == KindTombstone && y.k != KindTombstone && !xy {
				t.Fatalf("delete %+v does not win over %+v of its time", x, y)
			}
			if x.v == y.v && x.k == KindValue && y.k == KindInvalidation && !xy {
				t.Fatalf("value %+v does not win over the invalidation at its own version", x)
			}
			if x.v.Micros > y.v.Micros && !xy {
				t.Fatalf("%+v does not win over the older %+v", x, y)
			}
			for _, z := range all {
				if xy && Supersedes(y.v, y.k, z.v, z.k) && !Supersedes(x.v, x.k, z.v, z.k) {
					t.Fatalf("not transitive: %+v > %+v > %+v", x, y, z)
				}
			}
		}
	}
}

// TestSetAfterDeleteAtTheSameVersionIsRefused: a tombstone at v wins over a value at v in either
// order, at the Client: Set(v) after DeleteAt(v) is ErrNotApplied and sends nothing (never a set);
// a Set at v over the value at v stays an idempotent retry that sends its event again.
func TestSetAfterDeleteAtTheSameVersionIsRefused(t *testing.T) {
	c, _, sink := newTestClient(t, nil)
	ctx := context.Background()
	v := c.Now()
	if _, err := c.Set(ctx, &Item{Key: "r", Value: []byte("x"), Version: v}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, &Item{Key: "r", Value: []byte("x"), Version: v}); err != nil {
		t.Fatalf("a Set retried at the version of the value held: %v", err)
	}
	if n := len(sink.evs); n != 2 {
		t.Fatalf("a retried Set sent %d events, want 2 (it sends its event again)", n)
	}
	w := c.Now()
	if _, err := c.DeleteAt(ctx, "k", w); err != nil {
		t.Fatal(err)
	}
	sent := len(sink.evs)
	_, err := c.Set(ctx, &Item{Key: "k", Value: []byte("written at w"), Version: w})
	if !errors.Is(err, ErrNotApplied) {
		t.Errorf("Set(k, w) after DeleteAt(k, w): %v, want ErrNotApplied", err)
	}
	if len(sink.evs) != sent {
		t.Errorf("Set(k, w) after DeleteAt(k, w) sent %s: the delete at w wins", sink.evs[len(sink.evs)-1].Op)
	}
	if _, err := c.Add(ctx, &Item{Key: "k", Value: []byte("added at w"), Version: w}); !errors.Is(err, memcache.ErrNotStored) {
		t.Errorf("Add(k, w) after DeleteAt(k, w): %v, want ErrNotStored", err)
	}
	if it, err := c.Get(ctx, "k"); err == nil {
		t.Errorf("after DeleteAt(k, w) and Set(k, w) the cache serves %q", it.Value)
	}
}

// TestModelCollidingVersionsConverge: writes (replicated sets, invalidate-mode sets and deletes)
// at colliding versions — one µs, several origins and writers, a set and a delete at the very same
// version — made through each region's Clients and delivered to every region's agent (the
// origin's own queue included) in any order, with duplicates, leave every region holding the same
// entry: the database's (the greatest by Supersedes), as an invalidation where the write was
// invalidate-mode and the region not its origin. After every step no region holds an entry older
// than one it held before. Then (cs8fix) the clock moves SecondInvalidation on and every event's
// own late second event reaches every region, in any order, with duplicates: every region still
// serves what the database holds (a replicated value is not wiped by its own second event, nor an
// invalidate-mode value at its origin by its own queue's).
func TestModelCollidingVersionsConverge(t *testing.T) {
	for seed := uint64(1); seed <= 400; seed++ {
		if err := runCollisions(seed); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

type collisionWrite struct {
	region int
	v      Version
	del    bool
	inv    bool // an invalidate-mode set: the origin stores the value, the others hear an invalidation
	value  string
}

// kind is the write as the database holds it.
func (w collisionWrite) kind() Kind {
	if w.del {
		return KindTombstone
	}
	return KindValue
}

func runCollisions(seed uint64) error {
	rnd := rand.New(rand.NewPCG(seed, 0x7))
	clk := newTestClock()
	const ttl = time.Minute
	n := 2 + rnd.IntN(2)
	type node struct {
		mc    *fakeMemcache
		c, ci *Client // replicate, invalidate mode
		sink  *recSink
		a     *Agent
		held  Stored
		heldK bool
	}
	nodes := make([]*node, n)
	for i := range nodes {
		mc := newFakeMemcache(clk.now)
		s := &recSink{}
		nd := &node{mc: mc, sink: s, a: testAgent(mc, clk, ttl)}
		for _, m := range []struct {
			c    **Client
			mode Mode
		}{{&nd.c, Replicate}, {&nd.ci, Invalidate}} {
			c, err := NewClient(mc, s, ClientOptions{Region: fmt.Sprintf("r%d", i), Rules: Rules{Default: m.mode},
				TombstoneTTL: ttl, Now: clk.now})
			if err != nil {
				return err
			}
			*m.c = c
		}
		nodes[i] = nd
	}
	// Writes at colliding versions: two µs, every region as origin, writers 1 and 2; a set and a
	// delete may share their very version, two sets never do (no two writers stamp one version).
	base := clk.now().UnixMicro()
	var writes []collisionWrite
	used := map[Version]bool{}
	for len(writes) < 3+rnd.IntN(6) {
		r := rnd.IntN(n)
		v := Version{Micros: base + int64(rnd.IntN(2)), Origin: fmt.Sprintf("r%d", rnd.IntN(n)), Writer: uint32(1 + rnd.IntN(2))}
		kind := rnd.IntN(3)
		del := kind == 0
		if !del {
			if used[v] {
				continue
			}
			used[v] = true
		}
		writes = append(writes, collisionWrite{region: r, v: v, del: del, inv: kind == 2, value: fmt.Sprintf("w%d", len(writes))})
	}
	type pending struct {
		to int
		ev *Event
	}
	var flight []pending
	var sent []*Event
	ctx := context.Background()
	var log []string
	check := func(what string) error {
		for i, nd := range nodes {
			it, err := nd.mc.Get("k")
			if err != nil {
				continue
			}
			s, err := DecodeItem(it)
			if err != nil {
				return fmt.Errorf("after %s: r%d holds an undecodable entry: %v", what, i, err)
			}
			if nd.heldK && Supersedes(nd.held.Version, nd.held.Kind, s.Version, s.Kind) {
				return fmt.Errorf("after %s: r%d holds %+v, older than %+v it held before\n%v", what, i, s, nd.held, log)
			}
			nd.held, nd.heldK = s, true
		}
		return nil
	}
	deliver := func() error {
		for len(flight) > 0 {
			i := rnd.IntN(len(flight))
			p := flight[i]
			if rnd.IntN(4) != 0 { // else a duplicate: delivered again later
				flight = append(flight[:i], flight[i+1:]...)
			}
			if err := nodes[p.to].a.apply(ctx, p.ev, types.Message{}); err != nil {
				return fmt.Errorf("apply %s %+v at r%d: %v", p.ev.Op, p.ev.Version, p.to, err)
			}
			what := fmt.Sprintf("r%d applies %s %+v", p.to, p.ev.Op, p.ev.Version)
			log = append(log, what)
			if err := check(what); err != nil {
				return err
			}
		}
		return nil
	}
	next := 0
	for next < len(writes) || len(flight) > 0 {
		if next < len(writes) && (len(flight) == 0 || rnd.IntN(3) == 0) {
			w := writes[next]
			next++
			nd := nodes[w.region]
			before := len(nd.sink.evs)
			var err error
			switch {
			case w.del:
				_, err = nd.c.DeleteAt(ctx, "k", w.v)
			case w.inv:
				_, err = nd.ci.Set(ctx, &Item{Key: "k", Value: []byte(w.value), Version: w.v})
			default:
				_, err = nd.c.Set(ctx, &Item{Key: "k", Value: []byte(w.value), Version: w.v})
			}
			if err != nil && !errors.Is(err, ErrNotApplied) {
				return fmt.Errorf("write %+v: %v", w, err)
			}
			log = append(log, fmt.Sprintf("r%d writes %+v: %v", w.region, w, err))
			for _, ev := range nd.sink.evs[before:] {
				sent = append(sent, ev)
				for to := range nodes { // the origin's own queue included
					flight = append(flight, pending{to, ev})
				}
			}
			if err := check(fmt.Sprintf("write %+v", w)); err != nil {
				return err
			}
			continue
		}
		if err := deliver(); err != nil {
			return err
		}
	}
	// The database's entry: the greatest write by the one order.
	want := writes[0]
	for _, w := range writes[1:] {
		if Supersedes(w.v, w.kind(), want.v, want.kind()) {
			want = w
		}
	}
	for i, nd := range nodes {
		it, err := nd.mc.Get("k")
		if err != nil {
			return fmt.Errorf("r%d holds nothing, want %+v\n%v", i, want, log)
		}
		wantKind := want.kind()
		if want.inv && i != want.region {
			wantKind = KindInvalidation
		}
		s, err := DecodeItem(it)
		if err != nil || s.Version != want.v || s.Kind != wantKind || (wantKind == KindValue && string(s.Value) != want.value) {
			return fmt.Errorf("r%d holds %+v (%q), the database %+v\n%v", i, s, s.Value, want, log)
		}
	}
	// SecondInvalidation later every event's second event reaches every region (late: a set's is
	// applied as an invalidation at its version). Tombstones may have expired meanwhile, so the
	// order check starts again from what is held now.
	clk.add(ttl + 2*DefaultMaxClockSkew)
	for _, nd := range nodes {
		nd.heldK = false
	}
	if err := check("the clock moves on"); err != nil {
		return err
	}
	for _, ev := range sent {
		if sec := SecondEvent(ev); sec != nil {
			for to := range nodes {
				flight = append(flight, pending{to, sec})
			}
		}
	}
	log = append(log, "-- second events --")
	if err := deliver(); err != nil {
		return err
	}
	for i, nd := range nodes {
		served := "miss"
		if it, err := nd.mc.Get("k"); err == nil {
			if s, err := DecodeItem(it); err == nil && !s.At(clk.now()).Tombstone() {
				served = string(s.Value)
			}
		}
		wantServed := want.value
		if want.del || (want.inv && i != want.region) {
			wantServed = "miss"
		}
		if served != wantServed {
			return fmt.Errorf("after the second events r%d serves %q, the database holds %+v (want %q)\n%v", i, served, want, wantServed, log)
		}
	}
	return nil
}

// TestOneRegionDownCostsOnlyItsOwnEvents: without a spill, a destination whose buffer is full (its
// region down) loses only its own copy of each event, in either order of the destinations: the
// healthy one receives every event and ErrDropped names the full destination only.
func TestOneRegionDownCostsOnlyItsOwnEvents(t *testing.T) {
	for _, downFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("downFirst=%v", downFirst), func(t *testing.T) {
			f := newFakeSQS(t)
			b, c := f.url("b"), f.url("c")
			f.setDown(c, true)
			urls := []string{b, c}
			if downFirst {
				urls = []string{c, b}
			}
			p, err := NewPublisher(f.client(), urls, PublisherOptions{Buffer: 1, Senders: 1, BatchSize: 1, PublishTimeout: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, p, 300*time.Millisecond)
			const n = 20
			dropped := 0
			for i := 0; i < n; i++ {
				ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i),
					Version: Version{Micros: time.Now().UnixMicro(), Origin: "a"}}
				err := p.Publish(context.Background(), ev)
				if errors.Is(err, ErrDropped) {
					dropped++
					if msg := err.Error(); !strings.Contains(msg, c) || strings.Contains(msg, b) {
						t.Fatalf("ErrDropped should name the full destination %s only: %v", c, err)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) && len(f.counts(b)) < n {
				time.Sleep(20 * time.Millisecond)
			}
			if got := len(f.counts(b)); got < n {
				t.Errorf("healthy region B received %d of %d events", got, n)
			}
			if dropped == 0 {
				t.Errorf("no Publish reported C's copies dropped")
			}
		})
	}
}

// TestPublishAwaitingASpillAnswerEndsWithClose: a Publish waiting for a stalled spill append
// holds no lock (Close and new Publish calls go on) and its wait ends when Close ends the spill
// appends (deadline plus closeSpillGrace), with ErrUnconfirmed or ErrDropped, never nil; a
// Publish begun while Close runs gets ErrClosed without waiting for the stalled one.
func TestPublishAwaitingASpillAnswerEndsWithClose(t *testing.T) {
	s := &batchLimitSQS{accepted: map[string]int{}, down: true}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{Senders: 1, Buffer: 1, BatchSize: 1,
		PublishTimeout: 2 * time.Second, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p.appendSpill = func(ctx context.Context, b []byte) error { <-ctx.Done(); return ctx.Err() }
	ctx := context.Background()
	ev := func(i int) *Event {
		return &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i),
			Version: Version{Micros: time.Now().UnixMicro(), Origin: "us"}}
	}
	for i := 0; i < 3; i++ {
		if err := p.Publish(ctx, ev(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stuck := make(chan error, 1)
	go func() { stuck <- p.Publish(ctx, ev(3)) }()
	time.Sleep(100 * time.Millisecond)
	const deadline = 200 * time.Millisecond
	cctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	closed := make(chan struct{})
	start := time.Now()
	go func() { p.Close(cctx); close(closed) }()
	time.Sleep(50 * time.Millisecond)
	late := make(chan error, 1)
	go func() { late <- p.Publish(ctx, ev(4)) }()
	select {
	case err := <-late:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("a Publish begun while Close runs: %v, want ErrClosed", err)
		}
	case err := <-stuck:
		t.Errorf("the stalled Publish answered before a Publish begun during Close: that one waited for it")
		stuck <- err
	}
	select {
	case err := <-stuck:
		if err == nil || !(errors.Is(err, ErrUnconfirmed) || errors.Is(err, ErrDropped)) {
			t.Errorf("the Publish whose spill append stalled: %v, want ErrUnconfirmed or ErrDropped", err)
		}
		if took := time.Since(start); took > deadline+closeSpillGrace+300*time.Millisecond {
			t.Errorf("the Publish awaiting its spill's answer returned %s after Close began (deadline %s, grace %s)", took.Round(time.Millisecond), deadline, closeSpillGrace)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Publish awaiting its spill's answer never returned")
	}
	<-closed
}
