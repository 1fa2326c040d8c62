package cachesync

import (
	"context"
	"errors"
	"fmt"
)

// Fanout is the Sink of a client in a world of more than two regions: one Sink (a *Publisher) per
// destination region, each with that region's SQS client and queue.
//
// A Publisher holds one SQS client, and an SQS client reaches one region: the SDK sends every
// request to its own endpoint and signs it for its own region, whatever host a QueueUrl names. So a
// Publisher serves the queues of one destination region, and a region with several others
// publishes through a Fanout of them.
//
// Invariant: Publish hands the event to every destination, in order, whatever an earlier one
// answered; its error joins theirs (errors.Is finds each: ErrDropped, ErrClosed, ...).
type Fanout struct {
	sinks []Sink
}

// NewFanout returns a Sink publishing to every one of sinks (one per destination region).
func NewFanout(sinks ...Sink) (*Fanout, error) {
	if len(sinks) == 0 {
		return nil, fmt.Errorf("%w: a fanout needs at least one destination", ErrConfig)
	}
	for i, s := range sinks {
		if s == nil {
			return nil, fmt.Errorf("%w: fanout destination %d is nil", ErrConfig, i)
		}
	}
	return &Fanout{sinks: append([]Sink(nil), sinks...)}, nil
}

// Publish implements Sink: every destination gets ev; the errors of those that refused it are
// joined.
func (f *Fanout) Publish(ctx context.Context, ev *Event) error {
	var errs []error
	for _, s := range f.sinks {
		if err := s.Publish(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
