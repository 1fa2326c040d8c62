package merge

import (
	"math/rand"
	"testing"
)

// Every resolver that declares EqualSides writes and quarantines nothing for two identical sides
// (the same draw on both sides; list paths differ, as timeuuids do between clusters), and one that
// changes identical inputs (a capped history) must not declare it.
func TestPropertiesEqualSidesWriteNothing(t *testing.T) {
	cases := []struct {
		name string
		opts map[string]any
	}{
		{"lww", nil}, {"union", nil}, {"prefer-source", nil}, {"prefer-destination", nil},
		{"newest-by", map[string]any{"column": "pos", "type": "bigint"}},
		{"quarantine", map[string]any{"resolver": "lww", "columns": []any{"a"}}},
		{"quarantine", map[string]any{"resolver": "newest-by", "options": map[string]any{"column": "pos", "type": "bigint"}, "max-conflicts": 0}},
	}
	for _, tc := range cases {
		r := mustNew(t, tc.name, tc.opts)
		if !WritesNothingOnEqualSides(r) {
			t.Fatalf("%s does not declare EqualSides", tc.name)
		}
		for i := 0; i < propertyRuns; i++ {
			o := genOpts{lists: true, maxRows: 4}
			src := genPartition(rand.New(rand.NewSource(int64(i))), o, "S")
			dst := genPartition(rand.New(rand.NewSource(int64(i))), o, "D")
			if len(dst.Rows) == 0 {
				continue
			}
			res, err := r.Resolve(src, dst)
			if err != nil {
				t.Fatal(err)
			}
			if res.Quarantine != nil || (res.Write != nil && len(res.Write.Rows) > 0) {
				t.Fatalf("%s run %d: identical sides resolved to a write or a quarantine\nside: %s\nwrite: %s",
					tc.name, i, dump(src), dump(res.Write))
			}
		}
	}
	capped := mustNew(t, "viewing-history", map[string]any{"title-key": 0, "position": "pos", "time": "at", "cap": 2})
	if WritesNothingOnEqualSides(capped) {
		t.Fatal("viewing-history (a cap) declares EqualSides")
	}
}
