package forklift

import (
	"context"

	"github.com/globalcloud/islands/merge"
)

// page is a run of whole partitions read from the source, in token order; last is the token up to
// which the range is covered once the page is written (the last partition's, or the range's end).
// readAt[i] is the Unix second parts[i]'s first row was read at (see partitionStream.readAt).
type page struct {
	parts  []*merge.Partition
	readAt []int64
	rows   int
	last   int64
}

// pipeline runs read, which emits pages in token order, and write, which takes them one at a time,
// at once: while write works on one page, read fills the next, so neither cluster waits for the
// other. Invariants:
//   - write sees the pages in the order read emitted them, one at a time, so a checkpoint saved
//     by write after a page is only ever for a token every partition before which is written;
//   - at most two pages are in memory: the one being written and the one being read (emit blocks
//     until write has taken the page before);
//   - when write fails, read is cancelled and nothing more is written; when read fails, the pages
//     it emitted before are still written. The error is write's, else read's.
//
// The goroutine that runs read has ended when pipeline returns.
func pipeline(ctx context.Context, read func(ctx context.Context, emit func(page) error) error, write func(page) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page) // unbuffered: the reader is at most one page ahead
	readErr := make(chan error, 1)
	go func() {
		defer close(pages)
		readErr <- read(rctx, func(p page) error {
			select {
			case pages <- p:
				return nil
			case <-rctx.Done():
				return rctx.Err()
			}
		})
	}()
	var werr error
	for p := range pages {
		if werr != nil {
			continue // draining: the reader stops at its next emit
		}
		if werr = write(p); werr != nil {
			cancel()
		}
	}
	rerr := <-readErr
	if werr != nil {
		return werr
	}
	return rerr
}
