package merge

import (
	"testing"
	"unicode/utf8"
)

// The fuzz targets draw two partitions (or cells) from the fuzzer's bytes with the same generators
// as the property tests and check the same invariants. Crashers found land in testdata/fuzz and run
// as regression cases with every plain go test.

func seeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x03\x01\x00\x02\x03\x01\x01\x00\x02\x04\x05\x06\x07\x03\x02\x01"))
	f.Add([]byte("lww union prefer source destination newest by viewing history quarantine"))
}

func FuzzReconcile(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &byteSource{b: b}
		o := genOpts{tombstones: true}
		a, x, y := genCell(r, o), genCell(r, o), genCell(r, o)
		if err := checkCells(a, x, y); err != nil {
			t.Fatalf("%v\na=%+v\nb=%+v\nc=%+v", err, a, x, y)
		}
	})
}

func fuzzResolver(f *testing.F, idx int) {
	seeds(f)
	tc := resolverCases[idx]
	r := mustNew(f, tc.name, tc.opts)
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst := genPair(&byteSource{b: b}, true)
		if err := checkResolution(r, src, dst, tc.expect); err != nil {
			t.Fatalf("%v\nsrc: %s\ndst: %s", err, dump(src), dump(dst))
		}
	})
}

func FuzzLWW(f *testing.F)               { fuzzResolver(f, 0) }
func FuzzUnion(f *testing.F)             { fuzzResolver(f, 1) }
func FuzzPreferSource(f *testing.F)      { fuzzResolver(f, 2) }
func FuzzPreferDestination(f *testing.F) { fuzzResolver(f, 3) }
func FuzzNewestBy(f *testing.F)          { fuzzResolver(f, 4) }
func FuzzViewingHistory(f *testing.F)    { fuzzResolver(f, 5) }

// FuzzQuarantine checks the quarantine rule and the JSON line round trip.
func FuzzQuarantine(f *testing.F) {
	seeds(f)
	q := mustNew(f, "quarantine", map[string]any{"resolver": "lww", "columns": []any{"a"}})
	inner := mustNew(f, "lww", nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst := genPair(&byteSource{b: b}, true)
		if err := checkQuarantine(q, inner, src, dst); err != nil {
			t.Fatalf("%v\nsrc: %s\ndst: %s", err, dump(src), dump(dst))
		}
	})
}

// FuzzModel feeds arbitrary bytes as partition contents (tombstones, odd keys, duplicate columns)
// to every resolver: none may panic or modify its inputs, and the JSON form round-trips.
func FuzzModel(f *testing.F) {
	seeds(f)
	var rs []Resolver
	for _, tc := range resolverCases {
		rs = append(rs, mustNew(f, tc.name, tc.opts))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bs := &byteSource{b: b}
		o := genOpts{tombstones: true, lists: true, maxRows: 6}
		src, dst := genPartition(bs, o, "S"), genPartition(bs, o, "D")
		if bs.Intn(2) == 0 {
			dst = nil
		}
		for _, r := range rs {
			sc, dc := clonePartition(src), clonePartition(dst)
			if _, err := r.Resolve(src, dst); err != nil {
				t.Fatalf("%s: %v", r.Name(), err)
			}
			if !deepEqualPartition(src, sc) || !deepEqualPartition(dst, dc) {
				t.Fatalf("%s modified its inputs", r.Name())
			}
		}
		line, err := QuarantineJSONLine("t", &Quarantine{Reason: string(b), Source: src, Destination: dst})
		if err != nil {
			t.Fatal(err)
		}
		_, q, err := ParseQuarantineJSONLine(line)
		if err != nil || utf8.Valid(b) && q.Reason != string(b) || !deepEqualPartition(q.Source, src) || !deepEqualPartition(q.Destination, dst) {
			t.Fatalf("JSON round trip: %v\n%s", err, line)
		}
	})
}
