package cachesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/internal/recordlog"
)

// The third attacker's findings: each test fails on the code it was written against.

// TestAttack3TouchesOfOneVersionReorderedKeepTheOlderExpiry: two Touch calls on the same value
// send two touch events of the same version; an agent applies whichever arrives last (the CAS in
// Agent.touch compares the version only, and a touch carries nothing that orders it after another
// touch of that version). SQS standard queues reorder, so a region can end with the earlier expiry.
//
// Interleaving: us: Set(k, "v") → S; Touch(k, 0 = never, or 1 h) → T1; Touch(k, 2 s) → T2.
// eu receives S, T2, T1: eu holds "v" without expiry (or for an hour); us misses from 2 s on.
// Promise broken (package doc, Expiries): "A touch is never lost to reordering … no region serves
// a value past the expiry the application set"; Client.Touch: "changes key's expiry here … and in
// the other regions". T2 is lost to reordering; eu serves "v" for good (with Touch(k, 0)).
func TestAttack3TouchesOfOneVersionReorderedKeepTheOlderExpiry(t *testing.T) {
	for _, first := range []int32{0, 3600} {
		clk := newTestClock()
		ctx := context.Background()
		usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
		us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
		eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
		euAgent := testAgent(euMC, clk, time.Minute)

		if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if err := us.Touch(ctx, "k", first); err != nil {
			t.Fatal(err)
		}
		if err := us.Touch(ctx, "k", 2); err != nil {
			t.Fatal(err)
		}
		if len(sink.evs) != 3 || sink.evs[1].Op != OpTouch || sink.evs[2].Op != OpTouch {
			t.Fatalf("events: %+v", sink.evs)
		}
		set, t1, t2 := sink.evs[0], sink.evs[1], sink.evs[2]
		for _, ev := range []*Event{set, t2, t1} { // SQS delivers the two touches the other way round
			if _, err := euAgent.applyCache(ev); err != nil {
				t.Fatal(err)
			}
		}
		// The set's second event (late by then: an invalidation at v, which loses to the value at v).
		clk.add(time.Minute + 3*time.Second)
		if _, err := euAgent.applyCache(SecondEvent(set)); err != nil {
			t.Fatal(err)
		}
		clk.add(10 * time.Minute) // quiescence, long past the 2 s the application set last
		if _, err := us.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("us: want a miss after the last touched expiry, got %v", err)
		}
		if it, err := eu.Get(ctx, "k"); err == nil {
			t.Errorf("Touch(k, %d) then Touch(k, 2), delivered in the other order: eu still serves %q 10 min after the "+
				"expiry the application set last (us: a miss); the later touch was lost to reordering", first, it.Value)
		}
	}
}

// TestAttack3FanoutSkipsTheSecondInvalidationCheck: NewClient checks CheckSecondInvalidation only
// when its Sink has a SecondInvalidation method. The attacker wrote this against NewFanout (a Sink
// over several Publishers, with no such method): with three or more regions the rule was never
// checked. The clean-up folded the fan-out into NewPublisherTo (one Publisher, one Destination per
// region), so this is the same check over the multi-region sink as it is built now: NewClient must
// refuse a SecondInvalidation that breaks the rule whether the Publisher reaches one region or
// several.
//
// Interleaving: NewPublisherTo([eu, ap], SecondInvalidation 5 s) (TombstoneTTL 5 min) → NewClient
// over it: ErrConfig, as over NewPublisher with one queue.
// Promise (package doc, Destinations): "NewClient refuses a Publisher whose SecondInvalidation
// breaks the rule above (CheckSecondInvalidation, ErrConfig)".
func TestAttack3FanoutSkipsTheSecondInvalidationCheck(t *testing.T) {
	mc := newFakeMemcache(time.Now)
	opts := PublisherOptions{SecondInvalidation: 5 * time.Second}
	one, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/eu"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var dests []Destination
	for _, r := range []string{"eu", "ap"} {
		dests = append(dests, Destination{Region: r, Client: deadSQS(), Queue: "http://127.0.0.1:1/" + r})
	}
	many, err := NewPublisherTo(context.Background(), dests, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, p := range []*Publisher{one, many} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			p.Close(ctx)
			cancel()
		}
	}()
	if _, err := NewClient(mc, one, ClientOptions{Region: "us"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("over one destination: %v, want ErrConfig", err)
	}
	if _, err := NewClient(mc, many, ClientOptions{Region: "us"}); !errors.Is(err, ErrConfig) {
		t.Errorf("over NewPublisherTo with two destinations: NewClient returned %v, want ErrConfig: "+
			"in a world of three regions the SecondInvalidation rule is never checked", err)
	}
}

