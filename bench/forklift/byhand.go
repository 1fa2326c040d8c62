package main

import (
	"math"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"
)

// handRow is one row as the copy by hand reads it: every cell with its writetime and TTL.
type handRow struct {
	pk, ck int
	name   *string
	score  *int64
	ratio  *float64
	wt     [3]*int64
	ttl    [3]*int
}

// handPage is a page of whole partitions, rows grouped by partition in token order.
type handPage [][]handRow

// copyByHand copies the bench table from src to dst the way a careful engineer would by hand with
// plain gocql, as the floor any copier is measured against: the ring cut in ranges, workers ranges
// at a time; per range a reader pages through the rows with writetime() and ttl() while a writer
// writes the page before (one page of read-ahead), each partition as one unlogged batch of
// INSERT … USING TIMESTAMP AND TTL, writeConc partitions at a time. No checkpoints, no verify, no
// resolver, no retries. It returns the rows copied.
func copyByHand(src, dst *gocql.Session, workers, ranges, pageSize, writeConc int) int {
	const sel = "SELECT pk, ck, name, writetime(name), ttl(name), score, writetime(score), ttl(score), ratio, writetime(ratio), ttl(ratio) FROM " +
		ks + ".t WHERE token(pk) > ? AND token(pk) <= ?"
	var copied atomic.Int64
	var g errgroup.Group
	g.SetLimit(workers)
	for _, r := range splitRing(ranges) {
		g.Go(func() error {
			pages := make(chan handPage)
			var readErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the reader: one page ahead of the writer
				defer wg.Done()
				defer close(pages)
				it := src.Query(sel, r[0], r[1]).PageSize(pageSize).Iter()
				var p handPage
				var rows int
				var cur handRow
				for it.Scan(&cur.pk, &cur.ck, &cur.name, &cur.wt[0], &cur.ttl[0], &cur.score, &cur.wt[1], &cur.ttl[1], &cur.ratio, &cur.wt[2], &cur.ttl[2]) {
					if n := len(p); n > 0 && p[n-1][0].pk == cur.pk {
						p[n-1] = append(p[n-1], cur)
					} else {
						if rows >= pageSize {
							pages <- p
							p, rows = nil, 0
						}
						p = append(p, []handRow{cur})
					}
					rows++
					cur = handRow{}
				}
				readErr = it.Close()
				if len(p) > 0 {
					pages <- p
				}
			}()
			var werr error
			for p := range pages {
				if werr == nil {
					werr = writeHandPage(dst, p, writeConc)
				}
				for _, part := range p {
					copied.Add(int64(len(part)))
				}
			}
			wg.Wait()
			if werr != nil {
				return werr
			}
			return readErr
		})
	}
	must(g.Wait())
	return int(copied.Load())
}

// writeHandPage writes each partition of p as one unlogged batch, conc at a time. A row whose
// cells share a writetime and TTL (every row of the bench) is one INSERT; otherwise one per cell.
func writeHandPage(dst *gocql.Session, p handPage, conc int) error {
	var g errgroup.Group
	g.SetLimit(conc)
	for _, part := range p {
		g.Go(func() error {
			b := dst.NewBatch(gocql.UnloggedBatch)
			for _, r := range part {
				if same(r.wt[:]) && sameInt(r.ttl[:]) {
					b.Query("INSERT INTO "+ks+".t (pk, ck, name, score, ratio) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?",
						r.pk, r.ck, r.name, r.score, r.ratio, deref(r.wt[0]), derefInt(r.ttl[0]))
					continue
				}
				for i, col := range []string{"name", "score", "ratio"} {
					if r.wt[i] == nil {
						continue
					}
					v := []any{r.name, r.score, r.ratio}[i]
					b.Query("INSERT INTO "+ks+".t (pk, ck, "+col+") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?",
						r.pk, r.ck, v, *r.wt[i], derefInt(r.ttl[i]))
				}
			}
			return dst.ExecuteBatch(b)
		})
	}
	return g.Wait()
}

func same(v []*int64) bool {
	for _, x := range v[1:] {
		if (x == nil) != (v[0] == nil) || x != nil && *x != *v[0] {
			return false
		}
	}
	return true
}

func sameInt(v []*int) bool {
	for _, x := range v[1:] {
		if derefInt(x) != derefInt(v[0]) {
			return false
		}
	}
	return true
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// splitRing cuts the Murmur3 ring (MinInt64, MaxInt64] into n ranges of near-equal width.
func splitRing(n int) [][2]int64 {
	width := new(big.Int).Sub(big.NewInt(math.MaxInt64), big.NewInt(math.MinInt64))
	out := make([][2]int64, 0, n)
	prev := int64(math.MinInt64)
	for i := 1; i <= n; i++ {
		e := int64(math.MaxInt64)
		if i < n {
			b := new(big.Int).Mul(width, big.NewInt(int64(i)))
			b.Quo(b, big.NewInt(int64(n)))
			e = b.Add(b, big.NewInt(math.MinInt64)).Int64()
		}
		out = append(out, [2]int64{prev, e})
		prev = e
	}
	return out
}
