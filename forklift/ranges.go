package forklift

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// TokenRange is the Murmur3 token range (Start, End]: a partition with token t is in it when
// Start < t ≤ End. Murmur3 never produces math.MinInt64 as a token, so (MinInt64, MaxInt64] is the
// whole ring.
type TokenRange struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// String is "(start, end]".
func (r TokenRange) String() string { return fmt.Sprintf("(%d, %d]", r.Start, r.End) }

// FullRing is the whole Murmur3 token ring.
var FullRing = TokenRange{Start: math.MinInt64, End: math.MaxInt64}

// Split divides r into n contiguous ranges of near-equal width, in token order. The split depends
// only on r and n, so a resumed run finds the same ranges.
func (r TokenRange) Split(n int) []TokenRange {
	if n < 1 {
		n = 1
	}
	start, end := big.NewInt(r.Start), big.NewInt(r.End)
	width := new(big.Int).Sub(end, start)
	if width.Cmp(big.NewInt(int64(n))) < 0 {
		n = int(width.Int64())
		if n < 1 {
			return []TokenRange{r}
		}
	}
	out := make([]TokenRange, 0, n)
	prev := r.Start
	for i := 1; i <= n; i++ {
		var e int64
		if i == n {
			e = r.End
		} else {
			b := new(big.Int).Mul(width, big.NewInt(int64(i)))
			b.Quo(b, big.NewInt(int64(n)))
			b.Add(b, start)
			e = b.Int64()
		}
		out = append(out, TokenRange{Start: prev, End: e})
		prev = e
	}
	return out
}

// Shard is one of N processes sharing a run: it owns the ranges whose index i satisfies i%N == Index.
type Shard struct {
	Index, Count int
}

// ParseShard parses "i/N" (0 ≤ i < N).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%w: shard %q: want i/N with 0 ≤ i < N, e.g. 0/4", ErrConfig, s)
	}
	return Shard{i, n}, nil
}

// Owns reports whether range index i belongs to the shard.
func (s Shard) Owns(i int) bool {
	if s.Count <= 1 {
		return true
	}
	return i%s.Count == s.Index
}

// orOnly is s, or the only shard when s is the zero value.
func (s Shard) orOnly() Shard {
	if s.Count == 0 {
		return Shard{0, 1}
	}
	return s
}
