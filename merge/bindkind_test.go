package merge

import (
	"errors"
	"strings"
	"testing"
)

// TestNewestByBindRefusesKeyAndStaticColumns: newest-by's column must be a regular column. A
// partition key or clustering column is in no row's Columns, a static one only in the partition's
// static row: every partition both sides hold would fail at copy time, so Bind refuses them (alone
// and under quarantine), naming the option and the column's kind; a regular column binds.
func TestNewestByBindRefusesKeyAndStaticColumns(t *testing.T) {
	s := Schema{
		Types:        map[string]string{"pk": "int", "ck": "int", "s": "bigint", "v": "bigint"},
		PartitionKey: []string{"pk"}, Clustering: []string{"ck"}, Static: []string{"s"},
	}
	for col, kind := range map[string]string{"pk": "partition key", "ck": "clustering", "s": "static", "v": ""} {
		for _, name := range []string{"newest-by", "quarantine"} {
			opts := map[string]any{"column": col}
			if name == "quarantine" {
				opts = map[string]any{"resolver": "newest-by", "options": map[string]any{"column": col}, "max-conflicts": 1}
			}
			r, err := New(name, opts)
			if err != nil {
				t.Fatalf("%s column %q: %v", name, col, err)
			}
			_, err = Bind(r, s)
			if kind == "" {
				if err != nil {
					t.Fatalf("%s column %q (regular): %v", name, col, err)
				}
				continue
			}
			if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), `option "column"`) ||
				!strings.Contains(err.Error(), kind+" column") {
				t.Fatalf("%s column %q (%s): Bind = %v, want ErrBadOption naming option \"column\" and %q", name, col, kind, err, kind)
			}
		}
	}
}
