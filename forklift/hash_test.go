package forklift

import (
	"bytes"
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/globalcloud/islands/merge"
)

// recorder is a hash.Hash64 that keeps every byte written: two inputs hash alike by construction
// exactly when their recorded bytes are equal.
type recorder struct{ bytes.Buffer }

func (r *recorder) Sum(b []byte) []byte { return append(b, r.Bytes()...) }
func (r *recorder) Sum64() uint64       { return 0 }
func (r *recorder) Size() int           { return 8 }
func (r *recorder) BlockSize() int      { return 1 }

func hashInput(now int64, parts ...*merge.Partition) string {
	var r recorder
	for _, p := range parts {
		hashPartition(&r, p, now)
	}
	return r.String()
}

func hrow(ck string, vals ...string) merge.Row {
	r := merge.Row{Clustering: [][]byte{[]byte(ck)}}
	for _, v := range vals {
		r.Columns = append(r.Columns, merge.Column{Name: "v", Kind: merge.Simple, Present: true,
			Cell: merge.Cell{Value: []byte(v), WriteTime: 1}})
	}
	return r
}

// The counterexample: source partition a {b, c, d} and destination a {b} plus a
// destination-only partition c {d} must not hash alike (rows (a,c) and (a,d) are missing).
func TestHashFramesPartitionsAndRows(t *testing.T) {
	src := &merge.Partition{Key: [][]byte{[]byte("a")}, Rows: []merge.Row{hrow("b"), hrow("c"), hrow("d")}}
	dst1 := &merge.Partition{Key: [][]byte{[]byte("a")}, Rows: []merge.Row{hrow("b")}}
	dst2 := &merge.Partition{Key: [][]byte{[]byte("c")}, Rows: []merge.Row{hrow("d")}}
	if hashInput(0, src) == hashInput(0, dst1, dst2) {
		t.Fatal("a{b,c,d} and a{b} + c{d} hash alike")
	}
}

// An expiring cell and a permanent one, or two expiring cells whose expiry instants are at least
// ExpiryTolerance apart, are different data: Cassandra's reconciliation tells them apart.
func TestHashSeesExpiry(t *testing.T) {
	p := func(ttl int32) *merge.Partition {
		return &merge.Partition{Key: [][]byte{{1}}, Rows: []merge.Row{{Clustering: [][]byte{{1}}, Columns: []merge.Column{
			{Name: "v", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte{1}, WriteTime: 5, TTL: ttl}}}}}}
	}
	if hashInput(1000, p(0)) == hashInput(1000, p(100)) {
		t.Fatal("a permanent and an expiring cell hash alike")
	}
	tol := int32(merge.ExpiryTolerance.Seconds())
	for ttl := int32(1); ttl < 50; ttl++ {
		if hashInput(1000, p(ttl)) == hashInput(1000, p(ttl+tol)) {
			t.Fatalf("expiries %d s apart (TTL %d) hash alike", tol, ttl)
		}
	}
}

// describe is a canonical text of everything verify compares in partitions read from Cassandra.
func describe(now int64, parts []*merge.Partition) string {
	var b bytes.Buffer
	for _, p := range parts {
		fmt.Fprintf(&b, "P%q[", p.Key)
		for _, r := range p.Rows {
			fmt.Fprintf(&b, "R%v%q{", r.Static, r.Clustering)
			for _, c := range r.Columns {
				if !c.Present {
					continue
				}
				cell := func(c merge.Cell) {
					exp := int64(-1)
					if c.TTL > 0 {
						exp = (now + int64(c.TTL)) / int64(merge.ExpiryTolerance.Seconds())
					}
					fmt.Fprintf(&b, "%q@%d/%d/%v ", c.Value, c.WriteTime, exp, c.Deleted)
				}
				fmt.Fprintf(&b, "C%q%d:", c.Name, c.Kind)
				if c.Kind == merge.Simple {
					cell(c.Cell)
				}
				for _, e := range c.Elems {
					fmt.Fprintf(&b, "E%q=", e.Key)
					cell(e.Cell)
				}
			}
			b.WriteString("}")
		}
		b.WriteString("]")
	}
	return b.String()
}

