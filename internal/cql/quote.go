package cql

import "strings"

// Quote returns ident as a quoted CQL identifier. Always quoting keeps mixed-case and reserved names
// exactly as system_schema spells them.
func Quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// QuoteTable returns keyspace.table with both parts quoted.
func QuoteTable(keyspace, table string) string {
	return Quote(keyspace) + "." + Quote(table)
}

// QuoteAll quotes each identifier.
func QuoteAll(idents []string) []string {
	out := make([]string, len(idents))
	for i, s := range idents {
		out[i] = Quote(s)
	}
	return out
}
