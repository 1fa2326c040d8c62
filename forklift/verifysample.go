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
		typ := t.colType(col.Name, 0)
		if col.Kind == merge.Simple {
			parts = append(parts, fmt.Sprintf("%s=%s @%d", col.Name, codec.Format(typ, col.Cell.Value), col.Cell.WriteTime))
			continue
		}
		if col.Kind == merge.List {
			lc := listCell(&col)
			parts = append(parts, fmt.Sprintf("%s=%s @%d", col.Name, codec.Format(typ, lc.Value), lc.WriteTime))
			continue
		}
		// Every element by name, value and writetime: the summary is a missing row's shadow id
		// (Difference.id), so it must change whenever any of the row's cells does.
		elems := make([]string, len(col.Elems))
		for i, e := range col.Elems {
			elems[i] = describeElem(typ, col.Kind, e)
		}
		parts = append(parts, fmt.Sprintf("%s={%s}", col.Name, strings.Join(elems, ", ")))
	}
	if len(parts) == 0 {
		return "(row marker only)"
	}
	return strings.Join(parts, ", ")
}
