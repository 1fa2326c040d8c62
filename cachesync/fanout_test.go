package cachesync

import (
	"context"
	"errors"
	"testing"
	"time"
)

type failSink struct{ err error }

func (f failSink) Publish(context.Context, *Event) error { return f.err }

// With three regions a client sends every event to two regions, each through its own publisher
// (one SQS client per destination region: an SQS client reaches one region's endpoint). Fanout
// gives every destination the event, even when another refuses it, and reports the refusal.
func TestFanoutPublishesToEveryDestination(t *testing.T) {
	a, b := &recSink{}, &recSink{}
	f, err := NewFanout(a, failSink{ErrDropped}, b)
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{Key: "k"}
	err = f.Publish(context.Background(), ev)
	if !errors.Is(err, ErrDropped) {
		t.Errorf("err = %v, want ErrDropped", err)
	}
	if len(a.evs) != 1 || len(b.evs) != 1 || a.evs[0] != ev || b.evs[0] != ev {
		t.Errorf("destinations got %v and %v, want the event each", a.evs, b.evs)
	}
	if _, err := NewFanout(); !errors.Is(err, ErrConfig) {
		t.Errorf("NewFanout(): %v, want ErrConfig", err)
	}
}

// A client over a Fanout of three regions' sinks: every write reaches every other region.
func TestClientFansOutToEveryOtherRegion(t *testing.T) {
	sinks := []*recSink{{}, {}}
	f, err := NewFanout(sinks[0], sinks[1])
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(newFakeMemcache(time.Now), f, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(context.Background(), &Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for i, s := range sinks {
		if len(s.evs) != 1 || s.evs[0].Key != "k" {
			t.Errorf("region %d got %v", i, s.evs)
		}
	}
}
