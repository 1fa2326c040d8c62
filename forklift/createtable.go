package forklift

import (
	"context"
	"fmt"
	"strings"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
)

// createTableDDL is the CREATE TABLE of src's schema in keyspace ks: every column with its type
// as system_schema spells it, static columns marked, the partition key, the clustering columns
// in order and their clustering order. Table options (compaction, default TTL, …) are the
// destination's defaults; user-defined types must already exist in ks.
func createTableDDL(ks string, src *cql.Table) string {
	var cols, pk, ck, order []string
	for _, c := range src.PartitionKey {
		cols = append(cols, cql.Quote(c.Name)+" "+c.Type)
		pk = append(pk, cql.Quote(c.Name))
	}
	for _, c := range src.Clustering {
		cols = append(cols, cql.Quote(c.Name)+" "+c.Type)
		ck = append(ck, cql.Quote(c.Name))
		dir := "ASC"
		if strings.EqualFold(c.Order, "desc") {
			dir = "DESC"
		}
		order = append(order, cql.Quote(c.Name)+" "+dir)
	}
	for _, c := range src.Regular {
		col := cql.Quote(c.Name) + " " + c.Type
		if c.Kind == "static" {
			col += " static"
		}
		cols = append(cols, col)
	}
	key := "((" + strings.Join(pk, ", ") + ")"
	if len(ck) > 0 {
		key += ", " + strings.Join(ck, ", ")
	}
	ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY %s))", cql.QuoteTable(ks, src.Name), strings.Join(cols, ", "), key)
	if len(order) > 0 {
		ddl += " WITH CLUSTERING ORDER BY (" + strings.Join(order, ", ") + ")"
	}
	return ddl
}

// createDestinationTable creates the destination table of tc from the source's schema
// (Config.CreateTables, --create-table) and waits for the schema to agree.
func createDestinationTable(ctx context.Context, dst *gocql.Session, tc TableConfig, src *cql.Table) error {
	ddl := createTableDDL(tc.DestKeyspace(), src)
	if err := dst.Query(ddl).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("forklift: create_tables: %s: %w", ddl, err)
	}
	if err := dst.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("forklift: create_tables: waiting for schema agreement after creating %s.%s: %w", tc.DestKeyspace(), tc.Table, err)
	}
	return nil
}
