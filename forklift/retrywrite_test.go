package forklift

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/merge"
)

// canonPartition renders what a read of p shows, list element paths left out (each cluster mints
// its own): two destinations holding the same data render alike.
func canonPartition(p *merge.Partition) string {
	if p == nil {
		return "-"
	}
	var b strings.Builder
	for _, r := range p.Rows {
		fmt.Fprintf(&b, "[%x static=%v", r.Clustering, r.Static)
		for _, c := range r.Columns {
			if !c.Present {
				continue
			}
			fmt.Fprintf(&b, " %s=", c.Name)
			if c.Kind == merge.Simple {
				fmt.Fprintf(&b, "%q@%d/%d", c.Cell.Value, c.Cell.WriteTime, c.Cell.TTL)
				continue
			}
			for _, e := range c.Elems {
				if c.Kind != merge.List {
					fmt.Fprintf(&b, "%q:", e.Key)
				}
				fmt.Fprintf(&b, "%q@%d/%d,", e.Cell.Value, e.Cell.WriteTime, e.Cell.TTL)
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

// TestModelRetriedWriteLandsTheDecision: a partition's write fails part way (its statements split
// into batches by a small max_batch_bytes; one batch times out, having landed or not) and is
// retried. Whatever the failed attempt wrote, the destination must end exactly as a copy that never
// failed leaves it, under every resolver, lists included (an append re-sent would duplicate), and
// verify must then agree with the model. Before the fix the retry read the destination again and
// resolved against its own half-done write.
func TestModelRetriedWriteLandsTheDecision(t *testing.T) {
	for _, rc := range []struct {
		name string
		opts map[string]any
	}{
		{"lww", nil},
		{"union", nil},
		{"prefer-source", nil},
		{"prefer-destination", nil},
		{"newest-by", map[string]any{"column": "w"}},
	} {
		tb := testTable(t, rc.name, rc.opts, modelCols...)
		rng := rand.New(rand.NewPCG(31, 7))
		for run := range 300 {
			seed := rng.Uint64()
			fill := func() (src, dst *modelDB) {
				r := rand.New(rand.NewPCG(seed, 1))
				src, dst = newModelDB(), newModelDB()
				fillModel(r, src, t, tb, []int{0, 1, 2, 3}[:1+r.IntN(4)])
				fillModel(r, dst, t, tb, []int{1, 2, 4}[:r.IntN(4)])
				return src, dst
			}
			src, want := fill()
			copyModel(t, tb, src, want)
			_, dst := fill()
			maxBatch := 40 + rng.IntN(200)
			failAt, landed := 1+rng.IntN(3), rng.IntN(2) == 0
			fails := 0
			c := testCopier(t)
			c.j.cfg.MaxBatchBytes = maxBatch
			c.now = func() time.Time { return time.Unix(1000, 0) }
			c.readDst = func(_ context.Context, _ *table, key [][]byte) (*merge.Partition, error) {
				return dst.read(t, tb, string(key[0])), nil
			}
			c.quarPut = func(context.Context, *table, [][]byte, *merge.Quarantine) error { return nil }
			c.markerTS = 50
			c.backoff = func(int) time.Duration { return 0 }
			c.sendStmt = func(_ context.Context, stmts []stmt) error {
				batch := 0
				for len(stmts) > 0 { // execOnce's batching
					n, size := 0, 0
					for n < len(stmts) && (n == 0 || size+stmts[n].size <= maxBatch) {
						size += stmts[n].size
						n++
					}
					batch++
					fail := fails < 2 && batch == failAt
					if !fail || landed {
						for _, st := range stmts[:n] {
							dst.apply(t, st)
						}
					}
					if fail {
						fails++
						return gocql.ErrTimeoutNoResponse
					}
					stmts = stmts[n:]
				}
				return nil
			}
			for _, k := range src.keys() {
				if p := src.read(t, tb, k); p != nil {
					if err := c.writePartition(context.Background(), tb, &tableStats{}, p, 1000); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, k := range append(src.keys(), want.keys()...) {
				g, w := canonPartition(dst.read(t, tb, k)), canonPartition(want.read(t, tb, k))
				if g != w {
					t.Fatalf("%s run %d (batch %d bytes, attempt fails at batch %d, landed %v): partition %x after retries\n got %s\nwant %s",
						rc.name, run, maxBatch, failAt, landed, k, g, w)
				}
			}
			if got, c := verifyModel(t, tb, src, dst); !got {
				t.Fatalf("%s run %d: verify after the retried copy: %+v", rc.name, run, c)
			}
		}
	}
}
