package forklift

import (
	"fmt"
	"strings"

	"github.com/globalcloud/islands/internal/codec"
	"github.com/globalcloud/islands/merge"
)

// rowSummary is a missing row's sample text: each present source cell as name=value @writetime
// (a multi-cell collection as its element count and newest writetime), so the sample says what
// is missing, as missing and mismatched cells do.
func (t *table) rowSummary(r *merge.Row) string {
	var parts []string
	for _, col := range r.Columns {
		if !col.Present {
			continue
		}
		typ := ""
		for _, c := range t.cols {
			if c.Name == col.Name {
				typ = c.Type
				break
			}
		}
		if col.Kind == merge.Simple {
			parts = append(parts, fmt.Sprintf("%s=%s @%d", col.Name, codec.Format(typ, col.Cell.Value), col.Cell.WriteTime))
			continue
		}
		var newest int64
		for _, e := range col.Elems {
			newest = max(newest, e.Cell.WriteTime)
		}
		parts = append(parts, fmt.Sprintf("%s=(%d elements) @%d", col.Name, len(col.Elems), newest))
	}
	if len(parts) == 0 {
		return "(row marker only)"
	}
	return strings.Join(parts, ", ")
}
