package forklift

import (
	"bytes"
	"fmt"
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
