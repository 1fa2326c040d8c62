package cachesync

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBatchesCutByCountAndBytes: every batch formed by batches (the one rule of the live batcher,
// the spill's drain and the ResendWindow resend) holds at most max entries and MaxBatchBytes of
// bodies (a single entry excepted), and the batches are the entries in order.
func TestBatchesCutByCountAndBytes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 500; round++ {
		var in []outEntry
		for i := rnd.IntN(40); i > 0; i-- {
			in = append(in, outEntry{body: strings.Repeat("x", rnd.IntN(MaxMessageBytes)+1)})
		}
		max := 1 + rnd.IntN(10)
		var got []outEntry
		for _, b := range batches(in, max) {
			size := 0
			for _, e := range b {
				size += len(e.body)
			}
			if len(b) == 0 || len(b) > max || (len(b) > 1 && size > MaxBatchBytes) {
				t.Fatalf("round %d: batch of %d entries, %d bytes (max %d entries, %d bytes)", round, len(b), size, max, MaxBatchBytes)
			}
			got = append(got, b...)
		}
		if len(got) != len(in) {
			t.Fatalf("round %d: %d entries in, %d in the batches", round, len(in), len(got))
		}
		for i := range in {
			if len(got[i].body) != len(in[i].body) {
				t.Fatalf("round %d: entry %d out of order", round, i)
			}
		}
	}
}

// TestSendSplitsABatchRefusedAsTooLong: a batch whose bodies add up to more than SQS takes (one a
// spill written by an older version holds) is split on BatchRequestTooLong, never retried whole.
func TestSendSplitsABatchRefusedAsTooLong(t *testing.T) {
	s := &batchLimitSQS{accepted: map[string]int{}}
	url := "https://sqs.eu-west-1.amazonaws.com/000000000000/eu"
	p, err := newPublisher(s, []string{url}, PublisherOptions{Senders: 1, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var es []outEntry
	for i := 0; i < 7; i++ {
		es = append(es, outEntry{body: strings.Repeat(string(rune('a'+i)), 100*1024), op: OpSet})
	}
	failed, err := p.sendAll(url, es)
	if len(failed) != 0 || err != nil {
		t.Fatalf("sendAll: %d failed, %v", len(failed), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.accepted) != len(es) || s.tooLong == 0 {
		t.Fatalf("accepted %d of %d (refused as too long %d times)", len(s.accepted), len(es), s.tooLong)
	}
	if p.Refused() != 0 {
		t.Fatalf("%d entries refused: a batch too long is split, its entries are not refused", p.Refused())
	}
}
