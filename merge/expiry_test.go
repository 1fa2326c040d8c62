package merge

import (
	"testing"
	"time"
)

// The two sides' remaining TTLs of one expiry routinely read ±1 s apart (truncation to the second,
// the wait between the two reads, clock skew). Inside ExpiryTolerance no resolver writes anything
// (no rewrite at writetime + 1 µs) and none reports a conflict; outside it, the later expiry is a
// different version.
func TestResolversToleratesExpiryJitter(t *testing.T) {
	tol := int32(ExpiryTolerance / time.Second)
	mk := func(ttl int32) *Partition {
		cell := func(v string) Cell { return Cell{Value: []byte(v), WriteTime: 10, TTL: ttl} }
		return &Partition{Key: [][]byte{[]byte("pk")}, Rows: []Row{
			{Static: true, Clustering: [][]byte{}, Columns: []Column{{Name: "s", Kind: Simple, Present: true, Cell: cell("s")}}},
			{Clustering: [][]byte{[]byte("a")}, Columns: []Column{
				{Name: "pos", Kind: Simple, Present: true, Cell: cell("\x00\x00\x00\x00\x00\x00\x00\x05")},
				{Name: "v", Kind: Simple, Present: true, Cell: cell("x")},
				{Name: "m", Kind: Map, Present: true, Elems: []Elem{{Key: []byte("k"), Cell: cell("w")}}},
				{Name: "l", Kind: List, Present: true, Elems: []Elem{{Key: []byte{0}, Cell: cell("1")}, {Key: []byte{1}, Cell: cell("2")}}},
			}},
		}}
	}
	for _, rc := range resolverCases {
		if rc.name == "viewing-history" {
			continue // registered by examples/, not a built-in
		}
		r := mustNew(t, rc.name, rc.opts)
		for _, d := range []int32{-(tol - 1), -1, 1, tol - 1} {
			src, dst := mk(100), mk(100+d)
			res, err := r.Resolve(src, dst)
			if err != nil {
				t.Fatalf("%s: %v", rc.name, err)
			}
			if res.Write != nil || len(res.Conflicts) > 0 {
				t.Errorf("%s: TTLs %d and %d (inside the tolerance) write %s, conflicts %v", rc.name, 100, 100+d, dump(res.Write), res.Conflicts)
			}
		}
		// Beyond the tolerance the source's later expiry is a newer version lww must land.
		if rc.name == "lww" {
			res, _ := r.Resolve(mk(100+tol), mk(100))
			if res.Write == nil {
				t.Errorf("lww: a source expiring %d s later writes nothing", tol)
			}
		}
	}
}
