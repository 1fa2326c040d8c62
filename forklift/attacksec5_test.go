package forklift

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	_ "github.com/globalcloud/islands/examples/viewinghistory" // as cmd/forklift links it
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// Attack (security review 5): docs/security.md says forklift's errors name a partition by
// key_hash, never by its key (a partition key may be a member's email). The resolvers' own errors
// do not keep to it, and forklift passes them on whole: copy.go wraps them ("resolve %s partition
// (key_hash …): %w"), verify returns them as they are, and cmd/forklift prints the error and logs
// it at error ("forklift run stopped"). The viewing-history resolver, which the forklift program
// links (cmd/forklift/resolvers.go), fails with "partition %x row %x" — the partition key and the
// clustering key in hex — when its title option names no column, or title-key a clustering
// component the table lacks: options newTable accepts (WithColumnTypes checks position and time
// only), so a typo (title: titel) reaches the first partition, and its member's key is in the error.
// merge's newest-by does the same (merge/newestby.go, "partition %x row %x", for a row without
// the column).
func TestAttackSec5ResolverErrorShowsThePartitionKeyInHex(t *testing.T) {
	text := func(name string, kind string, pos int) cql.Column {
		return cql.Column{Name: name, Type: "text", Kind: kind, Position: pos, Shape: cql.ShapeOf("text", nil)}
	}
	schema := func() *cql.Table {
		return &cql.Table{Keyspace: "media", Name: "history",
			PartitionKey: []cql.Column{text("member", "partition_key", 0)},
			Clustering:   []cql.Column{text("title", "clustering", 0)},
			Regular: []cql.Column{{Name: "position", Type: "int", Kind: "regular", Shape: cql.ShapeOf("int", nil)},
				{Name: "watched_at", Type: "timestamp", Kind: "regular", Shape: cql.ShapeOf("timestamp", nil)}}}
	}
	for _, opts := range []map[string]any{
		{"title": "titel", "position": "position", "time": "watched_at", "cap": 10}, // a typo
		{"title-key": 1, "position": "position", "time": "watched_at", "cap": 10},   // one clustering component, numbered from 0
	} {
		tc := TableConfig{Keyspace: "media", Table: "history", Resolver: "viewing-history", Options: opts}
		tb, err := newTable(tc, schema(), schema())
		if err != nil {
			t.Logf("%v: refused when the job opens (holds): %v", opts, err)
			continue
		}
		const member, title = "alice@example.com", "The Secret Life of Alice"
		i32 := binary.BigEndian.AppendUint32(nil, 7)
		ts := binary.BigEndian.AppendUint64(nil, 1_700_000_000_000)
		row := merge.Row{Clustering: [][]byte{[]byte(title)}, Columns: []merge.Column{
			{Name: "position", Present: true, Cell: merge.Cell{Value: i32, WriteTime: 1}},
			{Name: "watched_at", Present: true, Cell: merge.Cell{Value: ts, WriteTime: 1}}}}
		src := &merge.Partition{Key: [][]byte{[]byte(member)}, Rows: []merge.Row{row}}
		dst := &merge.Partition{Key: [][]byte{[]byte(member)}, Rows: []merge.Row{row}}
		err = comparePartition(tb, src, dst, &counts{})
		if err == nil {
			continue
		}
		for what, v := range map[string]string{"partition key": member, "clustering key": title} {
			if msg := err.Error(); strings.Contains(msg, hex.EncodeToString([]byte(v))) || strings.Contains(msg, v) {
				t.Errorf("%v: forklift's error shows the %s %q (hex): %v", opts, what, v, err)
			}
		}
	}
}