// droppingSink refuses the first n events as a Publisher does when its buffer is full and it has
// no spill (ErrDropped), then takes every event.
type droppingSink struct {
	n   int
	evs []*Event
}

func (d *droppingSink) Publish(ctx context.Context, ev *Event) error {
	if d.n > 0 {
		d.n--
		return ErrDropped
	}
	d.evs = append(d.evs, ev)
	return nil
}

// TestAttack3RetriedSetAfterDroppedPublishIsNeverSent: a Set stored locally whose event the
// Publisher dropped returns the error; retried at the same Version (the database write's
// timestamp, as the doc asks: "a delayed or retried cache write"), it finds its own value held,
// returns ErrNotApplied ("a newer version is held") and sends nothing. The other regions keep the
// older value for good. DeleteAt retried the same way does send its event again.
//
// Interleaving: us: Set(k, v1) replicated to eu; Set(k, v2) → stored, Publish: ErrDropped →
// retry Set(k, v2, Version v2) → ErrNotApplied, no event → eu serves v1 for good; database: v2.
// Promise broken (Client.Set): "A write that loses to a newer version held returns ErrNotApplied
// and sends nothing: the newer write's own event reaches the other regions" — nothing newer is
// held, the write's own event never goes out; and the quiescence promise (newest value or nothing).
func TestAttack3RetriedSetAfterDroppedPublishIsNeverSent(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	sink := &droppingSink{}
	us, err := NewClient(usMC, sink, ClientOptions{Region: "us", Rules: Rules{Default: Replicate}, TombstoneTTL: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)

	if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Millisecond)
	v2 := us.Now() // the database is written at v2
	sink.n = 1
	if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v2"), Version: v2}); !errors.Is(err, ErrDropped) {
		t.Fatalf("first attempt: %v, want ErrDropped", err)
	}
	_, err = us.Set(ctx, &Item{Key: "k", Value: []byte("v2"), Version: v2}) // the application retries
	for _, ev := range sink.evs {
		if _, aerr := euAgent.applyCache(ev); aerr != nil {
			t.Fatal(aerr)
		}
	}
	clk.add(10 * time.Minute) // quiescence
	it, gerr := eu.Get(ctx, "k")
	if gerr == nil && string(it.Value) == "v1" {
		t.Errorf("retried Set at the same version returned %v and sent %d event(s) in all; eu serves %q for good, "+
			"the database holds v2", err, len(sink.evs), it.Value)
	}
}

