package cachesync

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestAttack7CloseWaitsForAPublishAwaitingItsSpillAnswer: Close is bounded by its deadline plus
// closeSpillGrace (500 ms), and "Publish calls waiting for room in a buffer, or for their spill's
// fsync, when Close begins stop waiting at once ... so Close never waits for them". But a Publish
// that spills keeps p.mu shared while spillOut waits for its append's answer, and when Close begins
// (stopWait) spillOut does not stop waiting: it starts spillConfirmWait (1 s) more. The append is
// only ended by Close's spill context, which Close sets up after it took p.mu: so Close blocks on
// p.mu.Lock for the whole second, whatever its deadline.
//
// Interleaving: SQS down, a one-event buffer full, the disk stalls → a Publish waits for room;
// Close(200 ms deadline) closes stopWait → the Publish spills, and waits 1 s for the stalled
// append holding p.mu.RLock → Close's p.mu.Lock waits that second → Close returns after ~1 s,
// past its deadline + grace (700 ms).
func TestAttack7CloseWaitsForAPublishAwaitingItsSpillAnswer(t *testing.T) {
	s := &batchLimitSQS{accepted: map[string]int{}, down: true}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{Senders: 1, Buffer: 1, BatchSize: 1,
		PublishTimeout: 2 * time.Second, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p.appendSpill = func(ctx context.Context, b []byte) error { // a disk whose fsync stalls
		<-ctx.Done()
		return ctx.Err()
	}
	ctx := context.Background()
	ev := func(i int) *Event {
		return &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i),
			Version: Version{Micros: time.Now().UnixMicro(), Origin: "us"}}
	}
	// Fill the sender (retrying), the batcher (waiting for a sender) and the buffer (1).
	for i := 0; i < 3; i++ {
		if err := p.Publish(ctx, ev(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	go p.Publish(ctx, ev(3)) // waits for room (up to PublishTimeout)
	time.Sleep(100 * time.Millisecond)
	const deadline = 200 * time.Millisecond
	cctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	p.Close(cctx)
	took := time.Since(start)
	if limit := deadline + closeSpillGrace + 150*time.Millisecond; took > limit {
		t.Errorf("Close with a %s deadline returned after %s (promise: by the deadline plus at most %s): it waited for a Publish awaiting its spill's answer",
			deadline, took.Round(time.Millisecond), closeSpillGrace)
	}
}

// TestAttack7OneRegionDownDropsTheOthersEventsWithoutASpill: without SpillDir, "events that find
// their destination's buffer full ... are dropped" — only those. But Publish's wait for room is one
// for all destinations: once it timed out on the first destination's full buffer it sets expired,
// and every remaining destination's event is sent to spillOut, which without a spill drops it,
// although that destination's buffer has room and its SQS takes every message. So while region C
// is down (listed first), every write is dropped for the healthy region B too: B never hears of
// them (it keeps serving the values they replaced, for good), and the application's retry of
// ErrDropped is dropped the same way for as long as C is down.
//
// Interleaving: C down, its one-event buffer (and sender, batcher) full → Publish(e): C's buffer
// full, PublishTimeout passes → expired → B's entry "over" → spillOut without a spill → dropped;
// B's buffer was empty.
func TestAttack7OneRegionDownDropsTheOthersEventsWithoutASpill(t *testing.T) {
	f := newFakeSQS(t)
	b, c := f.url("b"), f.url("c")
	f.setDown(c, true)
	p, err := NewPublisher(f.client(), []string{c, b}, PublisherOptions{Buffer: 1, Senders: 1, BatchSize: 1,
		PublishTimeout: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, 300*time.Millisecond)
	ctx := context.Background()
	const n = 20
	dropped := 0
	for i := 0; i < n; i++ {
		ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i),
			Version: Version{Micros: time.Now().UnixMicro(), Origin: "a"}}
		if err := p.Publish(ctx, ev); errors.Is(err, ErrDropped) {
			dropped++
		}
		time.Sleep(10 * time.Millisecond) // B's sender keeps up: its buffer has room at each Publish
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && len(f.counts(b)) < n {
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(f.counts(b)); got < n {
		t.Errorf("healthy region B received %d of %d events (%d Publish calls dropped): region C being down dropped B's events, whose buffer had room", got, n, dropped)
	}
}

// TestAttack7DeleteAtTheVersionOfTheHeldValueIsRefused: DeleteAt "returns ErrNotApplied, and sends
// nothing, when a newer value is held"; a value at the delete's very version is not newer. In
// Cassandra a delete USING TIMESTAMP v shadows the cells written at v (a tombstone wins a tie: the
// idiom to undo exactly the write at v, leaving later writes alone), and the cache is to order
// writes "as the database does". But store keeps a value against a tombstone of its own version,
// and DeleteAt then reports ErrNotApplied and publishes nothing: this region keeps serving the
// value, and so does every region the set reached, while the database has the row deleted — for
// good (no event is sent, no second event follows).
//
// Interleaving: v := Now; Set(k, v) (db: insert at v) → DeleteAt(k, v) (db: delete at v, wins) →
// store(tombstone v) meets value v: kept → ErrNotApplied, nothing sent → Get(k) serves the value.
func TestAttack7DeleteAtTheVersionOfTheHeldValueIsRefused(t *testing.T) {
	c, _, sink := newTestClient(t, nil)
	ctx := context.Background()
	v := c.Now()
	if _, err := c.Set(ctx, &Item{Key: "k", Value: []byte("written at v"), Version: v}); err != nil {
		t.Fatal(err)
	}
	sent := len(sink.evs)
	_, err := c.DeleteAt(ctx, "k", v)
	if err != nil {
		t.Errorf("DeleteAt at the held value's own version (not a newer one): %v", err)
	}
	if len(sink.evs) == sent {
		t.Errorf("DeleteAt at v sent nothing: the other regions keep the value the database deleted")
	}
	if it, gerr := c.Get(ctx, "k"); gerr == nil {
		t.Errorf("after DeleteAt(k, v) the cache still serves %q at v (the database's delete at v shadows it)", it.Value)
	}
}
