package forklift

import (
	"testing"

	"github.com/globalcloud/islands/internal/cql"
)

// TestCreateTableDDL (issue 31, --create-table): the destination table is created from the
// source's schema: every column with its type, static columns, the composite partition key,
// clustering columns in order with their clustering order.
func TestCreateTableDDL(t *testing.T) {
	src := &cql.Table{Keyspace: "island", Name: "history",
		PartitionKey: []cql.Column{{Name: "member_id", Type: "bigint", Kind: "partition_key"}, {Name: "Region", Type: "text", Kind: "partition_key", Position: 1}},
		Clustering: []cql.Column{{Name: "title_id", Type: "bigint", Kind: "clustering", Order: "asc"},
			{Name: "watched_at", Type: "timestamp", Kind: "clustering", Position: 1, Order: "desc"}},
		Regular: []cql.Column{{Name: "owner", Type: "text", Kind: "static"}, {Name: "tags", Type: "frozen<list<text>>", Kind: "regular"},
			{Name: "attrs", Type: "map<text, int>", Kind: "regular"}}}
	got := createTableDDL("global", src)
	// Names are always quoted (cql.Quote): case and reserved words survive.
	want := `CREATE TABLE IF NOT EXISTS "global"."history" ("member_id" bigint, "Region" text, "title_id" bigint, "watched_at" timestamp, ` +
		`"owner" text static, "tags" frozen<list<text>>, "attrs" map<text, int>, PRIMARY KEY (("member_id", "Region"), "title_id", "watched_at")) ` +
		`WITH CLUSTERING ORDER BY ("title_id" ASC, "watched_at" DESC)`
	if got != want {
		t.Fatalf("DDL\n got %s\nwant %s", got, want)
	}
	simple := &cql.Table{Keyspace: "island", Name: "kv", PartitionKey: []cql.Column{{Name: "k", Type: "int"}}, Regular: []cql.Column{{Name: "v", Type: "text"}}}
	if got, want := createTableDDL("global", simple), `CREATE TABLE IF NOT EXISTS "global"."kv" ("k" int, "v" text, PRIMARY KEY (("k")))`; got != want {
		t.Fatalf("DDL\n got %s\nwant %s", got, want)
	}
}