// TestAttack3EmitTypeWithInvalidUTF8IsPoison: Emit refuses an empty type because every agent
// would dead-letter the event, and the doc says "a body holding invalid UTF-8 outside the key is
// refused by Marshal". encoding/json does not refuse it: it replaces each invalid byte with
// U+FFFD, so the type arrives changed, no handler matches it, and every agent sends the event
// to the dead-letter queue. The same rewriting happens to Item.Version.Origin.
//
// Interleaving: Handle("job\xff", h) in eu; us: Emit(ctx, "job\xff", p) → nil → eu's agent
// parses type "job\uFFFD" → ErrPoison (no handler) → dead-letter queue; h never runs.
// Promise broken (Event doc): "a body holding invalid UTF-8 outside the key is refused by
// Marshal"; Emit: the client does not produce events every agent dead-letters.
func TestAttack3EmitTypeWithInvalidUTF8IsPoison(t *testing.T) {
	clk := newTestClock()
	sink := &recSink{}
	us, err := NewClient(newFakeMemcache(clk.now), sink, ClientOptions{Region: "us", Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	typ := "job\xff"
	err = us.Emit(context.Background(), typ, map[string]int{"n": 1})
	if err != nil {
		return // refused before anything is sent: as promised
	}
	b, merr := sink.evs[0].Marshal()
	if merr != nil {
		return // refused by Marshal: as promised
	}
	agent := testAgent(newFakeMemcache(clk.now), clk, time.Minute)
	ran := false
	agent.Handle(typ, func(context.Context, *Event) error { ran = true; return nil })
	ev, perr := ParseEvent(string(b))
	if perr == nil {
		perr = agent.apply(context.Background(), ev, sqsMessage(string(b)))
	}
	if !ran {
		t.Errorf("Emit(%q) returned nil and Marshal took the body, but the agent with that handler registered "+
			"sees type %q: %v (dead-letter queue)", typ, ev.Type, perr)
	}
}

// TestAttack3SpillAppendThatLandsLateLeavesAnEventUnsentForGood: an append to the spill whose
// caller stopped waiting (spillAppendTimeout: a disk stalled for more than 5 s, the request already
// queued to the log's writer) fails for spillOut — counted as dropped, pending not raised — but the
// writer completes it, so the record is in the log (recordlog: "A record whose Append returned an
// error may or may not appear (as after a timeout)"). The drainer sends it and commits it with the
// others and subtracts every record it read from pending: pending ends one below the log's count.
// From then on the last event spilled in each outage leaves pending at 0 and the drainer, which
// only drains while pending > 0, never sends it.
//
// Interleaving: eu down; Publish e… fill the buffer; spill r1 (append outlives its caller: landed,
// counted dropped), spill r2 (pending 1) → eu up: drain sends r1, r2, commits, pending = -1 →
// eu down again: spill r3 (pending 0) → eu up: r3 sits in the spill, never sent.
// Promise broken (PublisherOptions.SpillDir): spilled events "are sent when that destination's SQS
// takes messages again"; Publish: "A nil error means every destination has the event in memory or
// on disk" — to be sent; r3's Publish returned nil and eu never gets it (for good, until restart).
func TestAttack3SpillAppendThatLandsLateLeavesAnEventUnsentForGood(t *testing.T) {
	f := newFakeSQS(t)
	eu := f.url("eu")
	f.setDown(eu, true)
	p, err := NewPublisher(f.client(), []string{eu}, PublisherOptions{Buffer: 1, Senders: 1, PublishTimeout: time.Millisecond, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		p.Close(cctx)
	}()
	var mu sync.Mutex
	var spilled []string // bodies, in append order
	orig := p.appendSpill
	p.appendSpill = func(ctx context.Context, b []byte) error {
		var sr spillRecord
		if err := json.Unmarshal(b, &sr); err != nil {
			return err
		}
		mu.Lock()
		first := len(spilled) == 0
		spilled = append(spilled, sr.Body)
		mu.Unlock()
		if first {
			// The log's writer was stalled past the caller's wait: the caller's context ended
			// (spillAppendTimeout), then the writer wrote and fsynced the queued record.
			if err := orig(context.Background(), b); err != nil {
				return err
			}
			return context.DeadlineExceeded
		}
		return orig(ctx, b)
	}
	nSpilled := func() int { mu.Lock(); defer mu.Unlock(); return len(spilled) }
	publishUntil := func(n int) {
		for i := 0; nSpilled() < n; i++ {
			if i > 1000 {
				t.Fatalf("only %d events spilled", nSpilled())
			}
			ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i), Version: Version{Micros: int64(i + 1), Origin: "us"}}
			p.Publish(context.Background(), ev)
			time.Sleep(2 * time.Millisecond)
		}
	}
	received := func(body string, within time.Duration) bool {
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if f.counts(eu)[body] > 0 {
				return true
			}
		}
		return false
	}
	publishUntil(2) // r1 (landed late, counted dropped) and r2
	f.setDown(eu, false)
	mu.Lock()
	r1, r2 := spilled[0], spilled[1]
	mu.Unlock()
	if !received(r1, 10*time.Second) || !received(r2, 10*time.Second) {
		t.Fatalf("the first outage's spill was not drained")
	}
	time.Sleep(200 * time.Millisecond)
	f.setDown(eu, true)
	publishUntil(3) // r3
	mu.Lock()
	r3 := spilled[2]
	mu.Unlock()
	f.setDown(eu, false)
	if !received(r3, 5*time.Second) {
		_, pending := p.Spilled()
		t.Errorf("an event spilled in the second outage was never sent 5 s after eu came back (spill pending counted %d, "+
			"dropped counted %d): the late-landing append of the first outage left pending one below the log", pending, p.Dropped())
	}
}

