package cachesync

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"testing"
	"time"
)

// TestAttack8ExpiredSetArrivingAfterAValueOfItsTimeDiverges: the one ordering rule (package doc,
// Supersedes) says "at one time a tombstone (a delete, an invalidation, an expired value, a fill's
// floor) wins over a value", and "every region converges to the same entry whatever order the
// writes arrive in". store applies it to the entry HELD (cur.At(now)) but not to the one ARRIVING:
// an incoming set whose expiry has already passed is compared as a live value, so it loses, by
// origin, to a live value of the same µs, while in the other order the expired one held wins.
//
// Interleaving (two set events A=(t,"a",expired on arrival) and B=(t,"b",no expiry)):
//
//	region X: B applied, then A (after A's expiry) → X keeps B and serves it for good;
//	region Y: A applied (after its expiry), then B → Y holds A's tombstone and reads a miss.
//
// The regions diverge for good, and X serves a value the database (Cassandra: an expired cell wins
// a timestamp tie) does not hold.
func TestAttack8ExpiredSetArrivingAfterAValueOfItsTimeDiverges(t *testing.T) {
	clk := newTestClock()
	ts := clk.now().UnixMicro()
	exp := clk.now().Unix() + 1
	a := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "k", Value: []byte("A"), Expiry: exp,
		Version: Version{Micros: ts, Origin: "a", Writer: 7}}
	b := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "k", Value: []byte("B"),
		Version: Version{Micros: ts, Origin: "b", Writer: 9}}
	clk.add(3 * time.Second) // A's expiry has passed; both still well within TombstoneTTL

	mcX, mcY := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	x, y := testAgent(mcX, clk, time.Minute), testAgent(mcY, clk, time.Minute)
	for _, ev := range []*Event{b, a} {
		if _, err := x.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []*Event{a, b} {
		if _, err := y.applyCache(ev); err != nil {
			t.Fatal(err)
		}
	}
	read := func(mc *fakeMemcache) string {
		it, err := mc.Get("k")
		if err != nil {
			return "miss"
		}
		s, err := DecodeItem(it)
		if err != nil {
			return "raw"
		}
		s = s.At(clk.now())
		if s.Kind == KindTombstone {
			return "miss"
		}
		return string(s.Value)
	}
	gx, gy := read(mcX), read(mcY)
	if gx != gy {
		t.Errorf("region X (B then A) reads %q, region Y (A then B) reads %q: the same two events in another order left the regions on different entries for good (promise: a strict total order, every region converges; an expired value at t wins over a value at t)", gx, gy)
	}
	if gx != "miss" {
		t.Errorf("region X serves %q: the expired value at the same time should win (tombstone rule) and the key read as a miss", gx)
	}
}

