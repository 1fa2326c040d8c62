package cachesync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/globalcloud/islands/internal/recordlog"
)

// refusingSQS refuses for good, as SQS does a body it will never take (too long,
// InvalidMessageContents), every body that refuse matches: SendMessage with a client-fault API
// error, SendMessageBatch with a per-entry sender fault. It records what it accepted.
type refusingSQS struct {
	refuse   func(body string) bool
	mu       sync.Mutex
	accepted []string
	refused  int
}

func (s *refusingSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse(aws.ToString(in.MessageBody)) {
		s.refused++
		return nil, &smithy.GenericAPIError{Code: "InvalidMessageContents", Message: "refused", Fault: smithy.FaultClient}
	}
	s.accepted = append(s.accepted, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (s *refusingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if s.refuse(aws.ToString(e.MessageBody)) {
			s.refused++
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidMessageContents"), SenderFault: true})
			continue
		}
		s.accepted = append(s.accepted, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m")})
	}
	return out, nil
}

func (s *refusingSQS) events(t *testing.T) []*Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var evs []*Event
	for _, b := range s.accepted {
		ev, err := ParseEvent(b)
		if err != nil {
			t.Fatalf("accepted body does not parse: %v", err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestRefusedSetGoesAsItsInvalidation: an entry SQS refuses for good (whatever the reason: here
// every set) is not retried for ever holding the only sender: it is sent as the invalidation of
// its version, and the events after it are sent, in single sends and in batches alike.
func TestRefusedSetGoesAsItsInvalidation(t *testing.T) {
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			s := &refusingSQS{refuse: func(b string) bool { return strings.Contains(b, `"op":"set"`) }}
			p, err := newPublisher(s, []string{"https://sqs.eu-west-1.amazonaws.com/000000000000/q"}, PublisherOptions{Senders: 1, BatchSize: batch})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			set := &Event{Format: EventFormat, ID: newID(), Op: OpSet, Key: "big", Value: []byte("v"), Version: Version{Micros: 7, Origin: "a"}}
			if err := p.Publish(ctx, set); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if err := p.Publish(ctx, testEvent(i)); err != nil {
					t.Fatal(err)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := p.Close(cctx); err != nil {
				t.Fatalf("Close: %v (the refused entry held the sender)", err)
			}
			evs := s.events(t)
			inv := 0
			for _, ev := range evs {
				if ev.Key == "big" && ev.Op == OpInvalidate && ev.Version == set.Version {
					inv++
				}
			}
			if len(evs) != 6 || inv != 1 {
				t.Fatalf("accepted %d events (want 5 + the set's invalidation), invalidations of the set: %d; refused %d times", len(evs), inv, s.refused)
			}
		})
	}
}

// TestLegacySpillIsMovedAndSent: a spill written before per-destination spills (records in
// SpillDir itself) is moved into the destinations' spills when a Publisher opens the directory,
// and sent; a second Publisher on the directory finds nothing left to send.
func TestLegacySpillIsMovedAndSent(t *testing.T) {
	f := newFakeSQS(t)
	b, c := f.url("b"), f.url("c")
	dir := t.TempDir()
	l, err := recordlog.Open(dir, recordlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := 0; i < n; i++ {
		body, _ := testEvent(i).Marshal()
		q := b
		if i%3 == 0 {
			q = c
		}
		rec, _ := json.Marshal(spillRecord{Queue: q, Body: string(body), Op: OpInvalidate})
		if _, err := l.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	for round := 0; round < 2; round++ {
		p, err := NewPublisher(f.client(), []string{b, c}, PublisherOptions{SpillDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if _, pending := p.Spilled(); pending == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.Close(cctx)
		cancel()
	}
	sent := 0
	for _, q := range []string{b, c} {
		for _, k := range f.counts(q) {
			if k != 1 {
				t.Errorf("%s: a spilled event was sent %d times", q, k)
			}
			sent++
		}
	}
	if sent != n {
		t.Fatalf("%d of the %d spilled events were sent", sent, n)
	}
}

// TestSpillPerDestinationExactlyOnceForTheUpRegion: while region C is down, the up region B
// receives every spilled event exactly once (no resend storm caused by C), and C receives every
// event once it is back.
func TestSpillPerDestinationExactlyOnceForTheUpRegion(t *testing.T) {
	const n = 300
	f, _, b, c := publishOneRegionDown(t, n, 500*time.Millisecond)
	waitFor := func(url string) map[string]int {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := f.counts(url)
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	gotB := waitFor(b)
	time.Sleep(300 * time.Millisecond) // a few more drain rounds of C's spill, failing
	gotB = f.counts(b)
	for body, k := range gotB {
		if k != 1 {
			t.Fatalf("region B received %q %d times while C was down", body, k)
		}
	}
	if len(gotB) != n {
		t.Fatalf("region B received %d of %d events while C was down", len(gotB), n)
	}
	f.setDown(c, false)
	if gotC := waitFor(c); len(gotC) != n {
		t.Fatalf("region C received %d of %d events after it came back", len(gotC), n)
	}
}
