package merge

import (
	"fmt"
	"math/rand"
	"testing"
)

const propertyRuns = 3000

func mustNew(t testing.TB, name string, opts map[string]any) Resolver {
	t.Helper()
	r, err := New(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// resolverCases are the resolvers under property and fuzz tests with their expected outcome.
var resolverCases = []struct {
	name   string
	opts   map[string]any
	expect func(src, dst *Partition) map[string]string
}{
	{"lww", nil, expectLWW},
	{"union", nil, expectLWW}, // with no tombstones in reads, union keeps what lww keeps
	{"prefer-source", nil, func(src, dst *Partition) map[string]string { return view(src) }},
	{"prefer-destination", nil, func(src, dst *Partition) map[string]string {
		if dst == nil {
			return view(src)
		}
		return view(dst)
	}},
	{"newest-by", map[string]any{"column": "pos", "type": "bigint"}, func(src, dst *Partition) map[string]string { return expectNewestBy(src, dst, "pos") }},
	{"viewing-history", map[string]any{"title-key": 0, "position": "pos", "time": "at", "cap": 2}, func(src, dst *Partition) map[string]string {
		return expectHistory(src, dst, 2)
	}},
}

// checkResolution applies the invariants every resolver keeps on realistic inputs (no tombstones):
// inputs untouched; the Write, applied by Cassandra's rules, lands on the expected result; a second
// run over what is then read writes nothing; written timestamps never exceed max(inputs) + 1 µs.
func checkResolution(r Resolver, src, dst *Partition, expect func(src, dst *Partition) map[string]string) error {
	srcCopy, dstCopy := clonePartition(src), clonePartition(dst)
	res, err := r.Resolve(src, dst)
	if err != nil {
		return fmt.Errorf("resolve: %v", err)
	}
	if !deepEqualPartition(src, srcCopy) || !deepEqualPartition(dst, dstCopy) {
		return fmt.Errorf("resolve modified its inputs")
	}
	if res.Quarantine != nil {
		return fmt.Errorf("unexpected quarantine: %s", res.Quarantine.Reason)
	}
	var top int64
	for _, p := range []*Partition{src, dst} {
		if p == nil {
			continue
		}
		for i := range p.Rows {
			top = max(top, rowMaxTime(&p.Rows[i]))
		}
	}
	if res.Write != nil {
		for _, row := range res.Write.Rows {
			for _, c := range row.Columns {
				if c.Present && c.Cell.WriteTime > top+1 {
					return fmt.Errorf("cell %s written at %d > max input %d + 1", c.Name, c.Cell.WriteTime, top)
				}
				for _, e := range c.Elems {
					if e.Cell.WriteTime > top+1 {
						return fmt.Errorf("element of %s written at %d > max input %d + 1", c.Name, e.Cell.WriteTime, top)
					}
				}
			}
		}
	}
	st := newStore(dst, src.Key)
	st.apply(res.Write)
	got := st.read()
	if d := diffViews(view(got), expect(src, dst)); d != "" {
		return fmt.Errorf("result differs from the rule:\n%s\nwrite: %s", d, dump(res.Write))
	}
	again, err := r.Resolve(src, got)
	if err != nil {
		return fmt.Errorf("second resolve: %v", err)
	}
	if again.Write != nil {
		return fmt.Errorf("second run writes again: %s", dump(again.Write))
	}
	return nil
}

func dump(p *Partition) string {
	if p == nil {
		return "nil"
	}
	b, _ := QuarantineJSONLine("", &Quarantine{Source: p})
	return string(b)
}

func TestPropertiesResolvers(t *testing.T) {
	for _, tc := range resolverCases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, tc.name, tc.opts)
			rng := rand.New(rand.NewSource(42))
			for i := 0; i < propertyRuns; i++ {
				src, dst := genPair(rng, true)
				if err := checkResolution(r, src, dst, tc.expect); err != nil {
					t.Fatalf("run %d: %v\nsrc: %s\ndst: %s", i, err, dump(src), dump(dst))
				}
			}
		})
	}
}

// Reconcile agrees with Cassandra's rules and is commutative, associative and idempotent.
func TestPropertiesReconcile(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	o := genOpts{tombstones: true}
	for i := 0; i < 20000; i++ {
		a, b, c := genCell(rng, o), genCell(rng, o), genCell(rng, o)
		if err := checkCells(a, b, c); err != nil {
			t.Fatalf("%v\na=%+v\nb=%+v\nc=%+v", err, a, b, c)
		}
	}
}

func checkCells(a, b, c Cell) error {
	ab := Reconcile(a, b)
	want := b
	if refReconcile(a, b) {
		want = a
	}
	if !cassandraSame(ab, want) {
		return fmt.Errorf("Reconcile(a, b) = %+v, Cassandra keeps %+v", ab, want)
	}
	if !cellEqual(ab, Reconcile(b, a)) {
		return fmt.Errorf("not commutative: %+v vs %+v", ab, Reconcile(b, a))
	}
	if !cellEqual(Reconcile(ab, c), Reconcile(a, Reconcile(b, c))) {
		return fmt.Errorf("not associative")
	}
	if !cellEqual(Reconcile(a, a), a) {
		return fmt.Errorf("not idempotent")
	}
	return nil
}

