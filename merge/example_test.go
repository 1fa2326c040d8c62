package merge_test

import (
	"encoding/binary"
	"fmt"

	"github.com/globalcloud/islands/merge"
)

// Helpers that build partitions the way forklift reads them: CQL-serialised values.

func text(s string) []byte { return []byte(s) }

func bigint(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func col(name string, v []byte, wt int64) merge.Column {
	return merge.Column{Name: name, Present: true, Cell: merge.Cell{Value: v, WriteTime: wt}}
}

func part(key string, rows ...merge.Row) *merge.Partition {
	return &merge.Partition{Key: [][]byte{text(key)}, Rows: rows}
}

func row(ck string, cols ...merge.Column) merge.Row {
	r := merge.Row{Columns: cols}
	if ck != "" {
		r.Clustering = [][]byte{text(ck)}
	}
	return r
}

// show prints what a resolution writes: row, column, value and writetime.
func show(res merge.Resolution) {
	if res.Quarantine != nil {
		fmt.Println("quarantined:", res.Quarantine.Reason)
		return
	}
	if res.Write == nil {
		fmt.Println("nothing to write; conflicts:", len(res.Conflicts))
		return
	}
	for _, r := range res.Write.Rows {
		for _, c := range r.Columns {
			v := string(c.Cell.Value)
			if len(c.Cell.Value) == 8 && c.Name != "plan" && c.Name != "email" && c.Name != "lang" {
				v = fmt.Sprint(int64(binary.BigEndian.Uint64(c.Cell.Value)))
			}
			if c.Cell.Deleted {
				v = "(deleted)"
			}
			key := ""
			if len(r.Clustering) > 0 {
				key = string(r.Clustering[0]) + "."
			}
			fmt.Printf("%s%s = %s @%d\n", key, c.Name, v, c.Cell.WriteTime)
		}
	}
	fmt.Println("conflicts:", len(res.Conflicts))
}

func mustNew(name string, opts map[string]any) merge.Resolver {
	r, err := merge.New(name, opts)
	if err != nil {
		panic(err)
	}
	return r
}

// lww keeps, cell by cell, the newer write, as Cassandra itself would: the source's newer email
// and the destination's newer plan.
func Example_lww() {
	src := part("m1", row("", col("plan", text("basic"), 100), col("email", text("a@new"), 300)))
	dst := part("m1", row("", col("plan", text("premium"), 200), col("email", text("a@old"), 150)))
	res, _ := mustNew("lww", nil).Resolve(src, dst)
	show(res)
	// Output:
	// email = a@new @300
	// conflicts: 2
}

// union keeps every row of both sides; rows on both sides merge like lww.
func Example_union() {
	src := part("m1", row("t1", col("pos", bigint(60), 100)), row("t2", col("pos", bigint(90), 100)))
	dst := part("m1", row("t1", col("pos", bigint(30), 50)), row("t3", col("pos", bigint(10), 100)))
	res, _ := mustNew("union", nil).Resolve(src, dst)
	show(res)
	// Output:
	// t1.pos = 60 @100
	// t2.pos = 90 @100
	// conflicts: 1
}

// prefer-source takes the whole partition from the source where both sides hold it.
func Example_preferSource() {
	src := part("m1", row("", col("plan", text("basic"), 100)))
	dst := part("m1", row("", col("plan", text("premium"), 200)))
	res, _ := mustNew("prefer-source", nil).Resolve(src, dst)
	show(res)
	// Output:
	// plan = basic @201
	// conflicts: 1
}

// prefer-destination keeps the destination's partition where both sides hold it: even a newer
// source cell is not written.
func Example_preferDestination() {
	src := part("m1", row("", col("plan", text("basic"), 300)))
	dst := part("m1", row("", col("plan", text("premium"), 200)))
	res, _ := mustNew("prefer-destination", nil).Resolve(src, dst)
	show(res)
	// Output:
	// nothing to write; conflicts: 1
}

// newest-by keeps, per row, the version with the larger application column, whatever the
// writetimes say: here the destination's, which it already holds.
func Example_newestBy() {
	src := part("m1", row("t1", col("pos", bigint(600), 500), col("updated_at", bigint(10), 500)))
	dst := part("m1", row("t1", col("pos", bigint(900), 100), col("updated_at", bigint(20), 100)))
	res, _ := mustNew("newest-by", map[string]any{"column": "updated_at", "type": "timestamp"}).Resolve(src, dst)
	show(res)
	// Output:
	// nothing to write; conflicts: 2
}

// viewing-history keeps per title the furthest position, carrying the latest time seen: only the
// position must change in the destination, stamped to beat both sides.
func Example_viewingHistory() {
	src := part("m1", row("t1", col("position", bigint(3000), 100), col("watched_at", bigint(1000), 100)))
	dst := part("m1", row("t1", col("position", bigint(1200), 200), col("watched_at", bigint(2000), 200)))
	r := mustNew("viewing-history", map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 50})
	res, _ := r.Resolve(src, dst)
	show(res)
	// Output:
	// t1.position = 3000 @201
	// conflicts: 1
}

// quarantine wraps lww: members whose maturity level differs are set aside for a person.
func Example_quarantine() {
	r := mustNew("quarantine", map[string]any{"resolver": "lww", "columns": []any{"maturity"}})
	src := part("m1", row("", col("lang", text("fr"), 300), col("maturity", bigint(2), 300)))
	dst := part("m1", row("", col("lang", text("en"), 100), col("maturity", bigint(4), 100)))
	res, _ := r.Resolve(src, dst)
	show(res)
	// Output:
	// quarantined: column "maturity" differs in row []: source 0000000000000002, destination 0000000000000004
}