// TestAttack8ReplicatedValueWipedByItsOwnSecondEvent: a replicated set "is followed by itself
// again" (SecondEvent, package doc: it replaces whatever FILL it meets), and CheckSecondInvalidation
// makes that second event always late (SecondInvalidation ≥ TombstoneTTL + 2 × skew), so every
// agent applies it as an invalidation at the set's own version. Before the seventh pass that
// invalidation lost to the value at v ("a late set: an invalidation at v, loses to v", the
// comments of attack3/4/5/6_test.go); since Supersedes makes a tombstone win a tie, it deletes the
// value it repeats, in every region and in the origin's own (OwnQueue). Replicate then degenerates
// into a delayed invalidate: no region keeps a replicated value past SecondInvalidation, and the
// miss stampedes every region's database once per write.
//
// Interleaving: us Set k=v at V (replicate) → eu applies the set (serves v) → SecondInvalidation
// later eu (and us, via its own queue) applies the second event, late → tombstone at V → k misses.
func TestAttack8ReplicatedValueWipedByItsOwnSecondEvent(t *testing.T) {
	clk := newTestClock()
	const ttl = time.Minute
	second := ttl + 2*DefaultMaxClockSkew
	if err := CheckSecondInvalidation(second, ttl, DefaultMaxClockSkew); err != nil {
		t.Fatal(err)
	}
	usMC, euMC := newFakeMemcache(clk.now), newFakeMemcache(clk.now)
	us, sink := testClientAt(t, usMC, clk, "us", Rules{Default: Replicate})
	if _, err := us.Set(context.Background(), &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	set := sink.evs[0]
	usAgent, euAgent := testAgent(usMC, clk, ttl), testAgent(euMC, clk, ttl)
	if _, err := euAgent.applyCache(set); err != nil {
		t.Fatal(err)
	}
	clk.add(second) // the second event arrives SecondInvalidation later, in every region
	for _, a := range []*Agent{euAgent, usAgent} {
		if _, err := a.applyCache(SecondEvent(set)); err != nil {
			t.Fatal(err)
		}
	}
	for name, mc := range map[string]*fakeMemcache{"eu": euMC, "us (origin)": usMC} {
		c, _ := testClientAt(t, mc, clk, "x", Rules{Default: Replicate})
		if it, err := c.Get(context.Background(), "k"); err != nil || string(it.Value) != "v" {
			t.Errorf("%s: after the replicated set's own second event, Get(k) = %v, %v; want the replicated value v (no newer write exists: the second event repeats the set, it must not delete it)", name, it, err)
		}
	}
}

// gateSQS is an SQS whose server can restart (lose what it accepted, refuse calls while down) and
// whose answer to one body (hold) is delayed until release: the call was accepted by the server
// before the restart, its answer read by the client after another call failed.
type gateSQS struct {
	mu       sync.Mutex
	down     bool
	failed   int
	accepted map[string]int
	hold     string
	held     chan struct{}
	heldOnce sync.Once
	release  chan struct{}
}

func (s *gateSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	body := aws.ToString(in.MessageBody)
	s.mu.Lock()
	if s.down {
		s.failed++
		s.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "InternalError", Message: "down", Fault: smithy.FaultServer}
	}
	s.accepted[body]++
	s.mu.Unlock()
	if body == s.hold {
		s.heldOnce.Do(func() { close(s.held) }) // B sent again (the resend) must not close it twice
		<-s.release
	}
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (s *gateSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	panic("BatchSize is 1")
}

func (s *gateSQS) count(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[body]
}

// TestAttack8ResendWindowMissesAnAnswerReadAfterTheFailure: ResendWindow promises "when SQS
// refuses sends (an outage), the events it accepted during this long before are sent again once it
// takes sends again, since the server may have lost them with its state". With several Senders a
// call the server accepted before it restarted can have its answer read after another sender's
// call failed: sendFailed has already taken the window (suspect), so that event goes only into the
// new window, and its own success (sendOK) ends the outage. When the server is back before any
// other call fails, the event is never sent again: lost, though accepted in the window before.
//
// Interleaving: e0 accepted; B accepted (answer in flight) → server restarts, loses e0 and B →
// A refused: outage, suspect={e0} → server up; B's answer read: done(B) → recent, sendOK ends the
// outage and resends e0 → A's retry succeeds → B never resent; eu never gets B.
func TestAttack8ResendWindowMissesAnAnswerReadAfterTheFailure(t *testing.T) {
	evB := testEvent(1)
	bb, _ := evB.Marshal()
	s := &gateSQS{accepted: map[string]int{}, hold: string(bb), held: make(chan struct{}), release: make(chan struct{})}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{BatchSize: 1, Senders: 4, FlushInterval: time.Millisecond, ResendWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, 2*time.Second)
	ctx := context.Background()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	e0 := testEvent(0)
	b0, _ := e0.Marshal()
	if err := p.Publish(ctx, e0); err != nil {
		t.Fatal(err)
	}
	wait("e0 accepted", func() bool { return s.count(string(b0)) > 0 })
	if err := p.Publish(ctx, evB); err != nil {
		t.Fatal(err)
	}
	<-s.held // the server accepted B; its answer is on the way
	s.mu.Lock()
	s.accepted, s.down = map[string]int{}, true // the server restarts: it has lost e0 and B
	s.mu.Unlock()
	evA := testEvent(2)
	ba, _ := evA.Marshal()
	if err := p.Publish(ctx, evA); err != nil {
		t.Fatal(err)
	}
	wait("A refused", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.failed > 0 })
	s.mu.Lock()
	s.down = false // back, empty
	s.mu.Unlock()
	close(s.release) // B's answer is read now
	wait("A accepted", func() bool { return s.count(string(ba)) > 0 })
	wait("e0 resent", func() bool { return s.count(string(b0)) > 0 })
	time.Sleep(300 * time.Millisecond)
	if s.count(string(bb)) == 0 {
		t.Errorf("B, accepted by SQS just before its restart (within ResendWindow before the outage), was never sent again: the server lost it, and eu never receives it (resent %d)", p.Resent())
	}
}