// TestAttack3TouchLostWhenTheValueIsEvictedAndItsSetRedelivered: a touch applied in a region lives
// only in that region's memcached item. When memcached evicts the item (LRU) and the set event is
// delivered again within TombstoneTTL (SQS delivers at least once; an agent whose DeleteMessageBatch
// failed gets it back after the visibility timeout; the publisher's spill drain and ResendWindow
// send again), the set is stored as new, without the touched expiry. Nothing heals it: a touch has
// no second event, and the set's second event (late by then: an invalidation at v) loses to the
// value at v. Deletes and overwrites survive the same eviction through their second events.
//
// Interleaving: us: Set(k, "v") → S; Touch(k, 2 s) → T. eu applies S, T; eu's memcached evicts k;
// S is delivered again 30 s later (not late) → stored, no expiry → S's second event: stale →
// eu serves "v" for good; us: a miss from 2 s on.
// Promise broken (package doc, Expiries): "no region serves a value past the expiry the application
// set"; "duplicates change nothing"; the eviction guarantee the second event is there for.
func TestAttack3TouchLostWhenTheValueIsEvictedAndItsSetRedelivered(t *testing.T) {
	clk := newTestClock()
	ctx := context.Background()
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	eu, _ := testClientAt(t, euMC, clk, "eu", Rules{Default: Replicate})
	euAgent := testAgent(euMC, clk, time.Minute)

	if _, err := us.Set(ctx, &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := us.Touch(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	set, touch := sink.evs[0], sink.evs[1]
	for _, ev := range []*Event{set, touch} {
		if _, err := euAgent.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	euMC.evict("k") // memory pressure in eu
	clk.add(30 * time.Second)
	if _, err := euAgent.applyCache(set); err != nil { // the same message again (at-least-once)
		t.Fatal(err)
	}
	clk.add(33 * time.Second) // SecondInvalidation ≥ TombstoneTTL + 2 × skew after the write
	if _, err := euAgent.applyCache(SecondEvent(set)); err != nil {
		t.Fatal(err)
	}
	// (cs3fix) The touch's own second event, where the Publisher sends it (SecondEvent of the touch,
	// same delay, after the set's): the fix gives touches one, as sets have. Before the fix there is
	// none (nil) and nothing else arrives.
	if sec := SecondEvent(touch); sec != nil {
		if _, err := euAgent.applyCache(sec); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(10 * time.Minute) // quiescence
	if _, err := us.Get(ctx, "k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("us: want a miss after the touched expiry, got %v", err)
	}
	if it, err := eu.Get(ctx, "k"); err == nil {
		t.Errorf("eu serves %q 10 min after the expiry the application set with Touch (us: a miss): the touch was lost "+
			"to an eviction and a duplicate of its set, and the set's second event did not heal it", it.Value)
	}
}

// TestAttack3CloseWaitsForADrainerStuckOnTheDisk: Close waits (p.wg) for every spill drainer to
// return, without a bound; a drainer blocked on the disk — reading its spill (Log.Read) or
// fsyncing its cursor (Log.Commit) on a stalled device — holds Close past its deadline and the
// grace, for as long as the disk stalls. Close bounds only the spill's writer (appends, closing the
// logs). Here the stalled read is a segment file that blocks when opened (a FIFO stands in for a
// device that does not answer); the cursor's fsync in Commit would do the same.
//
// Interleaving: eu down, events spilled; the drainer's next round blocks in Log.Read on the
// stalled disk → Close(deadline 300 ms) → p.wg.Wait() waits for the drainer → Close has not
// returned 3 s later.
// Promise broken (Close): "returning by the deadline whatever the disk does"; package doc: "Close
// returns by its deadline plus at most that grace, with every goroutine of the Publisher stopped".
func TestAttack3CloseWaitsForADrainerStuckOnTheDisk(t *testing.T) {
	f := newFakeSQS(t)
	eu := f.url("eu")
	f.setDown(eu, true)
	dir := t.TempDir()
	p, err := NewPublisher(f.client(), []string{eu}, PublisherOptions{Buffer: 1, Senders: 1, PublishTimeout: time.Millisecond, SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, pending := p.Spilled(); pending > 0 {
			break
		}
		if i > 1000 {
			t.Fatal("nothing spilled")
		}
		p.Publish(context.Background(), testEvent(i))
		time.Sleep(time.Millisecond)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "q-*", "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	// The device holding the spill stops answering reads.
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(segs[0], 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	release := func() { // the disk answers again: the blocked open returns, the read fails
		if w, err := os.OpenFile(segs[0], os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	defer release()
	stuck := false
	for deadline := time.Now().Add(10 * time.Second); !stuck && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stuck = strings.Contains(string(buf[:runtime.Stack(buf, true)]), "recordlog.(*Log).readSegment")
	}
	if !stuck {
		t.Fatal("the drainer never read its spill")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	select {
	case err := <-closed:
		t.Logf("Close returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(3 * time.Second):
		t.Errorf("Close(deadline 300 ms) has not returned after %s: it waits for the spill drainer stuck on the disk "+
			"(its grace is %s)", time.Since(start).Round(time.Millisecond), closeSpillGrace)
		release()
		<-closed
	}
}

// TestAttack3LegacySpillLargerThanOneShareNeverOpens: a spill written before per-destination
// spills held up to SpillMaxBytes for all destinations together; the move into per-destination
// spills (openSpills) appends each record to its destination's spill, now bounded by an even share
// (SpillMaxBytes / destinations), and fails the whole NewPublisher on the first ErrFull. What was
// moved stays in the destination's spill and the legacy spill is not consumed, so every later
// NewPublisher on the directory fails the same way (at once: the destination's spill is full): the
// region's publisher never starts again and nothing in the spill is ever sent.
//
// Interleaving: old version: region C down, 1.5 MiB of C's events spilled (SpillMaxBytes 2 MiB) →
// upgrade: NewPublisher([B, C], SpillMaxBytes 2 MiB) → C's share 1 MiB → ErrFull → error; again
// on every restart.
// Promise broken (package doc, Spill): "A spill written before (one log in SpillDir itself) is
// moved into them when a Publisher opens the directory"; SpillMaxBytes: "beyond a destination's
// share its events are dropped" (counted), not the Publisher refused.
func TestAttack3LegacySpillLargerThanOneShareNeverOpens(t *testing.T) {
	f := newFakeSQS(t)
	b, c := f.url("b"), f.url("c")
	dir := t.TempDir()
	l, err := recordlog.Open(dir, recordlog.Options{MaxBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 15; i++ { // 15 × 100 KiB for C, as C's outage left them
		ev := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: fmt.Sprintf("k%d", i), Value: make([]byte, 75<<10),
			Version: Version{Micros: int64(i + 1), Origin: "a"}}
		body, _ := ev.Marshal()
		rec, _ := json.Marshal(spillRecord{Queue: c, Body: string(body), Op: OpSet})
		if _, err := l.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	for restart := 0; restart < 2; restart++ {
		p, err := NewPublisher(f.client(), []string{b, c}, PublisherOptions{SpillDir: dir, SpillMaxBytes: 2 << 20})
		if err != nil {
			t.Errorf("start %d after the upgrade: NewPublisher: %v", restart+1, err)
			continue
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.Close(cctx)
		cancel()
	}
}

// TestAttack3ResendSetAsideIsLostOnClose: with ResendWindow, the first refused call of an outage
// sets aside (in memory only) what SQS accepted in the window before, to send it again when SQS
// takes sends again — the server may have lost it with its state. If the Publisher is closed
// before that (a deploy or a restart of the application during the outage), Close spills what is
// buffered but not what was set aside: the next Publisher on the spill never resends it.
//
// Interleaving: SQS accepts e1..e10 → SQS (ElasticMQ) restarts, losing them, and refuses sends →
// Publish e11: refused → e1..e10 set aside → Close (e11 spilled) → SQS back, empty → a new
// Publisher on the spill sends e11 only; e1..e10 reach eu never.
// Promise broken (PublisherOptions.ResendWindow): "when SQS refuses sends (an outage), the events
// it accepted during this long before are sent again once it takes sends again"; SpillDir: what
// Close leaves is "sent when that destination's SQS takes messages again (also by the next
// Publisher opened on the directory, after a restart)".
func TestAttack3ResendSetAsideIsLostOnClose(t *testing.T) {
	f := newFakeSQS(t)
	eu := f.url("eu")
	dir := t.TempDir()
	opts := PublisherOptions{ResendWindow: time.Minute, FlushInterval: time.Millisecond, SpillDir: dir}
	p, err := NewPublisher(f.client(), []string{eu}, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var bodies []string
	for i := 0; i < 10; i++ {
		ev := testEvent(i)
		b, _ := ev.Marshal()
		bodies = append(bodies, string(b))
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); len(f.counts(eu)) < 10 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if len(f.counts(eu)) != 10 {
		t.Fatalf("SQS accepted %d of 10", len(f.counts(eu)))
	}
	// ElasticMQ restarts: it has lost every message, and refuses sends for a while.
	f.mu.Lock()
	f.received[eu] = map[string]int{}
	f.mu.Unlock()
	f.setDown(eu, true)
	if err := p.Publish(ctx, testEvent(10)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		n := f.failed[eu]
		f.mu.Unlock()
		if n > 0 {
			break
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	p.Close(cctx) // the application restarts during the outage
	cancel()
	f.setDown(eu, false)
	p2, err := NewPublisher(f.client(), []string{eu}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, pending := p2.Spilled(); pending == 0 && len(f.counts(eu)) > 0 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	cctx2, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	p2.Close(cctx2)
	cancel2()
	got := f.counts(eu)
	missing := 0
	for _, b := range bodies {
		if got[b] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of the 10 events SQS lost in its restart were never sent again (eu received %d distinct events "+
			"after it came back): the resend set aside at the outage was dropped by Close, not spilled", missing, len(got))
	}
}