// Partition-level lww: commutative in what a reader sees, idempotent (a partition merged with
// itself writes nothing), associative for simple columns, and a blind copy reaches the same
// result as a resolved one (without lists: a blind list write at the destination's own newest
// timestamp keeps both lists' elements, the documented tie limit).
func TestPropertiesLWWPartition(t *testing.T) {
	r := mustNew(t, "lww", nil)
	rng := rand.New(rand.NewSource(11))
	merged := func(a, b *Partition) *Partition {
		res, err := r.Resolve(a, b)
		if err != nil {
			t.Fatal(err)
		}
		st := newStore(b, a.Key)
		st.apply(res.Write)
		return st.read()
	}
	for i := 0; i < propertyRuns; i++ {
		a, b := genPair(rng, true)
		if b == nil {
			b = &Partition{Key: a.Key}
		}
		if d := diffViews(view(merged(a, b)), view(merged(b, a))); d != "" {
			t.Fatalf("run %d: not commutative:\n%s\na: %s\nb: %s", i, d, dump(a), dump(b))
		}
		if res, _ := r.Resolve(a, a); res.Write != nil || res.Conflicts != nil {
			t.Fatalf("run %d: merging a partition with itself writes %s", i, dump(res.Write))
		}
		o := genOpts{simpleOnly: true, maxRows: 4}
		x, y, z := genPartition(rng, o, "S"), genPartition(rng, o, "D"), genPartition(rng, o, "E")
		if d := diffViews(view(merged(merged(x, y), z)), view(merged(x, merged(y, z)))); d != "" {
			t.Fatalf("run %d: not associative:\n%s", i, d)
		}
		s, d := genPair(rng, false)
		blind, _ := r.Resolve(s, nil)
		st := newStore(d, s.Key)
		st.apply(blind.Write)
		if diff := diffViews(view(st.read()), expectLWW(s, d)); diff != "" {
			t.Fatalf("run %d: blind copy differs:\n%s", i, diff)
		}
	}
}

// union never drops a row, even against tombstones.
func TestPropertiesUnionKeepsRows(t *testing.T) {
	r := mustNew(t, "union", nil)
	rng := rand.New(rand.NewSource(13))
	o := genOpts{tombstones: true, lists: true, maxRows: 4}
	for i := 0; i < propertyRuns; i++ {
		src, dst := genPartition(rng, o, "S"), genPartition(rng, o, "D")
		res, err := r.Resolve(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		st := newStore(dst, src.Key)
		st.apply(res.Write)
		got := rowsByCK(st.read())
		for _, p := range []*Partition{src, dst} {
			for _, row := range view(p) {
				_ = row
			}
			for k, row := range rowsByCK(p) {
				if len(view(&Partition{Rows: []Row{*row}})) > 0 && got[k] == nil {
					t.Fatalf("run %d: row %s lost\nsrc: %s\ndst: %s", i, k, dump(src), dump(dst))
				}
			}
		}
	}
}

// quarantine sets aside exactly the partitions breaking its rule and otherwise is its inner resolver.
func TestPropertiesQuarantine(t *testing.T) {
	q := mustNew(t, "quarantine", map[string]any{"resolver": "lww", "columns": []any{"a"}})
	inner := mustNew(t, "lww", nil)
	rng := rand.New(rand.NewSource(17))
	for i := 0; i < propertyRuns; i++ {
		src, dst := genPair(rng, true)
		if err := checkQuarantine(q, inner, src, dst); err != nil {
			t.Fatalf("run %d: %v\nsrc: %s\ndst: %s", i, err, dump(src), dump(dst))
		}
	}
}

func checkQuarantine(q, inner Resolver, src, dst *Partition) error {
	res, err := q.Resolve(src, dst)
	if err != nil {
		return err
	}
	want, _ := inner.Resolve(src, dst)
	differ := false
	dr := rowsByCK(dst)
	for k, s := range rowsByCK(src) {
		sc, dc := colOf(s, "a"), colOf(dr[k], "a")
		if sc != nil && dc != nil && sc.Present && dc.Present && !sameValue(sc.Cell, dc.Cell) {
			differ = true
		}
	}
	if differ {
		if res.Quarantine == nil || res.Write != nil || res.Quarantine.Source != src || res.Quarantine.Destination != dst {
			return fmt.Errorf("column a differs but not quarantined: %+v", res)
		}
		line, err := QuarantineJSONLine("ks.t", res.Quarantine)
		if err != nil {
			return err
		}
		table, back, err := ParseQuarantineJSONLine(line)
		if err != nil || table != "ks.t" || back.Reason != res.Quarantine.Reason ||
			!deepEqualPartition(back.Source, src) || !deepEqualPartition(back.Destination, dst) {
			return fmt.Errorf("quarantine JSON does not round-trip (%v): %s", err, line)
		}
		return nil
	}
	if res.Quarantine != nil || !deepEqualPartition(res.Write, want.Write) {
		return fmt.Errorf("quarantined or differs from lww without cause: %+v", res)
	}
	return nil
}
