package forklift

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// leakyResolver fails the way a custom resolver written carelessly does: its error quotes the
// partition and clustering keys (as they are, %q, %x, %X, %v).
type leakyResolver struct{}

var errLeaky = errors.New("leaky: cannot decide")

func (leakyResolver) Name() string           { return "sec5-leaky" }
func (leakyResolver) NeedsDestination() bool { return true }
func (leakyResolver) Resolve(src, dst *merge.Partition) (merge.Resolution, error) {
	k, ck := src.Key[0], dst.Rows[0].Clustering[0]
	return merge.Resolution{}, fmt.Errorf("partition %s %q %x %X %v row %s %x %v: %w", k, k, src.Key, k, k, ck, dst.Rows[0].Clustering, ck, errLeaky)
}

func init() {
	merge.Register("sec5-leaky", func(map[string]any) (merge.Resolver, error) { return leakyResolver{}, nil })
}

func sec5Schema() *cql.Table {
	text := func(name, kind string) cql.Column {
		return cql.Column{Name: name, Type: "text", Kind: kind, Shape: cql.ShapeOf("text", nil)}
	}
	return &cql.Table{Keyspace: "media", Name: "history",
		PartitionKey: []cql.Column{text("member", "partition_key")},
		Clustering:   []cql.Column{text("title", "clustering")},
		Regular: []cql.Column{{Name: "position", Type: "int", Kind: "regular", Shape: cql.ShapeOf("int", nil)},
			{Name: "watched_at", Type: "timestamp", Kind: "regular", Shape: cql.ShapeOf("timestamp", nil)},
			text("name", "regular")}}
}

// A resolver's error reaches forklift's callers (verify's, copy's) named by key_hash, with every
// form of the partition's and its rows' keys taken out of the resolver's text, and still matches
// the resolver's sentinel (errors.Is).
func TestSec5ResolverErrorIsStrippedOfKeys(t *testing.T) {
	tb, err := newTable(TableConfig{Keyspace: "media", Table: "history", Resolver: "sec5-leaky"}, sec5Schema(), sec5Schema())
	if err != nil {
		t.Fatal(err)
	}
	const member, title = "alice@example.com", "The Secret Life of Alice"
	row := func(ck string) merge.Row {
		return merge.Row{Clustering: [][]byte{[]byte(ck)}, Columns: []merge.Column{{Name: "name", Present: true, Cell: merge.Cell{Value: []byte("x"), WriteTime: 1}}}}
	}
	src := &merge.Partition{Key: [][]byte{[]byte(member)}, Rows: []merge.Row{row("another title")}}
	dst := &merge.Partition{Key: [][]byte{[]byte(member)}, Rows: []merge.Row{row(title)}}
	_, rerr := tb.resolver.Resolve(src, dst)
	for name, err := range map[string]error{
		"verify": comparePartition(tb, src, dst, &counts{}),
		"copy":   resolveError(tb, src, dst, rerr), // as copy.go wraps it // as copy.go wraps it
	} {
		if !errors.Is(err, errLeaky) {
			t.Fatalf("%s: %v: want the resolver's sentinel", name, err)
		}
		msg := err.Error()
		for _, v := range []string{member, title} {
			x := hex.EncodeToString([]byte(v))
			for _, form := range []string{v, x, strings.ToUpper(x), fmt.Sprint([]byte(v))[1 : len(fmt.Sprint([]byte(v)))-1]} {
				if strings.Contains(msg, form) {
					t.Errorf("%s: the error holds %q (as %q): %s", name, v, form, msg)
				}
			}
		}
		if !strings.Contains(msg, keyHash(src.Key)) || !strings.Contains(msg, "media.history") {
			t.Errorf("%s: the error does not name the table and the partition's key_hash: %s", name, msg)
		}
	}
}

// The shape errors of the built-in resolvers are refused when the table is opened, naming the
// option: never at the first partition.
func TestSec5ResolverOptionsCheckedAgainstTheTable(t *testing.T) {
	for _, c := range []struct {
		resolver string
		opts     map[string]any
		option   string
	}{
		{"viewing-history", map[string]any{"title": "titel", "position": "position", "time": "watched_at", "cap": 10}, `"title"`},
		{"viewing-history", map[string]any{"title": "title", "position": "position", "time": "watched_at", "cap": 10}, `"title"`},
		{"viewing-history", map[string]any{"title-key": 1, "position": "position", "time": "watched_at", "cap": 10}, `"title-key"`},
		{"viewing-history", map[string]any{"title-key": 0, "position": "member", "time": "watched_at", "cap": 10}, `"position"`},
		{"newest-by", map[string]any{"column": "title"}, `"column"`},
		{"quarantine", map[string]any{"resolver": "newest-by", "options": map[string]any{"column": "member"}, "max-conflicts": 1}, `"column"`},
	} {
		_, err := newTable(TableConfig{Keyspace: "media", Table: "history", Resolver: c.resolver, Options: c.opts}, sec5Schema(), sec5Schema())
		if !errors.Is(err, ErrConfig) || !strings.Contains(fmt.Sprint(err), c.option) {
			t.Errorf("%s %v: %v, want ErrConfig naming option %s", c.resolver, c.opts, err, c.option)
		}
	}
	// The ones that fit the table are taken.
	for _, opts := range []map[string]any{
		{"title-key": 0, "position": "position", "time": "watched_at", "cap": 10},
		{"title": "name", "position": "position", "time": "watched_at", "cap": 10},
	} {
		if _, err := newTable(TableConfig{Keyspace: "media", Table: "history", Resolver: "viewing-history", Options: opts}, sec5Schema(), sec5Schema()); err != nil {
			t.Errorf("%v: %v", opts, err)
		}
	}
}
