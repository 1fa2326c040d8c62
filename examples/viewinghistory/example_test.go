package viewinghistory_test

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/globalcloud/islands/examples/viewinghistory"
	"github.com/globalcloud/islands/merge"
)

func bigint(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func entry(title string, position, watchedAt, wt int64) merge.Row {
	return merge.Row{Clustering: [][]byte{[]byte(title)}, Columns: []merge.Column{
		{Name: "position", Present: true, Cell: merge.Cell{Value: bigint(position), WriteTime: wt}},
		{Name: "watched_at", Present: true, Cell: merge.Cell{Value: bigint(watchedAt), WriteTime: wt}},
	}}
}

// Linking the package registers the resolver: merge.New (and forklift's YAML) finds it by Name.
// Per title the furthest position stands, carrying the latest time seen on either side; the
// destination's row gets the source's position, stamped to beat both sides.
func Example() {
	r, err := merge.New(viewinghistory.Name, map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 50})
	if err != nil {
		panic(err)
	}
	src := &merge.Partition{Key: [][]byte{[]byte("m1")}, Rows: []merge.Row{entry("t1", 3000, 1000, 100)}}
	dst := &merge.Partition{Key: [][]byte{[]byte("m1")}, Rows: []merge.Row{entry("t1", 1200, 2000, 200)}}
	res, err := r.Resolve(src, dst)
	if err != nil {
		panic(err)
	}
	for _, row := range res.Write.Rows {
		for _, c := range row.Columns {
			fmt.Printf("%s.%s = %d @%d\n", row.Clustering[0], c.Name, binary.BigEndian.Uint64(c.Cell.Value), c.Cell.WriteTime)
		}
	}
	// Output:
	// t1.position = 3000 @201
}

// A bad option is an error wrapping merge.ErrBadOption, naming the option.
func ExampleNew() {
	_, err := viewinghistory.New(map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 0})
	fmt.Println(errors.Is(err, merge.ErrBadOption))
	fmt.Println(err)
	// Output:
	// true
	// viewinghistory: option "cap" is required, an integer ≥ 1: bad option
}
