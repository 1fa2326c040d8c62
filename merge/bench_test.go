package merge_test

import (
	"fmt"
	"testing"

	"github.com/globalcloud/islands/merge"
)

// benchPartitions returns a source and a destination holding the same rows×cols partition, half the
// cells newer on each side (every cell conflicts), as forklift meets them where both islands hold a
// member.
func benchPartitions(rows, cols int) (*merge.Partition, *merge.Partition) {
	mk := func(side int64) *merge.Partition {
		p := &merge.Partition{Key: [][]byte{bigint(42)}}
		for r := 0; r < rows; r++ {
			row := merge.Row{Clustering: [][]byte{bigint(int64(r))}}
			for c := 0; c < cols; c++ {
				wt := int64(1000 + r*cols + c)
				if (r+c)%2 == int(side) {
					wt += 500
				}
				name := fmt.Sprintf("c%d", c)
				switch c {
				case 0:
					name = "position"
				case 1:
					name = "watched_at"
				case 2:
					name = "updated_at"
				}
				row.Columns = append(row.Columns, col(name, bigint(side*1000+int64(r*cols+c)), wt))
			}
			p.Rows = append(p.Rows, row)
		}
		return p
	}
	return mk(0), mk(1)
}

func BenchmarkResolve(b *testing.B) {
	resolvers := []struct {
		name string
		opts map[string]any
	}{
		{"lww", nil}, {"union", nil}, {"prefer-source", nil}, {"prefer-destination", nil},
		{"newest-by", map[string]any{"column": "updated_at", "type": "timestamp"}},
		{"viewing-history", map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 50}},
		{"quarantine", map[string]any{"resolver": "lww", "max-conflicts": 1 << 20}},
	}
	for _, size := range []struct{ rows, cols int }{{10, 10}, {100, 10}, {1000, 4}} {
		src, dst := benchPartitions(size.rows, size.cols)
		for _, rs := range resolvers {
			if size.rows == 1000 && rs.name != "viewing-history" && rs.name != "lww" && rs.name != "union" {
				continue
			}
			r := mustNew(rs.name, rs.opts)
			b.Run(fmt.Sprintf("%s/%dx%d", rs.name, size.rows, size.cols), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.Resolve(src, dst); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
