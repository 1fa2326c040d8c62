package forklift

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// fakeRange serves the partitions of one token range in Cassandra's order, like partitionStream
// over a range select: token first, then the partition key's bytes (comparePartitions). failAt ≥ 0
// ends the read there with a read timeout, as a real stream does on a lost connection.
type fakeRange struct {
	parts  []*merge.Partition
	toks   []int64
	i      int
	failAt int
	err    error
}

func (f *fakeRange) next() (*merge.Partition, int64) {
	if f.i == f.failAt {
		f.err = gocql.ErrTimeoutNoResponse
		return nil, 0
	}
	if f.i >= len(f.parts) {
		return nil, 0
	}
	f.i++
	return f.parts[f.i-1], f.toks[f.i-1]
}

func (f *fakeRange) at() int64    { return 0 }
func (f *fakeRange) close() error { return f.err }

var errKilled = errors.New("killed -9 (simulated)")

// TestResumeNeverSkipsAPartitionSharingTheCheckpointToken is the model of a range copied, killed
// and resumed from its checkpoint at random, with partitions that share a token (Murmur3
// collisions, made frequent here), small pages, read timeouts in the middle of a page, and
// read-ahead on and off. It drives the real copyRange (page cutting, checkpoint tokens, the retry
// from the last token saved) over a fake source range that serves Cassandra's order and filters by
// token like `token(pk) > ? AND token(pk) <= ?`. After every checkpoint the invariant must hold:
// every partition whose token is ≤ the checkpoint's is written (a resumed run and a retried read
// start after that token); at the end every partition is written.
func TestResumeNeverSkipsAPartitionSharingTheCheckpointToken(t *testing.T) {
	tb := testTable(t, "lww", nil)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(29, 3))
	r := TokenRange{Start: -1000, End: 1000}
	for trial := range 300 {
		n, ntok := 1+rng.IntN(24), 1+rng.IntN(6)
		tokChoices := make([]int64, ntok)
		for i := range tokChoices {
			tokChoices[i] = int64(rng.IntN(2000) - 999)
		}
		type tp struct {
			tok int64
			p   *merge.Partition
		}
		var all []tp
		for i := range n {
			p := &merge.Partition{Key: [][]byte{be32(i*7919 + rng.IntN(7))}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)},
				Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte("v"), WriteTime: 10}}}}}}
			all = append(all, tp{tokChoices[rng.IntN(ntok)], p})
		}
		slices.SortFunc(all, func(a, b tp) int { return comparePartitions(a.tok, a.p.Key, b.tok, b.p.Key) })
		tokOf := map[string]int64{}
		for _, x := range all {
			tokOf[string(x.p.Key[0])] = x.tok
		}

		c := testCopier(t)
		c.tr, c.lim = newTracker("run", 1), newLimiter(0)
		c.j.cfg.PageSize = 1 + rng.IntN(4)
		c.noReadAhead = rng.IntN(2) == 0
		written := map[string]bool{}
		c.sendStmt = func(_ context.Context, stmts []stmt) error {
			for _, st := range stmts {
				written[string(st.args[0].(cql.Raw))] = true
			}
			return nil
		}
		failures := 0
		if rng.IntN(10) == 0 {
			failures = 1
		}
		c.openSrc = func(_ context.Context, _ *table, q TokenRange, _ int) rangeStream {
			f := &fakeRange{failAt: -1}
			for _, x := range all {
				if x.tok > q.Start && x.tok <= q.End {
					f.parts, f.toks = append(f.parts, x.p), append(f.toks, x.tok)
				}
			}
			if failures > 0 && len(f.parts) > 0 {
				failures--
				f.failAt = rng.IntN(len(f.parts))
			}
			return f
		}

		desc := func() string {
			var s string
			for _, x := range all {
				s += fmt.Sprintf(" %d:%x", x.tok, x.p.Key[0])
			}
			return fmt.Sprintf("trial %d: page %d, read-ahead %v, partitions (token:key)%s", trial, c.j.cfg.PageSize, !c.noReadAhead, s)
		}
		cp := r.Start
		for run := 0; ; run++ {
			if run > 100 {
				t.Fatalf("%s: no progress after 100 resumes", desc())
			}
			killAfter := rng.IntN(4) // checkpoints saved before the process is killed
			saves := 0
			w := &work{t: tb, stats: &tableStats{}, r: r, from: cp}
			err := c.copyRange(ctx, w, func(last, _ int64) error {
				if saves == killAfter {
					return errKilled // the page was written, its checkpoint never saved
				}
				saves++
				for key, tok := range tokOf {
					if tok <= last && !written[key] {
						t.Fatalf("%s: checkpoint at token %d saved while partition %x (token %d) is not written: "+
							"a resume or a retried read starts after %d and skips it", desc(), last, key, tok, last)
					}
				}
				cp = last
				return nil
			})
			if err == nil {
				break
			}
			if !errors.Is(err, errKilled) {
				t.Fatalf("%s: %v", desc(), err)
			}
		}
		for key := range tokOf {
			if !written[key] {
				t.Fatalf("%s: partition %x never written", desc(), key)
			}
		}
	}
}
