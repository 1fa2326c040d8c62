package cachesync

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Helpers shared by the publisher's tests (attack*_test.go, refused_test.go, publisher_sqs_test.go).

// closeAtEnd closes p when the test ends, within wait (before the test's fakes and temporary
// directories go: cleanups run last-registered first).
func closeAtEnd(t *testing.T, p *Publisher, wait time.Duration) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		p.Close(ctx)
	})
}

// publishOneRegionDown starts a publisher to regions b and c of a fakeSQS while c is down, with a
// buffer of one event (so events spill at once) and a spill, and publishes n invalidations, keys
// k0 … k(n-1). The publisher is closed within closeWait at the test's end.
func publishOneRegionDown(t *testing.T, n int, closeWait time.Duration) (f *fakeSQS, p *Publisher, b, c string) {
	t.Helper()
	f = newFakeSQS(t)
	b, c = f.url("b"), f.url("c")
	f.setDown(c, true)
	p, err := NewPublisher(f.client(), []string{b, c}, PublisherOptions{Buffer: 1, PublishTimeout: time.Millisecond, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p, closeWait)
	for i := 0; i < n; i++ {
		ev := &Event{Format: EventFormat, ID: newID(), Op: OpInvalidate, Key: fmt.Sprintf("k%d", i), Version: Version{Micros: int64(i + 1), Origin: "a"}}
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	return f, p, b, c
}

// closeWithin closes p within 10 s and fails the test if Close reports an error.
func closeWithin(t *testing.T, p *Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