// Property: two different sequences of partitions never hash alike by construction (the hash's
// input is an injective encoding of the data). Small alphabets make structural collisions likely.
func TestHashInputIsInjective(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 29))
	pick := func(s ...string) []byte { return []byte(s[rng.IntN(len(s))]) }
	cell := func() merge.Cell {
		c := merge.Cell{Value: pick("", "a", "b", "ab"), WriteTime: int64(rng.IntN(3))}
		if rng.IntN(3) == 0 {
			c.TTL = int32(rng.IntN(6))
		}
		return c
	}
	gen := func() []*merge.Partition {
		var out []*merge.Partition
		for range rng.IntN(3) {
			p := &merge.Partition{Key: [][]byte{pick("a", "b", "ab")}}
			for range rng.IntN(3) {
				r := merge.Row{Clustering: [][]byte{pick("a", "b", "ab")}, Static: rng.IntN(4) == 0}
				if r.Static {
					r.Clustering = [][]byte{}
				}
				for range rng.IntN(3) {
					c := merge.Column{Name: string(pick("a", "b", "ab")), Present: true}
					switch rng.IntN(3) {
					case 0:
						c.Kind, c.Cell = merge.Simple, cell()
					case 1:
						c.Kind = merge.Set
						for range 1 + rng.IntN(2) {
							c.Elems = append(c.Elems, merge.Elem{Key: pick("a", "b", "ab"), Cell: cell()})
						}
					default:
						c.Kind = merge.List
						for range 1 + rng.IntN(2) {
							c.Elems = append(c.Elems, merge.Elem{Key: pick("a", "b", "ab"), Cell: cell()})
						}
					}
					r.Columns = append(r.Columns, c)
				}
				p.Rows = append(p.Rows, r)
			}
			out = append(out, p)
		}
		return out
	}
	seen := map[string]string{}
	for range 200_000 {
		parts := gen()
		in, d := hashInput(1000, parts...), describe(1000, parts)
		if prev, ok := seen[in]; ok && prev != d {
			t.Fatalf("different data hash alike:\n%s\n%s", prev, d)
		}
		seen[in] = d
	}
}

// TestSubrangeKeyedPerRun: every verify run draws its own key, and the same subrange hashes
// differently under two runs' keys, so a pair colliding under one key (were one found) says
// nothing about the next run's.
func TestSubrangeKeyedPerRun(t *testing.T) {
	k1, err := newSubrangeKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := newSubrangeKey()
	if err != nil {
		t.Fatal(err)
	}
	if *k1 == *k2 {
		t.Fatal("two verify runs drew the same key")
	}
	p := &merge.Partition{Key: [][]byte{[]byte("k")}, Rows: []merge.Row{hrow("c", "v")}}
	h1, h2 := k1.hasher(), k2.hasher()
	hashPartition(h1, p, 1000)
	hashPartition(h2, p, 1000)
	if sumOf(h1) == sumOf(h2) {
		t.Fatal("the subrange sum does not depend on the run's key")
	}
}

// BenchmarkVerifyHash: the CPU cost of verify's subrange hashing, the unkeyed 64-bit FNV-1a it
// used before and the keyed HMAC-SHA-256/128 it uses now (fed unbuffered, and buffered as
// hashRange does), side by side over the same partitions
// (100 partitions of 20 rows, 3 text cells of 32 bytes and a 4-element set each).
// go test -run '^$' -bench BenchmarkVerifyHash ./forklift/
func BenchmarkVerifyHash(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	val := func(n int) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(rng.UintN(256))
		}
		return v
	}
	var parts []*merge.Partition
	var size int64
	for pi := 0; pi < 100; pi++ {
		p := &merge.Partition{Key: [][]byte{val(8)}}
		for ri := 0; ri < 20; ri++ {
			r := merge.Row{Clustering: [][]byte{val(8)}}
			for ci := 0; ci < 3; ci++ {
				v := val(32)
				size += int64(len(v))
				r.Columns = append(r.Columns, merge.Column{Name: fmt.Sprintf("c%d", ci), Kind: merge.Simple, Present: true,
					Cell: merge.Cell{Value: v, WriteTime: int64(rng.Uint32())}})
			}
			s := merge.Column{Name: "tags", Kind: merge.Set, Present: true}
			for ei := 0; ei < 4; ei++ {
				s.Elems = append(s.Elems, merge.Elem{Key: val(8), Cell: merge.Cell{WriteTime: 7, TTL: 3600}})
			}
			r.Columns = append(r.Columns, s)
			p.Rows = append(p.Rows, r)
		}
		parts = append(parts, p)
	}
	key, err := newSubrangeKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, hc := range []struct {
		name string
		new  func() hash.Hash
	}{
		{"fnv64a-before", func() hash.Hash { return fnv.New64a() }},
		{"hmac-sha256-128-unbuffered", key.hasher},
		{"hmac-sha256-128-now", nil}, // as hashRange: buffered
	} {
		b.Run(hc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if hc.new == nil {
					h := newBufferedHash(key.hasher())
					for _, p := range parts {
						hashPartition(h, p, 1000)
					}
					_ = h.sum()
					continue
				}
				h := hc.new()
				for _, p := range parts {
					hashPartition(h, p, 1000)
				}
				_ = h.Sum(nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100*20), "ns/row")
		})
	}
}
